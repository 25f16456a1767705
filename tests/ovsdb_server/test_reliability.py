"""Reliability of our server: crashes, torn files, file compatibility, slow clients.

(a) SIGKILL at random moments while a client commits: every acknowledged
    transaction survives and `ovsdb-tool show-log` accepts the file.
(b) A torn last record (every offset): the server starts with the earlier
    data and its next commit leaves a file ovsdb-tool accepts.
(c) Files round-trip between our server and Open vSwitch's (incl. online
    compaction on either side) with identical `ovsdb-client dump` output.
(d) A monitor client that never reads keeps the server's memory bounded,
    others are still served, and its eventual updates are consistent.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import socket
import tempfile
import threading
import time

import pytest

from interop.harness import Client, OvsdbServer, have_ovs

pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs,
              pytest.mark.skipif(not have_ovs(), reason="Open vSwitch binaries not installed")]


@pytest.fixture
def folder():
    d = tempfile.mkdtemp(prefix="rel", dir="/tmp")       # short: sun_path is 108 bytes
    servers = []
    yield d, servers
    for s in servers:
        s.stop()
    shutil.rmtree(d, ignore_errors=True)


def start(servers, impl, path, **kw):
    s = OvsdbServer(impl, path, **kw).start()
    servers.append(s)
    return s


def transact(sock, *ops):
    c = Client(sock)
    try:
        return c.call("transact", ["Open_vSwitch", *ops])
    finally:
        c.close()


def show_log_ok(server):
    r = server.run("ovsdb-tool", "show-log", server.db)
    assert r.returncode == 0, r.stderr
    return r.stdout


def counters(sock):
    r = transact(sock, {"op": "select", "table": "Queue", "where": [], "columns": ["external_ids"]})
    return {int(dict(map(tuple, row["external_ids"][1]))["n"]) for row in r["result"][0]["rows"]}


def insert_counter(n):
    return {"op": "insert", "table": "Queue", "row": {"external_ids": ["map", [["n", str(n)]]]}}


# -- (a) kill -9 in a loop ---------------------------------------------------------

def test_kill9_keeps_acknowledged_transactions(folder):
    path, servers = folder
    acked = set()
    n = 0
    rng = random.Random(7)
    for _round in range(5):
        server = start(servers, "ours", path)
        stop = threading.Event()

        def commit_loop():
            nonlocal n
            try:
                c = Client(server.sock, timeout=2)
                while not stop.is_set():
                    n += 1
                    reply = c.call("transact", ["Open_vSwitch", insert_counter(n)])
                    if reply.get("error") is None and "error" not in reply["result"][0]:
                        acked.add(n)
            except (OSError, EOFError, ValueError):
                pass
        t = threading.Thread(target=commit_loop)
        t.start()
        time.sleep(rng.uniform(0.05, 0.4))
        server.kill9()
        stop.set()
        t.join(5)
        show_log_ok(server)
        server = start(servers, "ours", path)
        missing = acked - counters(server.sock)
        assert not missing, f"acknowledged but lost: {sorted(missing)[:10]}"
        server.stop()
        show_log_ok(server)
    assert len(acked) > 20


# -- (b) torn tails ------------------------------------------------------------------

def test_torn_tail_at_every_offset(folder):
    path, servers = folder
    server = start(servers, "ours", path)
    for i in range(3):
        transact(server.sock, insert_counter(i))
    server.stop()
    data = open(server.db, "rb").read()
    last = data.rindex(b"OVSDB JSON ", 0, len(data) - 1)
    step = max(1, (len(data) - last) // 40)
    for cut in list(range(last, len(data), step)) + [len(data) - 1]:
        with open(server.db, "wb") as f:
            f.write(data[:cut])
        s = start(servers, "ours", path)
        assert counters(s.sock) == {0, 1}, cut
        assert transact(s.sock, insert_counter(9))["result"][0].get("uuid")
        s.stop()
        show_log_ok(s)
        assert counters_offline(s) == {0, 1, 9}


def counters_offline(server):
    r = server.run("ovsdb-tool", "query", server.db, json.dumps(
        ["Open_vSwitch", {"op": "select", "table": "Queue", "where": [], "columns": ["external_ids"]}]))
    rows = json.loads(r.stdout)[0]["rows"]
    return {int(dict(map(tuple, row["external_ids"][1]))["n"]) for row in rows}


# -- (c) file round trip --------------------------------------------------------------

def populate(server):
    assert server.vsctl("--no-wait", "init").returncode == 0
    for br in ("br0", "br1"):
        assert server.vsctl("--no-wait", "add-br", br, "--", "set", "Bridge", br, "external_ids:k=v").returncode == 0
        for p in range(2):
            assert server.vsctl("--no-wait", "add-port", br, f"{br}p{p}", "tag=5").returncode == 0
    assert server.vsctl("--no-wait", "del-port", "br1", "br1p0").returncode == 0


def dump(server):
    r = server.run("ovsdb-client", "dump", server.remote, check=True)
    return r.stdout


def appctl_compact(server):
    r = server.run("ovs-appctl", "-t", ctl_path(server), "ovsdb-server/compact")
    assert r.returncode == 0, r.stderr


def ctl_path(server):
    pid = open(os.path.join(server.folder, "ovsdb-server.pid")).read().strip()
    return os.path.join(server.folder, f"ovsdb-server.{pid}.ctl")


@pytest.mark.parametrize("writer, reader", [("ours", "ref"), ("ref", "ours")])
@pytest.mark.parametrize("compact", [False, True])
def test_file_round_trip(folder, writer, reader, compact):
    path, servers = folder
    w = start(servers, writer, path)
    populate(w)
    if compact:
        appctl_compact(w)
        populate_more = w.vsctl("--no-wait", "set", "Bridge", "br0", "external_ids:after=compact")
        assert populate_more.returncode == 0
    expected = dump(w)
    w.stop()
    show_log_ok(w)
    r = start(servers, reader, path, create=False)
    assert dump(r) == expected
    r.stop()


# -- (d) a monitor client that never reads -----------------------------------------------

def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_never_reading_monitor_stays_bounded(folder):
    path, servers = folder
    server = start(servers, "ours", path)
    transact(server.sock, {"op": "insert", "table": "Open_vSwitch", "row": {}})
    slow = socket.socket(socket.AF_UNIX)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(server.sock)
    tables = {t: [{}] for t in ("Open_vSwitch", "Bridge", "Port", "Interface", "Queue")}
    slow.sendall(json.dumps({"id": 1, "method": "monitor_cond", "params": ["Open_vSwitch", "m", tables]}).encode())
    time.sleep(0.3)
    base = rss_kb(server.proc.pid)
    writer = Client(server.sock)
    big = "x" * 2000
    for i in range(3000):
        ops = [{"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["next_cfg", "+=", 1]]},
               {"op": "update", "table": "Open_vSwitch", "where": [],
                "row": {"external_ids": ["map", [["n", str(i)], ["pad", big + str(i)]]]}}]
        if i % 100 == 0:
            ops.append(insert_counter(i))
        reply = writer.call("transact", ["Open_vSwitch", *ops])
        assert "error" not in reply["result"][-1], reply
    grown = rss_kb(server.proc.pid) - base
    assert grown < 50 * 1024, f"RSS grew by {grown} kB"
    other = Client(server.sock)
    assert other.call("list_dbs", [])["result"]
    # Now read everything: initial snapshot + merged updates == a fresh dump.
    slow.setblocking(True)
    slow.settimeout(5)
    dec = json.JSONDecoder()
    buf, state, got_reply = "", {}, False
    deadline = time.monotonic() + 30
    final_cfg = 3000
    while time.monotonic() < deadline:
        try:
            data = slow.recv(1 << 20)
        except socket.timeout:
            break
        if not data:
            break
        buf += data.decode()
        while True:
            text = buf.lstrip()
            try:
                msg, end = dec.raw_decode(text)
            except ValueError:
                break
            buf = text[end:]
            if msg.get("id") == 1:
                apply_update2(state, msg["result"], initial=True)
                got_reply = True
            elif msg.get("method") == "update2":
                apply_update2(state, msg["params"][1])
        ovs = [r for r in state.get("Open_vSwitch", {}).values()]
        if got_reply and ovs and ovs[0].get("next_cfg") == final_cfg:
            break
    assert got_reply
    fresh = {}
    for t in tables:
        rows = transact(server.sock, {"op": "select", "table": t, "where": []})["result"][0]["rows"]
        fresh[t] = {r["_uuid"][1]: r for r in rows}
    for t in tables:
        assert set(state.get(t, {})) == set(fresh[t]), t
    [(u, ovs)] = state["Open_vSwitch"].items()
    assert ovs["next_cfg"] == fresh["Open_vSwitch"][u]["next_cfg"]
    assert ovs["external_ids"] == fresh["Open_vSwitch"][u]["external_ids"]
    slow.close()
    writer.close()
    other.close()


def apply_update2(state, updates, initial=False):
    """Apply table-updates2 to {table: {uuid: row}}; diffs only matter for the
    columns this test checks (scalars and maps of one key set replaced)."""
    for table, rows in updates.items():
        t = state.setdefault(table, {})
        for uuid, change in rows.items():
            if "initial" in change or "insert" in change:
                t[uuid] = dict(change.get("initial") or change.get("insert") or {})
            elif "delete" in change:
                t.pop(uuid, None)
            elif "modify" in change:
                row = t.setdefault(uuid, {})
                for col, diff in change["modify"].items():
                    if col == "external_ids":
                        old = dict(map(tuple, row.get(col, ["map", []])[1]))
                        for k, v in diff[1]:
                            if old.get(k) == v:
                                del old[k]
                            else:
                                old[k] = v
                        row[col] = ["map", sorted([k, v] for k, v in old.items())]
                    else:
                        row[col] = diff
