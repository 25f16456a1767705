"""Real external clients driving our OVSDB server (issue 2).

Stock Open vSwitch 3.1 tools (ovs-vsctl, ovsdb-client, ovsdb-tool), python-ovs's
`Idl` and ovsdbapp talk to `pyovsdb-server` started by `interop.harness`.  Where
the exact output matters, the same steps run against Open vSwitch's own
ovsdb-server ("ref") and the two outputs are compared with UUIDs masked; the
expected texts written out below were captured from "ref" first.

No ovs-vswitchd runs here.  `FakeVswitchd` plays its part for the clients
that wait on it (ovs-vsctl without --no-wait, ovsdbapp): it holds the
`ovs_vswitchd` lock and, like the real daemon, answers every `next_cfg` bump
with `update` ops writing `cur_cfg` (and an `ofport` for each new Interface)
followed by `{"op":"assert","lock":"ovs_vswitchd"}`.

Every subprocess is started here and killed by its own Popen handle; every
server is stopped by the `start_server` fixture (interop/conftest.py).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from interop.conftest import requires_ovs
from interop.harness import SCHEMA, Client

pytestmark = [pytest.mark.slow, pytest.mark.needs_ovs, requires_ovs]

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
LOG_PREFIX_RE = re.compile(r"^\S+\|\d+\|", re.M)          # "2026-..Z|00002|" in OVS log lines


def mask(text: str) -> str:
    """UUIDs -> <uuid>, except the all-zero one (a standalone server's last_txn_id)."""
    return UUID_RE.sub(lambda m: m.group() if m.group() == ZERO_UUID else "<uuid>", text)


def mask_log(text: str) -> str:
    return LOG_PREFIX_RE.sub("", mask(text))


class Tail:
    """Collects a subprocess's stdout lines in a thread; `wait_for` polls with a deadline."""

    def __init__(self, proc):
        self.proc = proc
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate, timeout=5.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.text):
                return self.text
            time.sleep(0.02)
        return self.text

    def kill(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._thread.join(2)
        return self.text


def spawn(server, *argv) -> Tail:
    proc = subprocess.Popen(list(argv), env=server.env, cwd=server.folder, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return Tail(proc)


@pytest.fixture
def tails():
    started: list[Tail] = []
    yield started
    for t in started:
        t.kill()


def wait_until(predicate, timeout=5.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# ---------------------------------------------------------------------------
# A stand-in for ovs-vswitchd.

class FakeVswitchd:
    """Takes the `ovs_vswitchd` lock and acknowledges configuration like ovs-vswitchd.

    A raw JSON-RPC client in a thread: `monitor_cond` on Open_vSwitch
    (next_cfg, cur_cfg) and Interface (name, ofport); whenever next_cfg !=
    cur_cfg or an Interface has no ofport, one transaction of `update` ops
    plus the lock `assert`, as the real daemon sends.  `errors` collects any
    transaction error (the test asserts it stays empty).
    """

    MONITOR = {"Open_vSwitch": [{"columns": ["next_cfg", "cur_cfg"]}],
               "Interface": [{"columns": ["name", "ofport"]}]}

    def __init__(self, sock_path):
        self.client = Client(sock_path, timeout=5.0)
        self.rows: dict[str, dict[str, dict]] = {"Open_vSwitch": {}, "Interface": {}}
        self.errors: list = []
        self.n_txns = 0
        self.next_ofport = 1
        self.outstanding = None
        self.stopping = False
        locked = self.client.call("lock", ["ovs_vswitchd"])
        assert locked["result"] == {"locked": True}, locked
        reply = self.client.call("monitor_cond", ["Open_vSwitch", "fake-vswitchd", self.MONITOR])
        assert reply["error"] is None, reply
        self._apply(reply["result"])
        for note in self.client.notifications:        # anything that raced the reply
            self._handle(note)
        self.client.notifications.clear()
        self.client.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _apply(self, updates):
        for table, rows in updates.items():
            cache = self.rows[table]
            for uuid, change in rows.items():
                if "delete" in change:
                    cache.pop(uuid, None)
                elif "modify" in change:            # only scalar columns are monitored
                    cache.setdefault(uuid, {}).update(change["modify"])
                else:
                    cache[uuid] = dict(change.get("initial") or change.get("insert") or {})

    def _handle(self, msg):
        if msg.get("method") == "update2":
            self._apply(msg["params"][1])
        elif msg.get("method") == "echo":
            self.client.send({"id": msg["id"], "result": msg["params"], "error": None})
        elif "result" in msg or "error" in msg:
            if msg.get("id") == self.outstanding:
                self.outstanding = None
                results = msg.get("result") or [msg.get("error")]
                self.errors += [r for r in results if isinstance(r, dict) and "error" in r]
                if msg.get("error") is not None:
                    self.errors.append(msg["error"])

    def _reconcile(self):
        if self.outstanding is not None:
            return
        ops = []
        for uuid, row in self.rows["Open_vSwitch"].items():
            next_cfg = row.get("next_cfg", 0)
            if row.get("cur_cfg", 0) != next_cfg:
                ops.append({"op": "update", "table": "Open_vSwitch", "where": [["_uuid", "==", ["uuid", uuid]]],
                            "row": {"cur_cfg": next_cfg}})
        for uuid, row in self.rows["Interface"].items():
            if row.get("ofport", ["set", []]) == ["set", []]:
                ops.append({"op": "update", "table": "Interface", "where": [["_uuid", "==", ["uuid", uuid]]],
                            "row": {"ofport": self.next_ofport}})
                self.next_ofport += 1
        if not ops:
            return
        ops.append({"op": "assert", "lock": "ovs_vswitchd"})
        self.outstanding = f"vswitchd-{self.n_txns}"
        self.n_txns += 1
        self.client.send({"id": self.outstanding, "method": "transact", "params": ["Open_vSwitch", *ops]})

    def _loop(self):
        while not self.stopping:
            try:
                self._handle(self.client.recv())
            except (socket.timeout, TimeoutError):
                pass
            except (OSError, EOFError, ValueError):
                return
            self._reconcile()

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        self.client.close()


@pytest.fixture
def fake_vswitchd():
    started = []

    def start(server):
        fv = FakeVswitchd(server.sock)
        started.append(fv)
        return fv

    yield start
    for fv in started:
        fv.stop()


# ---------------------------------------------------------------------------
# ovs-vsctl

VSCTL_SCRIPT = [
    ("--no-wait", "init"),
    ("--no-wait", "add-br", "br0"),
    ("--no-wait", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=internal"),
    ("--no-wait", "add-port", "br0", "p2", "tag=10"),
    ("--no-wait", "set", "Port", "p1", "tag=101", "trunks=1,2,3"),
    ("--no-wait", "set", "Bridge", "br0", "external_ids:k1=v1", "other-config:hwaddr=00:11:22:33:44:55"),
    ("--no-wait", "add", "Port", "p1", "trunks", "4"),
    ("--no-wait", "remove", "Port", "p1", "trunks", "2"),
    ("list-br",),
    ("list-ports", "br0"),
    ("get", "Port", "p1", "tag", "trunks"),
    ("--columns=name,tag,trunks", "list", "Port", "p1"),
    ("--columns=name", "find", "Port", "tag=101"),
    ("--bare", "--columns=name", "find", "Port", "tag>5"),
    ("get", "Bridge", "br0", "external_ids:k1"),
    ("--no-wait", "add-br", "br0"),                                  # error, raised client-side
    ("--no-wait", "set", "Port", "p1", "tag=5000"),                  # constraint error
    ("--no-wait", "del-port", "br0", "p2"),
    ("--no-wait", "--may-exist", "add-br", "br1", "--", "set", "Bridge", "br1", "datapath_type=dummy"),
    ("--no-wait", "del-br", "br1"),
    ("show",),
    ("--columns=name", "list", "Interface"),
]


def run_vsctl_script(server):
    out = []
    for args in VSCTL_SCRIPT:
        r = server.vsctl(*args, timeout=10)
        stdout = mask(r.stdout)
        if {"show", "find", "list"} & set(args):    # rows come in hash (UUID) order: random
            stdout = "\n".join(sorted(stdout.splitlines()))
        out.append((args, r.returncode, stdout, mask_log(r.stderr)))
    return out


def test_vsctl_basics_match_reference(start_server):
    ours = run_vsctl_script(start_server("ours"))
    ref = run_vsctl_script(start_server("ref"))
    for o, r in zip(ours, ref):
        assert o == r
    results = {args: (rc, out, err) for args, rc, out, err in ours}
    assert results[("list-br",)] == (0, "br0\n", "")
    assert results[("list-ports", "br0")] == (0, "p1\np2\n", "")
    assert results[("get", "Port", "p1", "tag", "trunks")] == (0, "101\n[1, 3, 4]\n", "")
    assert results[("--bare", "--columns=name", "find", "Port", "tag>5")][1].split() == ["p1", "p2"]
    assert results[("get", "Bridge", "br0", "external_ids:k1")][1] == "v1\n"
    assert results[("--columns=name", "list", "Interface")][1].count("name") == 2     # br0, p1: p2 GC'd
    rc, _, err = results[("--no-wait", "set", "Port", "p1", "tag=5000")]
    assert rc == 1 and "5000 is not in the valid range" in err


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_vsctl_without_no_wait_times_out_without_vswitchd(start_server, impl):
    """Nobody writes cur_cfg, so ovs-vsctl waits until SIGALRM (shell rc 142), the change committed."""
    server = start_server(impl)
    assert server.vsctl("--no-wait", "init").returncode == 0
    r = server.vsctl("--timeout=1", "add-br", "br-late", timeout=10)
    assert r.returncode == -signal.SIGALRM, (r.returncode, r.stderr)
    assert "terminating with signal 14 (Alarm clock)" in r.stderr
    assert server.vsctl("list-br").stdout == "br-late\n"
    nxt = server.vsctl("get", "Open_vSwitch", ".", "next_cfg", "cur_cfg").stdout.split()
    assert nxt == ["1", "0"]


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_vsctl_waits_for_fake_vswitchd(start_server, fake_vswitchd, impl):
    server = start_server(impl)
    assert server.vsctl("--no-wait", "init").returncode == 0
    fv = fake_vswitchd(server)
    start = time.monotonic()
    r = server.vsctl("--timeout=5", "add-br", "br0", "--", "add-port", "br0", "p1", timeout=10)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < 3
    assert server.vsctl("get", "Open_vSwitch", ".", "next_cfg", "cur_cfg").stdout.split() == ["1", "1"]
    assert server.vsctl("--timeout=5", "set", "Port", "p1", "tag=7").returncode == 0
    ofports = server.vsctl("--bare", "--columns=ofport", "list", "Interface").stdout.split()
    assert sorted(ofports) == ["1", "2"]
    assert fv.errors == []


# ---------------------------------------------------------------------------
# ovsdb-client monitor, monitor-cond, monitor-cond-since

def run_monitors(server, tails):
    assert server.vsctl("--no-wait", "init", "--", "add-br", "brinit").returncode == 0
    remote = server.remote
    mons = {
        "monitor-json": spawn(server, "ovsdb-client", "--format=json", "monitor", remote, "Open_vSwitch",
                              "Bridge", "name,fail_mode"),
        "monitor-cond": spawn(server, "ovsdb-client", "monitor-cond", remote, "Open_vSwitch",
                              '[["name","!=","br1"]]', "Bridge", "name,fail_mode"),
        "monitor-cond-since": spawn(server, "ovsdb-client", "monitor-cond-since", remote, "Open_vSwitch",
                                    "[]", "Bridge", "name"),
    }
    tails.extend(mons.values())
    for name, t in mons.items():
        assert "brinit" in t.wait_for(lambda s: "brinit" in s), name
    for args in (("add-br", "br0"), ("add-br", "br1"), ("set-fail-mode", "br0", "secure"), ("del-br", "br1")):
        assert server.vsctl("--no-wait", *args).returncode == 0
    done = {
        "monitor-json": lambda s: s.count("\n") >= 5,
        "monitor-cond": lambda s: "secure" in s,
        "monitor-cond-since": lambda s: s.count("delete") >= 1,
    }
    out = {}
    for name, t in mons.items():
        t.wait_for(done[name])
        time.sleep(0.1)             # would anything more (wrongly) arrive?
        out[name] = mask(t.kill())
    return out


def test_ovsdb_client_monitors_match_reference(start_server, tails):
    ours = run_monitors(start_server("ours"), tails)
    ref = run_monitors(start_server("ref"), tails)
    assert ours == ref
    data = [row[1:] for line in ours["monitor-json"].splitlines() for row in json.loads(line)["data"]]
    empty = ["set", []]
    assert data == [["initial", "brinit", empty], ["insert", "br0", empty], ["insert", "br1", empty],
                    ["old", None, empty], ["new", "br0", "secure"], ["delete", "br1", empty]]
    assert "br1" not in ours["monitor-cond"]
    assert "secure" in ours["monitor-cond"]
    assert ours["monitor-cond-since"].startswith(
        "found: false, last_id: 00000000-0000-0000-0000-000000000000\n")
    assert "insert br1" in ours["monitor-cond-since"]
    assert ours["monitor-cond-since"].endswith("<uuid> delete\n")


# ---------------------------------------------------------------------------
# ovsdb-client lock / steal / unlock

def run_locks(server, tails):
    """A (detached, driven by ovs-appctl) locks; B waits; C steals; C dies; A unlocks."""
    a_out = os.path.join(server.folder, "a.out")
    pidfile = os.path.join(server.folder, "a.pid")
    with open(a_out, "w") as f:
        r = subprocess.run(["ovsdb-client", "--detach", "--no-chdir", f"--pidfile={pidfile}", "lock",
                            server.remote, "L"], env=server.env, cwd=server.folder, stdout=f,
                           stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode == 0
    pid = int(open(pidfile).read())
    ctl = os.path.join(server.folder, f"ovsdb-client.{pid}.ctl")

    def a_text():
        return open(a_out).read()

    try:
        assert wait_until(lambda: a_text() == '{"locked":true}\n'), a_text()
        b = spawn(server, "ovsdb-client", "lock", server.remote, "L")
        tails.append(b)
        b.wait_for(lambda s: s)
        c = spawn(server, "ovsdb-client", "steal", server.remote, "L")
        tails.append(c)
        c.wait_for(lambda s: s)
        wait_until(lambda: "stolen" in a_text())
        c_text = c.kill()                          # C's steal ends: A, still queued, gets it back
        wait_until(lambda: a_text().endswith('locked\n["L"]\n'))
        assert server.run("ovs-appctl", "-t", ctl, "unlock", "L").returncode == 0
        b.wait_for(lambda s: "locked\n" in s)
        wait_until(lambda: a_text().endswith("{}\n"))
        b_text = b.kill()
    finally:
        server.run("ovs-appctl", "-t", ctl, "exit")
        if not wait_until(lambda: not os.path.exists(pidfile), timeout=2):
            os.kill(pid, signal.SIGTERM)
    return a_text(), b_text, c_text


def test_ovsdb_client_locks_match_reference(start_server, tails):
    ours = run_locks(start_server("ours"), tails)
    ref = run_locks(start_server("ref"), tails)
    assert ours == ref
    assert ours == ('{"locked":true}\nstolen\n["L"]\nlocked\n["L"]\n{}\n',
                    '{"locked":false}\nlocked\n["L"]\n',
                    '{"locked":true}\n')


# ---------------------------------------------------------------------------
# ovsdb-client backup / restore, ovsdb-tool reading the backup

def normalized_dump(server):
    r = server.run("ovsdb-client", "dump", server.remote, "Open_vSwitch", timeout=10)
    assert r.returncode == 0, r.stderr
    return sorted(mask(r.stdout).splitlines())


def test_backup_restore_round_trip(start_server, short_tmp):
    src = start_server("ours", "src")
    assert src.vsctl("--no-wait", "init", "--", "add-br", "br0", "--", "set", "Bridge", "br0",
                     "external_ids:k=v", "--", "add-port", "br0", "p1", "tag=7", "trunks=1,2").returncode == 0
    assert src.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:a=b").returncode == 0
    backup = os.path.join(short_tmp, "backup.db")
    with open(backup, "w") as f:
        r = subprocess.run(["ovsdb-client", "backup", src.remote], stdout=f, stderr=subprocess.PIPE, text=True,
                           timeout=10)
    assert r.returncode == 0, r.stderr

    # Open vSwitch's own tool reads the file the client wrote from our answers.
    log = subprocess.run(["ovsdb-tool", "show-log", backup], capture_output=True, text=True, check=True).stdout
    assert 'record 0: "Open_vSwitch" schema' in log and 'produced by "ovsdb-client backup"' in log
    q = subprocess.run(["ovsdb-tool", "query", backup, json.dumps(
        ["Open_vSwitch", {"op": "select", "table": "Port", "where": [["name", "==", "p1"]],
                          "columns": ["tag", "trunks"]}])], capture_output=True, text=True, check=True).stdout
    assert json.loads(q) == [{"rows": [{"tag": 7, "trunks": ["set", [1, 2]]}]}]

    restored = {}
    for impl in ("ours", "ref"):
        dst = start_server(impl, f"dst-{impl}")
        with open(backup) as f:         # restore seeks in its input: a file, not a pipe
            r = subprocess.run(["ovsdb-client", "restore", dst.remote], stdin=f, capture_output=True, text=True,
                               timeout=10)
        assert r.returncode == 0, r.stderr
        restored[impl] = normalized_dump(dst)
        # The restored database is live: a new change goes through.
        assert dst.vsctl("--no-wait", "add-port", "br0", "p2").returncode == 0
        assert dst.vsctl("list-ports", "br0").stdout == "p1\np2\n"
    assert restored["ours"] == normalized_dump(src)
    assert restored["ours"] == restored["ref"]


# ---------------------------------------------------------------------------
# python-ovs Idl

def make_idl(server, tables=None):
    import ovs.db.idl
    helper = ovs.db.idl.SchemaHelper(location=SCHEMA)
    if tables:
        for t in tables:
            helper.register_table(t)
    else:
        helper.register_all()
    return ovs.db.idl.Idl(server.remote, helper)


def pump(idls, predicate, timeout=5.0):
    """Run the IDLs' poll loops until predicate() holds or the deadline passes."""
    import ovs.poller
    deadline = time.monotonic() + timeout
    while True:
        for idl in idls:
            idl.run()
        if predicate():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        poller = ovs.poller.Poller()
        for idl in idls:
            idl.wait(poller)
        poller.timer_wait(int(min(remaining, 0.2) * 1000))
        poller.block()


def ovs_row(idl):
    return next(iter(idl.tables["Open_vSwitch"].rows.values()))


def bridge_names(idl):
    return sorted(b.name for b in idl.tables["Bridge"].rows.values())


@pytest.fixture
def idls():
    made = []
    yield made
    for idl in made:
        idl.close()


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_python_idl_insert_update(start_server, idls, impl):
    import ovs.db.idl
    server = start_server(impl)
    assert server.vsctl("--no-wait", "init").returncode == 0
    a, b = make_idl(server), make_idl(server)
    idls += [a, b]
    assert pump([a, b], lambda: a.has_ever_connected() and b.has_ever_connected()
                and a.tables["Open_vSwitch"].rows and b.tables["Open_vSwitch"].rows)

    txn = ovs.db.idl.Transaction(a)
    br = txn.insert(a.tables["Bridge"])
    br.name = "br-idl"
    br.external_ids = {"owner": "a"}
    ovs_row(a).addvalue("bridges", br.uuid)
    assert txn.commit_block() == ovs.db.idl.Transaction.SUCCESS, txn.get_error()
    new_uuid = txn.get_insert_uuid(br.uuid)
    assert new_uuid is not None
    assert pump([b], lambda: bridge_names(b) == ["br-idl"])
    assert b.tables["Bridge"].rows[new_uuid].external_ids == {"owner": "a"}

    txn = ovs.db.idl.Transaction(b)
    row = b.tables["Bridge"].rows[new_uuid]
    row.setkey("external_ids", "owner", "b")
    row.fail_mode = ["standalone"]
    assert txn.commit_block() == ovs.db.idl.Transaction.SUCCESS, txn.get_error()
    assert pump([a], lambda: a.tables["Bridge"].rows[new_uuid].external_ids == {"owner": "b"})
    assert a.tables["Bridge"].rows[new_uuid].fail_mode == ["standalone"]
    assert server.vsctl("get", "Bridge", "br-idl", "external_ids:owner", "fail_mode").stdout == \
        "b\nstandalone\n"


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_python_idl_verify_conflict(start_server, idls, impl):
    import ovs.db.idl
    Txn = ovs.db.idl.Transaction
    server = start_server(impl)
    assert server.vsctl("--no-wait", "init", "--", "set", "Open_vSwitch", ".", "external_ids:n=0").returncode == 0
    a, b = make_idl(server), make_idl(server)
    idls += [a, b]
    assert pump([a, b], lambda: a.tables["Open_vSwitch"].rows and b.tables["Open_vSwitch"].rows)

    txn_a = Txn(a)                       # A reads n=0 and plans n=1, verified ...
    row_a = ovs_row(a)
    row_a.verify("external_ids")
    row_a.external_ids = {"n": "1"}
    txn_b = Txn(b)                       # ... while B commits n=2 first.
    ovs_row(b).external_ids = {"n": "2"}
    assert txn_b.commit_block() == Txn.SUCCESS
    assert txn_a.commit_block() == Txn.TRY_AGAIN
    assert pump([a], lambda: ovs_row(a).external_ids == {"n": "2"})

    txn_a = Txn(a)                       # the retry, on fresh data, goes through
    row_a = ovs_row(a)
    row_a.verify("external_ids")
    row_a.external_ids = {"n": "3"}
    assert txn_a.commit_block() == Txn.SUCCESS
    assert pump([b], lambda: ovs_row(b).external_ids == {"n": "3"})


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_python_idl_cond_change(start_server, idls, impl):
    server = start_server(impl)
    assert server.vsctl("--no-wait", "init", "--", "add-br", "br0", "--", "add-br", "br1", "--",
                        "add-br", "br2").returncode == 0
    idl = make_idl(server)
    idls.append(idl)
    idl.cond_change("Bridge", [["name", "==", "br0"]])
    assert pump([idl], lambda: idl.tables["Open_vSwitch"].rows and bridge_names(idl) == ["br0"])
    assert len(idl.tables["Port"].rows) == 3             # other tables stay unconditional

    idl.cond_change("Bridge", [["name", "!=", "br0"]])
    assert pump([idl], lambda: bridge_names(idl) == ["br1", "br2"]), bridge_names(idl)

    # New rows follow the condition too.
    assert server.vsctl("--no-wait", "add-br", "br3", "--", "add-br", "br0x").returncode == 0
    assert pump([idl], lambda: bridge_names(idl) == ["br0x", "br1", "br2", "br3"]), bridge_names(idl)

    idl.cond_change("Bridge", [])                       # [] means "no rows" to the IDL
    assert pump([idl], lambda: bridge_names(idl) == []), bridge_names(idl)
    idl.cond_change("Bridge", [True])
    assert pump([idl], lambda: len(bridge_names(idl)) == 5), bridge_names(idl)


# ---------------------------------------------------------------------------
# ovsdbapp (Open_vSwitch backend)

def ovsdbapp_api(server):
    """A fresh ovsdbapp Open_vSwitch API on `server` and its Connection (stop it when done).

    ovsdbapp keeps one connection per Backend class (a class attribute set
    only once), so each call uses a new subclass: otherwise a second test
    would silently talk through the first test's stopped connection.
    """
    from ovsdbapp.backend.ovs_idl import connection
    from ovsdbapp.schema.open_vswitch import impl_idl

    conn = connection.Connection(idl=connection.OvsdbIdl.from_server(server.remote, "Open_vSwitch"), timeout=5)
    api_class = type("OvsdbIdlUnderTest", (impl_idl.OvsdbIdl,), {"_ovsdb_connection": None})
    try:
        return api_class(conn), conn
    except Exception:
        conn.stop(timeout=5)
        raise


def test_ovsdbapp_open_vswitch(start_server, fake_vswitchd, caplog):
    """ovsdbapp waits for cur_cfg >= next_cfg and an ofport after each transaction.

    It has no option to skip that wait (OvsVsctlTransaction.post_commit always
    runs it, and a timeout is only logged as "Post-commit checks failed"), so
    a FakeVswitchd answers, and the test fails on that log line or on a slow
    transaction.
    """
    server = start_server("ours")
    assert server.vsctl("--no-wait", "init").returncode == 0
    fv = fake_vswitchd(server)
    api, conn = ovsdbapp_api(server)
    try:

        def timed(cmd):
            start = time.monotonic()
            result = cmd.execute(check_error=True)
            assert time.monotonic() - start < 3, cmd
            return result

        timed(api.add_br("br0", may_exist=False, datapath_type="netdev"))
        timed(api.add_port("br0", "p1"))
        timed(api.db_set("Port", "p1", ("tag", 42), ("external_ids", {"k": "v"})))
        ports = timed(api.db_list("Port", columns=["name", "tag", "external_ids"]))
        by_name = {p["name"]: p for p in ports}
        assert sorted(by_name) == ["br0", "p1"]
        assert by_name["p1"]["tag"] == 42 and by_name["p1"]["external_ids"] == {"k": "v"}
        assert timed(api.list_ports("br0")) == ["p1"]
        assert timed(api.db_get("Bridge", "br0", "datapath_type")) == "netdev"
        with pytest.raises(RuntimeError, match="constraint violation"):
            api.add_br("br0", may_exist=False).execute(check_error=True)
        assert timed(api.list_br()) == ["br0"]
        ofports = [i["ofport"] for i in timed(api.db_list("Interface", columns=["ofport"]))]
        assert sorted(ofports) == [1, 2]
    finally:
        conn.stop(timeout=5)
    assert "Post-commit checks failed" not in caplog.text
    assert fv.errors == []
    cfg = server.vsctl("get", "Open_vSwitch", ".", "next_cfg", "cur_cfg").stdout.split()
    assert cfg == ["3", "3"]          # add_br, add_port, db_set; reads and the failed add_br bump nothing


def duplicate_bridge_error(server, fake_vswitchd):
    assert server.vsctl("--no-wait", "init").returncode == 0
    fake_vswitchd(server)
    api, conn = ovsdbapp_api(server)
    try:
        api.add_br("br0").execute(check_error=True)
        with pytest.raises(RuntimeError) as info:
            api.add_br("br0", may_exist=False).execute(check_error=True, log_errors=False)
    finally:
        conn.stop(timeout=5)
    return mask(str(info.value))


def test_ovsdbapp_duplicate_bridge_error_matches_reference(start_server, fake_vswitchd):
    ours = duplicate_bridge_error(start_server("ours"), fake_vswitchd)
    ref = duplicate_bridge_error(start_server("ref"), fake_vswitchd)
    assert "constraint violation" in ours
    assert ours == ref


# ---------------------------------------------------------------------------
# Malformed input over a raw socket

def raw_exchange(sock_path, payload: bytes, timeout=2.0) -> bytes | None:
    """Send raw bytes; return what came back before EOF, or None if the connection stayed open."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        s.sendall(payload)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = s.recv(1 << 20)
            except socket.timeout:
                return None
            except ConnectionResetError:
                data = b""
            if not data:
                return got
            got += data
            s.settimeout(0.3)       # a reply came; does the connection close after it?
        return None
    finally:
        s.close()


def deep_echo(depth):
    """An echo request nested `depth` levels deep in total (the message object counts as one)."""
    n = depth - 1
    return ('{"id":1,"method":"echo","params":' + "[" * n + "]" * n + "}").encode()


MALFORMED = {
    "bad json": b'{"id":1,"method":"echo","params":[]]}',
    "bare word": b"{nope}",
    "non-object": b'["list_dbs"]',
    "string": b'"list_dbs"',
    "extra member": b'{"id":1,"method":"echo","params":[],"extra":1}',
    "no params": b'{"id":1,"method":"echo"}',
    "params not array": b'{"id":1,"method":"echo","params":{}}',
    "method not string": b'{"id":1,"method":7,"params":[]}',
    "unsolicited reply": b'{"id":1,"result":[],"error":null}',
    "far too deep": deep_echo(1100),
}


def test_bad_json_is_refused_before_the_message_ends(start_server):
    server = start_server("ours")
    assert raw_exchange(server.sock, b'{"id":1,"method":"echo","params":[]]', timeout=1) == b""


def test_nesting_limit_is_exactly_1000(start_server):
    server = start_server("ours")
    assert raw_exchange(server.sock, deep_echo(1001)) == b""


@pytest.mark.parametrize("impl", ["ours", "ref"])
def test_malformed_input_closes_only_that_connection(start_server, impl):
    server = start_server(impl)
    bystander = Client(server.sock, timeout=5)
    try:
        assert bystander.call("echo", ["before"])["result"] == ["before"]
        for name, payload in MALFORMED.items():
            assert raw_exchange(server.sock, payload) == b"", name       # closed, no reply
            assert bystander.call("echo", [name])["result"] == [name], name
        # Unknown method: an error reply, and the connection stays open.
        c = Client(server.sock, timeout=5)
        try:
            assert c.call("frob", []) == {"id": 0, "error": "unknown method"}
            assert c.call("list_dbs", [])["result"] == ["Open_vSwitch", "_Server"]
        finally:
            c.close()
        # 1000 levels is the limit, not beyond: such an echo comes back whole.
        c = Client(server.sock, timeout=5)
        try:
            c.sock.sendall(deep_echo(1000))
            buf = b""
            while not (buf.count(b"]") == 999 and buf.endswith(b"}")):
                data = c.sock.recv(1 << 20)
                assert data, "connection closed on a 1000-level message"
                buf += data
            assert buf.count(b"[") == 999
            assert c.call("echo", ["still"])["result"] == ["still"]
        finally:
            c.close()
        assert bystander.call("list_dbs", [])["result"] == ["Open_vSwitch", "_Server"]
    finally:
        bystander.close()
