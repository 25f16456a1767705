"""Start and stop OVSDB servers (ours or Open vSwitch's) for tests and benchmarks.

`OvsdbServer(impl, folder)` creates `folder/conf.db` with Open vSwitch's
`ovsdb-tool create` (the vswitch schema we ship), starts the server on
`punix:folder/db.sock` with a pidfile and log file in `folder`, and waits
until the socket answers.  `impl` is "ours" or "ref".  `stop()` sends
SIGTERM to the pid it started (never anything else) and waits.

Environment for stock clients: `server.env` has OVS_RUNDIR/OVS_DBDIR/
OVS_LOGDIR pointing at the folder, so `ovs-vsctl` and `ovs-appctl -t
ovsdb-server` find this server.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(ROOT, "ovsdb_server", "schemas", "vswitch.ovsschema")


def have_ovs() -> bool:
    return all(shutil.which(p) for p in ("ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovsdb-client"))


def ours_command() -> list[str]:
    return [sys.executable, "-W", "ignore", "-m", "ovsdb_server.server"]


class OvsdbServer:
    def __init__(self, impl: str, folder: str, *, extra_args=(), create=True, remotes=None):
        self.impl = impl
        self.folder = os.path.abspath(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.db = os.path.join(self.folder, "conf.db")
        self.sock = os.path.join(self.folder, "db.sock")
        self.remote = f"unix:{self.sock}"
        self.env = dict(os.environ, OVS_RUNDIR=self.folder, OVS_DBDIR=self.folder, OVS_LOGDIR=self.folder,
                        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.extra_args = list(extra_args)
        self.remotes = remotes or [f"punix:{self.sock}"]
        self.proc = None
        if create and not os.path.exists(self.db):
            subprocess.run(["ovsdb-tool", "create", self.db, SCHEMA], check=True)

    def command(self) -> list[str]:
        base = ours_command() if self.impl == "ours" else ["ovsdb-server"]
        return base + [f"--remote={r}" for r in self.remotes] + [
            "--pidfile", "--log-file", *self.extra_args, self.db]

    def start(self, timeout=10.0) -> "OvsdbServer":
        self.proc = subprocess.Popen(self.command(), env=self.env, cwd=self.folder,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.folder, "stderr"), "ab"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.impl} ovsdb-server exited with {self.proc.returncode}: "
                                   + open(os.path.join(self.folder, "stderr")).read())
            try:
                rpc(self.sock, "list_dbs", [])
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.impl} ovsdb-server did not start")

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self):
        self.stop(signal.SIGKILL)

    def run(self, *argv, check=False, timeout=20, input=None):
        return subprocess.run(list(argv), env=self.env, cwd=self.folder, capture_output=True, text=True,
                              timeout=timeout, check=check, input=input)

    def vsctl(self, *args, **kw):
        return self.run("ovs-vsctl", f"--db={self.remote}", *args, **kw)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Client:
    """A raw JSON-RPC client over a Unix socket (blocking, for tests)."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = ""
        self.notifications = []
        self.next_id = 0
        self.dec = json.JSONDecoder()

    def send(self, msg):
        self.sock.sendall(json.dumps(msg).encode())

    def recv(self):
        while True:
            text = self.buf.lstrip()
            if text:
                try:
                    obj, end = self.dec.raw_decode(text)
                    self.buf = text[end:]
                    return obj
                except ValueError:
                    pass
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError("connection closed")
            self.buf += data.decode()

    def call(self, method, params):
        id_ = self.next_id
        self.next_id += 1
        self.send({"id": id_, "method": method, "params": params})
        while True:
            msg = self.recv()
            if msg.get("id") == id_ and "method" not in msg:
                return msg
            if msg.get("method") == "echo" and msg.get("id") is not None:
                self.send({"id": msg["id"], "result": msg["params"], "error": None})
                continue
            self.notifications.append(msg)

    def close(self):
        self.sock.close()


def rpc(path, method, params):
    c = Client(path, timeout=2.0)
    try:
        return c.call(method, params)
    finally:
        c.close()
