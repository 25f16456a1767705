"""pyovsdb-server as a daemon: remotes (ptcp, pssl), inactivity probes, unixctl, locking.

Stock clients (ovs-vsctl, ovsdb-client, ovs-appctl, ovsdb-tool) drive our server
over real sockets; where Open vSwitch's behaviour is the question, the same
steps run against ovsdb-server and the outputs are compared.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from interop.conftest import requires_ovs
from interop.harness import OvsdbServer, ours_command

pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_pki(folder):
    """A CA, a server and a client certificate signed by it (openssl)."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=pyvswitch test CA")
    for who in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}-key.pem", "-out", f"{who}.csr",
            "-subj", f"/CN={who}")
        run("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-out", f"{who}.pem", "-days", "2")
    return {k: os.path.join(folder, f) for k, f in
            [("ca", "ca.pem"), ("skey", "server-key.pem"), ("scert", "server.pem"),
             ("ckey", "client-key.pem"), ("ccert", "client.pem")]}


def started(server_impl, folder, remotes, extra=()):
    s = OvsdbServer(server_impl, folder, remotes=remotes, extra_args=extra)
    return s.start()


@pytest.fixture
def servers():
    running = []
    yield running
    for s in running:
        s.stop()


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_ptcp_remote_serves_stock_clients(short_tmp, servers, impl):
    port = free_port()
    s = started(impl, os.path.join(short_tmp, impl), [f"punix:{short_tmp}/{impl}/db.sock",
                                                      f"ptcp:{port}:127.0.0.1"])
    servers.append(s)
    db = f"tcp:127.0.0.1:{port}"
    assert s.run("ovs-vsctl", f"--db={db}", "--no-wait", "init").returncode == 0
    assert s.run("ovs-vsctl", f"--db={db}", "--no-wait", "add-br", "br0").returncode == 0
    out = s.run("ovsdb-client", "dump", db, "Open_vSwitch", "Bridge", "name")
    assert out.returncode == 0 and "br0" in out.stdout


def test_pssl_remote_with_certificates(short_tmp, servers):
    pki = make_pki(short_tmp)
    port = free_port()
    s = started("ours", os.path.join(short_tmp, "ours"), [f"punix:{short_tmp}/ours/db.sock",
                                                         f"pssl:{port}:127.0.0.1"],
                extra=[f"--private-key={pki['skey']}", f"--certificate={pki['scert']}",
                       f"--ca-cert={pki['ca']}"])
    servers.append(s)
    ssl_args = [f"--private-key={pki['ckey']}", f"--certificate={pki['ccert']}", f"--ca-cert={pki['ca']}"]
    db = f"ssl:127.0.0.1:{port}"
    r = s.run("ovs-vsctl", f"--db={db}", *ssl_args, "--no-wait", "init")
    assert r.returncode == 0, r.stderr
    r = s.run("ovs-vsctl", f"--db={db}", *ssl_args, "--no-wait", "add-br", "brs")
    assert r.returncode == 0, r.stderr
    r = s.run("ovsdb-client", *ssl_args, "list-dbs", db)
    assert r.stdout.split() == ["Open_vSwitch", "_Server"]
    # The same data is visible over the unix socket: one database behind both remotes.
    assert s.vsctl("list-br").stdout.split() == ["brs"]


def test_inactivity_probe_on_tcp(short_tmp, servers):
    port = free_port()
    s = started("ours", os.path.join(short_tmp, "ours"), [f"punix:{short_tmp}/ours/db.sock",
                                                         f"ptcp:{port}:127.0.0.1"])
    servers.append(s)
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(8)
    t0 = time.monotonic()
    data = c.recv(4096)
    assert json.loads(data) == {"id": "echo", "method": "echo", "params": []}
    assert 3.5 < time.monotonic() - t0 < 7.5
    # Not answering gets the connection dropped after another interval.
    c.settimeout(8)
    assert c.recv(4096) == b""
    assert 8 < time.monotonic() - t0 < 14
    # A client that answers stays connected.
    c2 = socket.create_connection(("127.0.0.1", port))
    c2.settimeout(8)
    req = json.loads(c2.recv(4096))
    c2.sendall(json.dumps({"id": req["id"], "result": [], "error": None}).encode())
    c2.sendall(json.dumps({"id": 5, "method": "list_dbs", "params": []}).encode())
    assert json.loads(c2.recv(4096))["result"] == ["Open_vSwitch", "_Server"]
    c2.close()


def appctl(s, *args):
    return s.run("ovs-appctl", "-t", "ovsdb-server", *args)


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_unixctl_remotes_and_dbs(short_tmp, servers, impl):
    folder = os.path.join(short_tmp, impl)
    s = started(impl, folder, [f"punix:{folder}/db.sock"])
    servers.append(s)
    assert appctl(s, "ovsdb-server/list-dbs").stdout == "Open_vSwitch\n_Server\n"
    extra = f"punix:{folder}/extra.sock"
    assert appctl(s, "ovsdb-server/add-remote", extra).returncode == 0
    assert appctl(s, "ovsdb-server/list-remotes").stdout == f"punix:{folder}/db.sock\n{extra}\n"
    r = s.run("ovsdb-client", "list-dbs", f"unix:{folder}/extra.sock")
    assert r.stdout.split() == ["Open_vSwitch", "_Server"]
    assert appctl(s, "ovsdb-server/remove-remote", extra).returncode == 0
    assert appctl(s, "ovsdb-server/list-remotes").stdout == f"punix:{folder}/db.sock\n"
    r = appctl(s, "ovsdb-server/remove-remote", extra)
    assert r.returncode == 2 and "no such remote" in r.stderr
    r = appctl(s, "nosuch/command")
    assert r.returncode == 2 and '"nosuch/command" is not a valid command' in r.stderr


def test_online_compaction_keeps_data_and_file_readable(short_tmp, servers):
    s = started("ours", os.path.join(short_tmp, "ours"), None)
    servers.append(s)
    s.vsctl("--no-wait", "init", check=True)
    for i in range(40):
        s.vsctl("--no-wait", "set", "Open_vSwitch", ".", f"external_ids:k={i}", check=True)
    before = os.path.getsize(s.db)
    n_before = s.run("ovsdb-tool", "show-log", s.db).stdout.count("record ")
    assert appctl(s, "ovsdb-server/compact").returncode == 0
    assert os.path.getsize(s.db) < before
    log = s.run("ovsdb-tool", "show-log", s.db).stdout
    assert log.count("record ") == 2 < n_before and "compacting database online" in log
    # Appends continue after compaction, and Open vSwitch reads the result.
    s.vsctl("--no-wait", "add-br", "brc", check=True)
    s.stop()
    q = s.run("ovsdb-tool", "query", s.db,
              '["Open_vSwitch",{"op":"select","table":"Open_vSwitch","where":[],"columns":["external_ids"]}]')
    assert '["k","39"]' in q.stdout
    ref = OvsdbServer("ref", s.folder, create=False).start()
    try:
        assert ref.vsctl("list-br").stdout.split() == ["brc"]
    finally:
        ref.stop()


def test_second_server_on_same_database_is_refused(short_tmp, servers):
    s = started("ours", os.path.join(short_tmp, "ours"), None)
    servers.append(s)
    r = subprocess.run(ours_command() + [f"--remote=punix:{s.folder}/other.sock", s.db], env=s.env,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "failed to lock lockfile" in r.stderr
    # And Open vSwitch's own tools see our lock too.
    r = s.run("ovsdb-tool", "transact", s.db, '["Open_vSwitch"]')
    assert r.returncode != 0 and "lock" in r.stderr


def test_detach_pidfile_exit(short_tmp):
    folder = os.path.join(short_tmp, "d")
    s = OvsdbServer("ours", folder)
    r = subprocess.run(s.command() + ["--detach"], env=s.env, cwd=folder, capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    # --detach returns only once the server answers.
    pid = int(open(os.path.join(folder, "ovsdb-server.pid")).read())
    assert os.path.exists(os.path.join(folder, f"ovsdb-server.{pid}.ctl"))
    assert s.run("ovsdb-client", "list-dbs", s.remote).returncode == 0
    assert appctl(s, "version").stdout.startswith("ovsdb-server (pyvswitch)")
    assert appctl(s, "exit").returncode == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(os.path.join(folder, "ovsdb-server.pid")):
        time.sleep(0.05)
    assert not os.path.exists(os.path.join(folder, "ovsdb-server.pid"))
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.05)


def test_memory_show(short_tmp, servers):
    s = started("ours", os.path.join(short_tmp, "ours"), None)
    servers.append(s)
    s.vsctl("--no-wait", "init", check=True)
    out = appctl(s, "memory/show").stdout
    assert "sessions:" in out and "cells:" in out
