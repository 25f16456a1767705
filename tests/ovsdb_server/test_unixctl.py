"""The unixctl server: wire framing in-process, then stock ovs-appctl against a
tiny daemon, then the same requests against a real ovsdb-server (differential)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import trio

from ovsdb_server import unixctl
from ovsdb_server.unixctl import UnixctlError, UnixctlServer

from .test_daemon import TinyDaemon, appctl, needs_appctl, rundir, tiny, wait_for  # noqa: F401


# ---------------------------------------------------------------------------
# In-process: the exact bytes on the socket

@pytest.fixture
def sockpath():
    d = tempfile.mkdtemp(prefix="pyvs-", dir="/tmp")
    yield os.path.join(d, "t.ctl")
    shutil.rmtree(d, ignore_errors=True)


def make_server():
    s = UnixctlServer("tinyd")

    def fail(args):
        raise UnixctlError("it broke")

    async def slow(args):
        await trio.sleep(float(args[0]))
        return "slow done"

    s.register("echo", "ARG...", 1, 2, lambda a: " ".join(a))
    s.register("fail", "", 0, 0, fail)
    s.register("slow", "SECS", 1, 1, slow)
    s.register("empty", "", 0, 0, lambda a: None)
    s.register("crash", "", 0, 0, lambda a: 1 / 0)
    return s


async def connect(path) -> trio.SocketStream:
    return await trio.open_unix_socket(path)


async def exchange(stream, data: bytes, want: int = 1) -> list[bytes]:
    """Send `data`, return the raw replies (one JSON object each)."""
    await stream.send_all(data)
    framer_buf, out = b"", []
    with trio.fail_after(5):
        while len(out) < want:
            chunk = await stream.receive_some(65536)
            assert chunk, "connection closed"
            framer_buf += chunk
            dec = json.JSONDecoder()
            text = framer_buf.decode()
            pos = 0
            while pos < len(text):
                _, end = dec.raw_decode(text, pos)
                out.append(text[pos:end].encode())
                pos = end
            framer_buf = b""
    return out


async def test_reply_framing_matches_ovs(sockpath):
    server = make_server()
    async with trio.open_nursery() as nursery:
        assert await nursery.start(server.serve, sockpath) == sockpath
        s = await connect(sockpath)
        # Byte-for-byte the shapes a real ovsdb-server sends (captured from 3.1).
        assert await exchange(s, b'{"id":0,"method":"version","params":[]}') == [
            b'{"id":0,"result":"tinyd (pyvswitch) 0.1.0\\n","error":null}']
        assert await exchange(s, b'{"method":"nosuch","params":[],"id":"abc"}') == [
            b'{"id":"abc","error":"\\"nosuch\\" is not a valid command (use \\"list-commands\\" '
            b'to see a list of valid commands)\\n"}']
        assert await exchange(s, b'{"method":"version","params":[1],"id":[1,2]}') == [
            b'{"id":[1,2],"error":"\\"version\\" command takes at most 0 arguments\\n"}']
        assert await exchange(s, b'{"method":"echo","params":[],"id":1}') == [
            b'{"id":1,"error":"\\"echo\\" command requires at least 1 arguments\\n"}']
        assert await exchange(s, b'{"method":"echo","params":["a",2],"id":1}') == [
            b'{"id":1,"error":"\\"echo\\" command has non-string argument\\n"}']
        assert await exchange(s, b'{"method":"empty","params":[],"id":2}') == [
            b'{"id":2,"result":"","error":null}']
        assert await exchange(s, b'{"method":"fail","params":[],"id":3}') == [
            b'{"id":3,"error":"it broke\\n"}']
        assert await exchange(s, b'{"method":"crash","params":[],"id":4}') == [
            b'{"id":4,"error":"crash: internal error: division by zero\\n"}']
        # Pipelined requests, split across writes, answered in order.
        await s.send_all(b'{"method":"slow","params":["0.05"],"id":5} {"method":"ec')
        assert await exchange(s, b'ho","params":["x","y"],"id":6}', want=2) == [
            b'{"id":5,"result":"slow done\\n","error":null}',
            b'{"id":6,"result":"x y\\n","error":null}']
        await s.aclose()
        nursery.cancel_scope.cancel()
    assert not os.path.exists(sockpath)             # removed on exit


@pytest.mark.parametrize("bad", [
    b'garbage',
    b'{"method":"version","params":[]}',             # notification: no id
    b'{"method":"version","params":[],"id":null}',
    b'{"id":5,"result":1}',                           # a reply
    b'{"method":"version","params":{},"id":3}',
    b'{"method":"version","params":[],"id":3,"extra":1}',
])
async def test_bad_message_closes_only_that_connection(sockpath, bad):
    server = make_server()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, sockpath)
        good = await connect(sockpath)
        s = await connect(sockpath)
        await s.send_all(bad)
        with trio.fail_after(5):
            assert await s.receive_some(100) == b""
        assert len(await exchange(good, b'{"id":0,"method":"version","params":[]}')) == 1
        nursery.cancel_scope.cancel()


async def test_concurrent_connections(sockpath):
    server = make_server()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, sockpath)
        slow, fast = await connect(sockpath), await connect(sockpath)
        await slow.send_all(b'{"id":0,"method":"slow","params":["30"]}')
        with trio.fail_after(2):                    # not stuck behind the slow one
            assert await exchange(fast, b'{"id":1,"method":"echo","params":["hi"]}') == [
                b'{"id":1,"result":"hi\\n","error":null}']
        nursery.cancel_scope.cancel()


async def test_stale_socket_replaced_and_exit_reply_delivered(sockpath):
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sockpath)                            # a dead daemon's leftover
    stale.close()
    server = make_server()
    async with trio.open_nursery() as nursery:
        stop = unixctl.ExitController(nursery.cancel_scope)
        server.register("exit", "", 0, 0, stop.exit)
        await nursery.start(server.serve, sockpath)
        s = await connect(sockpath)
        assert await exchange(s, b'{"id":7,"method":"exit","params":[]}') == [
            b'{"id":7,"result":"","error":null}']   # answered although exit cancels us
    assert stop.signum is None
    assert not os.path.exists(sockpath)


def test_list_commands_format():
    s = make_server()
    s.register("ovsdb-server/connect-active-ovsdb-server", "", 0, 0, lambda a: "")
    text = trio.run(s.execute, "list-commands", [])[1]
    lines = text.split("\n")
    assert lines[0] == "The available commands are:"
    assert "  echo                    ARG..." in lines
    assert "  version                 " in lines                     # trailing space kept
    assert "  ovsdb-server/connect-active-ovsdb-server " in lines   # long names overflow
    assert lines[1:-1] == sorted(lines[1:-1]) and text.endswith("\n")


# ---------------------------------------------------------------------------
# Stock ovs-appctl against the tiny daemon

@needs_appctl
def test_appctl_by_name_and_by_path(tiny, rundir):
    p = tiny.start("--pidfile")
    r = appctl(rundir, "-t", "tinyd", "version")
    assert (r.returncode, r.stdout, r.stderr) == (0, "tinyd (pyvswitch) 0.1.0\n", "")
    r = appctl(rundir, "-t", str(rundir / f"tinyd.{p.pid}.ctl"), "tiny/echo", "a b", "c")
    assert (r.returncode, r.stdout, r.stderr) == (0, "a b c\n", "")
    r = appctl(rundir, "-t", "tinyd", "list-commands")
    assert r.returncode == 0
    assert r.stdout.startswith("The available commands are:\n  exit                    \n"
                               "  list-commands           \n  tiny/echo               ARG...\n")
    assert "  vlog/set                {spec | PATTERN:destination:pattern}\n" in r.stdout
    for args, err in [
        (["nosuch"], '"nosuch" is not a valid command (use "list-commands" to see a list of valid commands)'),
        (["tiny/echo"], '"tiny/echo" command requires at least 1 arguments'),
        (["tiny/echo", "1", "2", "3", "4"], '"tiny/echo" command takes at most 3 arguments'),
        (["exit", "now"], '"exit" command takes at most 0 arguments'),
    ]:
        r = appctl(rundir, "-t", "tinyd", *args)
        assert (r.returncode, r.stdout, r.stderr) == (
            2, "", f"{err}\novs-appctl: tinyd: server returned an error\n")
    r = appctl(rundir, "-t", "tinyd", "exit")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert p.wait(timeout=5) == 0
    assert not tiny.pidfile.exists()


# ---------------------------------------------------------------------------
# Differential: the same ovs-appctl calls against a real ovsdb-server

@pytest.fixture
def real_ovsdb_server():
    if not (shutil.which("ovsdb-server") and shutil.which("ovsdb-tool") and shutil.which("ovs-appctl")):
        pytest.skip("needs Open vSwitch's ovsdb-server, ovsdb-tool and ovs-appctl")
    schema = Path("/usr/share/openvswitch/vswitch.ovsschema")
    if not schema.exists():
        pytest.skip("needs vswitch.ovsschema")
    d = Path(tempfile.mkdtemp(prefix="ovs-", dir="/tmp"))
    subprocess.run(["ovsdb-tool", "create", str(d / "conf.db"), str(schema)], check=True)
    env = dict(os.environ, OVS_RUNDIR=str(d), OVS_LOGDIR=str(d), OVS_DBDIR=str(d))
    p = subprocess.Popen(["ovsdb-server", "--pidfile", "--remote=punix:" + str(d / "db.sock"),
                          str(d / "conf.db")], env=env, cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: (d / f"ovsdb-server.{p.pid}.ctl").exists())
        yield d
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=5)
        shutil.rmtree(d, ignore_errors=True)


DIFF_CALLS = [
    ["nosuch"], ["help"], ["version", "x"], ["list-commands", "x"], ["exit", "x"],
    ["ovsdb-server/add-db"], ["ovsdb-server/tlog-set", "a", "b", "c"],
    ["vlog/set", "nosuch"], ["vlog/set", "file:dbg:console"], ["vlog/set", "dbg:info"],
    ["vlog/set", "vlog:jsonrpc"], ["vlog/set", "PATTERN"], ["vlog/set", "PATTERN:nosuch:x"],
    ["vlog/set", "FACILITY:xx"], ["vlog/set", "jsonrpc:file:dbg", "bad"],
    ["vlog/reopen"], ["vlog/list", "x"], ["vlog/set", "jsonrpc:file:dbg", "unixctl:console:warn"],
    ["vlog/list-pattern"], ["vlog/close"],
]


@needs_appctl
def test_differential_against_real_ovsdb_server(real_ovsdb_server, rundir):
    mine = TinyDaemon(rundir, program="ovsdb-server")
    try:
        mine.start("--pidfile", "--mimic")
        for call in DIFF_CALLS:
            want = appctl(real_ovsdb_server, "-t", "ovsdb-server", *call)
            got = appctl(rundir, "-t", "ovsdb-server", *call)
            assert (got.returncode, got.stdout, got.stderr) == (
                want.returncode, want.stdout, want.stderr), call
        # The rows for modules both daemons have agree after the same vlog/set calls.
        want = appctl(real_ovsdb_server, "-t", "ovsdb-server", "vlog/list").stdout.splitlines()
        got = appctl(rundir, "-t", "ovsdb-server", "vlog/list").stdout.splitlines()
        assert got[:2] == want[:2]
        rows = [line for line in got[2:] if line.split()[0] in ("jsonrpc", "unixctl", "vlog", "reconnect")]
        assert len(rows) == 4 and all(row in want for row in rows)
        # vlog/set without arguments turns everything up to dbg.
        for target in (real_ovsdb_server, rundir):
            assert appctl(target, "-t", "ovsdb-server", "vlog/set").returncode == 0
        want = appctl(real_ovsdb_server, "-t", "ovsdb-server", "vlog/list").stdout.splitlines()
        got = appctl(rundir, "-t", "ovsdb-server", "vlog/list").stdout.splitlines()
        assert "vlog               DBG        DBG        DBG" in want
        assert {row for row in got[2:] if not row.startswith("tinyd ")} <= set(want)
        for call in (["exit"],):
            want = appctl(real_ovsdb_server, "-t", "ovsdb-server", *call)
            got = appctl(rundir, "-t", "ovsdb-server", *call)
            assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)
    finally:
        mine.close()


@needs_appctl
def test_differential_raw_bytes(real_ovsdb_server, rundir):
    """The same raw requests give byte-identical replies (error shapes, empty results)."""
    mine = TinyDaemon(rundir, program="ovsdb-server")
    try:
        p = mine.start("--pidfile", "--mimic")
        real_pid = int((real_ovsdb_server / "ovsdb-server.pid").read_text())
        paths = (str(real_ovsdb_server / f"ovsdb-server.{real_pid}.ctl"),
                 str(rundir / f"ovsdb-server.{p.pid}.ctl"))
        requests = [b'{"method":"nosuch","params":[],"id":"abc"}',
                    b'{"method":"vlog/set","params":[1],"id":3}',
                    b'{"method":"exit","params":["a"],"id":[1,2]}',
                    b'{"method":"vlog/set","params":["jsonrpc:file:info"],"id":3} '
                    b'{"method":"vlog/set","params":["x"],"id":4}']
        for req in requests:
            replies = []
            for path in paths:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(5)
                    s.connect(path)
                    s.sendall(req)
                    data = b""
                    while data.count(b'"id"') < req.count(b'"id"'):
                        data += s.recv(65536)
                    replies.append(data)
            assert replies[0] == replies[1], req
    finally:
        mine.close()
