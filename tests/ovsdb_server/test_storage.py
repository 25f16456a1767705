"""Tests for ovsdb_server.storage and ovsdb_server.tool: the standalone database file.

Open vSwitch's own tools are the oracle: files made by ovsdb-tool and a real
ovsdb-server must read in ours, and files written by ours must be accepted by
ovsdb-tool (show-log, query, transact) and by a real ovsdb-server.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ovsdb_server.ovsjson import schema_json_in_ovs_order
from ovsdb_server import storage, tool
from ovsdb_server.storage import DbFile, StorageError, encode_record, parse_records

OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
OUR_SCHEMA = Path(tool.default_schema())
LOCKED = "failed to lock lockfile (Resource temporarily unavailable)"

needs_ovs = pytest.mark.needs_ovs


def schema() -> dict:
    return json.loads(OUR_SCHEMA.read_text())


def txn_records() -> list[dict]:
    """Records shaped like ovsdb-server's: insert the root row, add two bridges
    (set diffs), then delete one (explicit null plus the set diff removing it)."""
    root, br0, br1 = (str(uuid.uuid4()) for _ in range(3))
    return [
        {"_date": 1795754676231, "_is_diff": True, "Open_vSwitch": {root: {}},
         "_comment": "first txn"},
        {"_date": 1795754676300, "_is_diff": True,
         "Bridge": {br0: {"name": "br0", "datapath_type": "dummy"}},
         "Open_vSwitch": {root: {"bridges": ["uuid", br0], "next_cfg": 1}}},
        {"_date": 1795754676400, "_is_diff": True,
         "Bridge": {br1: {"name": "br1", "external_ids": ["map", [["k", "v é"]]]}},
         "Open_vSwitch": {root: {"bridges": ["uuid", br1]}},
         "_comment": 'ovs-vsctl: add-br "br1"'},
        {"_date": 1795754676500, "_is_diff": True, "Bridge": {br0: None},
         "Open_vSwitch": {root: {"bridges": ["uuid", br0]}}},
    ]


def write_file(path: Path, records: list[dict]) -> None:
    DbFile.create(path, schema())
    with DbFile.open(path) as f:
        for r in records:
            f.append(r)


def lockfile_fds() -> int:
    return len(storage._held_locks)


# --------------------------------------------------------------------------- OVS helpers

@pytest.fixture
def ovs_env(tmp_path, monkeypatch):
    """Private OVS run/db/log dirs, so nothing touches the system's."""
    if not shutil.which("ovsdb-tool"):
        pytest.skip("Open vSwitch binaries not installed")
    for var in ("OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"):
        monkeypatch.setenv(var, str(tmp_path))
    return tmp_path


def run(*cmd, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=20)
    if check and p.returncode:
        raise AssertionError(f"{cmd} failed ({p.returncode}): {p.stderr}")
    return p


class OvsdbServer:
    """A real ovsdb-server in the foreground, so we own its pid."""

    def __init__(self, db: Path, rundir: Path):
        self.db, self.sock, self.ctl = db, rundir / "db.sock", rundir / "ovsdb.ctl"
        for p in (self.sock, self.ctl):
            p.unlink(missing_ok=True)
        self.log = rundir / "ovsdb-server.log"
        self.stderr = open(rundir / "ovsdb-server.stderr", "w+")
        self.proc = subprocess.Popen(
            ["ovsdb-server", str(db), f"--remote=punix:{self.sock}",
             f"--unixctl={self.ctl}", f"--log-file={self.log}"],
            stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while not (self.sock.exists() and self.ctl.exists()):
            if self.proc.poll() is not None:
                raise AssertionError(f"ovsdb-server exited: {self.errors()}")
            assert time.monotonic() < deadline, "ovsdb-server did not start"
            time.sleep(0.01)

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    @property
    def remote(self) -> str:
        return f"unix:{self.sock}"

    def transact(self, *ops) -> list:
        out = run("ovsdb-client", "transact", self.remote, json.dumps(["Open_vSwitch", *ops]))
        result = json.loads(out.stdout)
        assert not any("error" in r for r in result if r), result
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.stderr.close()


@pytest.fixture
def real_server(ovs_env):
    """Factory: start(db) -> a ready OvsdbServer; every one is stopped at teardown."""
    servers = []

    def start(db: Path, *, ready: bool = True) -> OvsdbServer:
        s = OvsdbServer(db, ovs_env)
        servers.append(s)
        if ready:
            s.wait_ready()
        return s

    yield start
    for s in servers:
        s.stop()


def show_log(path: Path, *opts) -> list[str]:
    return run("ovsdb-tool", *opts, "show-log", path).stdout.splitlines()


def query_rows(path: Path, table: str) -> list[dict]:
    q = json.dumps(["Open_vSwitch", {"op": "select", "table": table, "where": []}])
    return json.loads(run("ovsdb-tool", "query", path, q).stdout)[0]["rows"]


def ovs_transact_offline(path: Path) -> subprocess.CompletedProcess:
    return run("ovsdb-tool", "transact", path, '["Open_vSwitch"]', check=False)


# --------------------------------------------------------------------------- framing

def test_encode_record_matches_ovsdb5_framing():
    obj = {"_date": 1, "_comment": 'a "q"\nline é', "T": {"u": {"x": ["set", []]}}}
    rec = encode_record(obj)
    header, body = rec.split(b"\n", 1)
    assert body == ('{"_date":1,"_comment":"a \\"q\\"\\nline é","T":{"u":{"x":["set",[]]}}}'
                    "\n").encode()
    assert header == b"OVSDB JSON %d %s" % (len(body), hashlib.sha1(body).hexdigest().encode())
    assert parse_records(rec + rec) == ([obj, obj], 2 * len(rec), None)


def test_parse_stops_at_first_bad_record_and_ignores_the_rest():
    a, b, c = encode_record({"a": 1}), encode_record({"b": 2}), encode_record({"c": 3})
    bad = bytearray(b)
    bad[-3] ^= 1  # flip a body bit: SHA-1 mismatch
    records, end, err = parse_records(a + bytes(bad) + c)
    assert records == [{"a": 1}] and end == len(a)
    header_len = b.index(b"\n") + 1
    assert err.startswith(f"{len(b) - header_len} bytes starting at offset "
                          f"{len(a) + header_len} have SHA-1 hash")
    # A record whose checksum is right but whose body is not an object.
    body = b"[1]\n"
    arr = b"OVSDB JSON 4 %s\n" % hashlib.sha1(body).hexdigest().encode() + body
    assert parse_records(a + arr)[1:] == (len(a), f"4 bytes starting at offset "
                                                  f"{len(a) + len(arr) - 4} are not a JSON object")
    # Trailing garbage after good records: a header parse error.
    assert parse_records(a + b"\n")[2] == f'parse error at offset {len(a)} in header line ""'


def test_create_then_open(tmp_path):
    db = tmp_path / "conf.db"
    DbFile.create(db, schema())
    assert oct(db.stat().st_mode & 0o777) == oct(0o660 & ~current_umask())
    with DbFile.open(db) as f:
        assert f.schema_json == schema()
        assert (f.records, f.torn, f.n_records, f.size) == ([], None, 1, db.stat().st_size)
    with pytest.raises(StorageError, match=r"^I/O error: .*conf.db: create failed \(File exists\)$"):
        DbFile.create(db, schema())


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_append_is_in_file_when_process_is_killed(tmp_path):
    db = tmp_path / "conf.db"
    DbFile.create(db, schema())
    code = ("import os, signal, sys; from ovsdb_server.storage import DbFile;"
            "f = DbFile.open(sys.argv[1]); f.append({'_date': 5, 'T': {}});"
            "os.kill(os.getpid(), signal.SIGKILL)")
    p = subprocess.run([sys.executable, "-c", code, str(db)],
                       cwd=Path(storage.__file__).parents[1])
    assert p.returncode == -signal.SIGKILL
    with DbFile.open(db) as f:
        assert f.records == [{"_date": 5, "T": {}}] and f.torn is None


def test_durable_append_calls_fdatasync(tmp_path, monkeypatch):
    db = tmp_path / "conf.db"
    DbFile.create(db, schema())
    synced = []
    monkeypatch.setattr(storage, "_datasync", synced.append)
    with DbFile.open(db) as f:
        f.append({"a": 1})
        assert synced == []
        f.append({"a": 2}, durable=True)
        assert synced == [f._fd]


# --------------------------------------------------------------------------- torn tails

@needs_ovs
def test_torn_tail_at_every_offset_is_dropped_then_truncated(tmp_path, ovs_env):
    db = tmp_path / "conf.db"
    records = txn_records()
    write_file(db, records)
    full = db.read_bytes()
    last = len(encode_record(records[-1]))
    start = len(full) - last
    extra = {"_date": 1795754677000, "_is_diff": True, "_comment": "after"}
    for cut in range(start, len(full)):
        db.write_bytes(full[:cut])
        with DbFile.open(db) as f:
            assert f.records == records[:-1], cut
            assert (f.torn is None) == (cut == start), cut
            if cut > start:
                assert f.torn.startswith(("I/O error: ", "syntax error: "))
                assert f"{db}: " in f.torn
            f.append(extra)
        data = db.read_bytes()
        assert data == full[:start] + encode_record(extra), cut
        # ovsdb-tool agrees the file is whole again (it fails on any bad record).
        assert show_log(db)[-1].endswith('"after"'), cut


@needs_ovs
def test_torn_text_matches_what_ovsdb_server_logs(tmp_path, ovs_env):
    db = tmp_path / "conf.db"
    write_file(db, txn_records())
    full = db.read_bytes()
    for cut in (len(full) - 5, len(full) - 150):  # in the body; in the header
        db.write_bytes(full[:cut])
        expected = ovs_transact_offline(db).stderr.strip().removeprefix("ovsdb-tool: ")
        with DbFile.open(db) as f:
            assert f.torn == expected


@needs_ovs
def test_corrupt_checksum_is_dropped_and_truncated(tmp_path, ovs_env):
    db = tmp_path / "conf.db"
    records = txn_records()
    write_file(db, records)
    data = bytearray(db.read_bytes())
    second_last = len(encode_record(records[-1])) + len(encode_record(records[-2]))
    data[-second_last + 70] ^= 0x20  # inside record 3's body
    db.write_bytes(bytes(data))
    expected = ovs_transact_offline(db).stderr.strip().removeprefix("ovsdb-tool: ")
    assert "SHA-1 hash" in expected
    with DbFile.open(db) as f:
        assert f.records == records[:2]  # record 4 is intact but after the bad one
        assert f.torn == expected
        f.append(records[2])
        f.append(records[3])
    assert show_log(db)[2:] == ['record 1: 2026-11-27 04:44:36.231 "first txn"',
                                "record 2: 2026-11-27 04:44:36.300",
                                'record 3: 2026-11-27 04:44:36.400 "ovs-vsctl: add-br "br1""',
                                "record 4: 2026-11-27 04:44:36.500"]


def test_corrupt_or_missing_schema_record_is_fatal(tmp_path):
    db = tmp_path / "conf.db"
    DbFile.create(db, schema())
    good = db.read_bytes()
    cases = {
        good[:100]: r"^I/O error: .*: error reading \d+ bytes starting at offset \d+ "
                    r"\(End of file\)$",
        good[:-3] + b"x}\n": r"^syntax error: .*have SHA-1 hash .* but should have hash",
        encode_record({"not": "a schema"}): r"^ovsdb error: .*conf.db: record 0 is not a schema$",
        b"": r"^ovsdb error: .*conf.db: cannot identify file type$",
        b"hello\n": r"^ovsdb error: .*conf.db: unexpected file format$",
        good.replace(b"OVSDB JSON", b"OVSDB CLUSTER", 1): r"clustered database",
    }
    for content, pattern in cases.items():
        db.write_bytes(content)
        with pytest.raises(StorageError, match=pattern):
            DbFile.open(db)
        assert lockfile_fds() == 0  # the lock was released on failure
    with pytest.raises(StorageError, match=r"^I/O error: .*nope.db: open failed \(No such file"):
        DbFile.open(tmp_path / "nope.db")


# --------------------------------------------------------------------------- locking

@needs_ovs
def test_lock_excludes_second_open_and_ovsdb_tool(tmp_path, ovs_env):
    db = tmp_path / "conf.db"
    DbFile.create(db, schema())
    first = DbFile.open(db)
    with pytest.raises(StorageError, match=r"failed to lock lockfile \(Resource deadlock avoided\)"):
        DbFile.open(db)
    # The failed attempt must not have dropped our fcntl lock (closing any fd of
    # the lock file would): a real ovsdb-tool still cannot write.
    p = ovs_transact_offline(db)
    assert p.returncode == 1 and f"ovsdb-tool: I/O error: {db}: {LOCKED}" in p.stderr
    assert (tmp_path / ".conf.db.~lock~").exists()
    # Reading without the lock still works, as ovsdb-tool query does; it cannot write.
    with DbFile.open(db, lock=False) as ro:
        with pytest.raises(StorageError, match="read-only"):
            ro.append({"a": 1})
    first.close()
    assert ovs_transact_offline(db).returncode == 0
    DbFile.open(db).close()


@needs_ovs
def test_lock_against_real_ovsdb_server(tmp_path, ovs_env, real_server):
    db = tmp_path / "conf.db"
    run("ovsdb-tool", "create", db, OVS_SCHEMA)
    server = real_server(db)
    with pytest.raises(StorageError) as e:
        DbFile.open(db)
    assert str(e.value) == f"I/O error: {db}: {LOCKED}"
    server.stop()
    # ...and the other way round: a server cannot start on a file we hold.
    with DbFile.open(db):
        other = real_server(db, ready=False)
        assert other.proc.wait(10) != 0
        assert LOCKED in other.errors()


# --------------------------------------------------------------------------- OVS files in ours

@needs_ovs
def test_reads_files_written_by_ovsdb_tool_and_ovsdb_server(tmp_path, ovs_env, real_server):
    db = tmp_path / "conf.db"
    run("ovsdb-tool", "create", db, OVS_SCHEMA)
    with DbFile.open(db) as f:
        assert f.schema_json["name"] == "Open_vSwitch" and f.records == []
        assert f.schema_json["cksum"] == json.loads(OVS_SCHEMA.read_text())["cksum"]

    server = real_server(db)
    root = server.transact({"op": "insert", "table": "Open_vSwitch", "row": {}},
                           {"op": "comment", "comment": "init é"})[0]["uuid"][1]
    br = server.transact(
        {"op": "insert", "table": "Bridge", "uuid-name": "b", "row": {"name": "brX"}},
        {"op": "mutate", "table": "Open_vSwitch", "where": [],
         "mutations": [["bridges", "insert", ["set", [["named-uuid", "b"]]]]]})[0]["uuid"][1]
    server.transact({"op": "update", "table": "Open_vSwitch", "where": [],
                     "row": {"bridges": ["set", []]}})
    with DbFile.open(db, lock=False) as f:  # while the server holds the lock
        assert f.torn is None
        assert [r.get("_comment") for r in f.records] == ["init é", None, None]
        assert all(r["_is_diff"] is True for r in f.records)
        assert f.records[0]["Open_vSwitch"] == {root: {}}
        assert f.records[1]["Bridge"] == {br: {"name": "brX"}}
        assert f.records[2]["Bridge"] == {br: None}  # garbage-collected explicitly
        assert f.records[2]["Open_vSwitch"] == {root: {"bridges": ["uuid", br]}}
        assert f.size == db.stat().st_size
    assert len(show_log(db)) == 2 + 3

    run("ovs-appctl", "-t", server.ctl, "ovsdb-server/compact")
    server.stop()
    with DbFile.open(db) as f:
        assert f.n_records == 2 and f.torn is None
        (snap,) = f.records
        assert snap["_comment"] == "compacting database online" and snap["_is_diff"] is True
        assert snap["Open_vSwitch"] == {root: {}}  # next_cfg etc. are defaults
        assert "Bridge" not in snap

    run("ovsdb-tool", "compact", db)
    with DbFile.open(db) as f:
        (snap,) = f.records
        assert snap["_comment"].startswith("compacted by ovsdb-tool ")
        assert "_is_diff" not in snap and snap["Open_vSwitch"] == {root: {}}


# --------------------------------------------------------------------------- our files in OVS

@needs_ovs
def test_our_file_is_accepted_by_ovsdb_tool_and_ovsdb_server(tmp_path, ovs_env, real_server):
    db = tmp_path / "conf.db"
    records = txn_records()
    write_file(db, records)
    root = next(iter(records[0]["Open_vSwitch"]))
    br1 = next(iter(records[2]["Bridge"]))

    lines = show_log(db, "-m")
    assert lines[0].startswith('record 0: "Open_vSwitch" schema, version="')
    assert '  table Bridge insert row "br0" (%s):' % next(iter(records[1]["Bridge"]))[:8] in lines
    assert "    delete row" in lines

    # The diffs were understood: br0 added then removed, br1 kept, next_cfg set.
    (row,) = query_rows(db, "Open_vSwitch")
    assert row["_uuid"] == ["uuid", root] and row["next_cfg"] == 1
    assert row["bridges"] == ["uuid", br1]
    (bridge,) = query_rows(db, "Bridge")
    assert bridge["name"] == "br1" and bridge["external_ids"] == ["map", [["k", "v é"]]]

    server = real_server(db)
    dump = run("ovsdb-client", "dump", "-f", "json", server.remote, "Open_vSwitch",
               "Bridge", "_uuid", "name").stdout
    assert json.loads(dump)["data"] == [[["uuid", br1], "br1"]]
    # The server appends to our file after our last record.
    server.transact({"op": "mutate", "table": "Open_vSwitch", "where": [],
                     "mutations": [["next_cfg", "+=", 1]]})
    server.stop()
    with DbFile.open(db) as f:
        assert f.records[:4] == records and f.records[4]["Open_vSwitch"] == {
            root: {"next_cfg": 2}}


# --------------------------------------------------------------------------- compaction

@needs_ovs
def test_compaction_is_readable_by_ovsdb_tool_and_keeps_lock_and_appends(tmp_path, ovs_env):
    real = tmp_path / "data" / "conf.db"
    real.parent.mkdir()
    db = tmp_path / "conf.db"
    db.symlink_to(real)  # compaction must replace the target, not the link
    records = txn_records()
    write_file(db, records)
    root = next(iter(records[0]["Open_vSwitch"]))
    br1, = records[2]["Bridge"]
    snapshot = {"_date": 1795754680000, "_comment": "compacting database online",
                "_is_diff": True,
                "Bridge": {br1: {"name": "br1", "external_ids": ["map", [["k", "v é"]]]}},
                "Open_vSwitch": {root: {"bridges": ["uuid", br1], "next_cfg": 1}}}
    with DbFile.open(db, now=0) as f:
        before = real.stat().st_ino
        f.compact(schema(), snapshot, now=10)
        assert db.is_symlink() and real.stat().st_ino != before
        assert not Path(str(real) + ".tmp").exists()
        assert (f.n_records, f.size) == (2, real.stat().st_size)
        assert 10 + 600 <= f.next_compact_min <= 10 + 1200
        assert f.next_compact_max == 10 + 86400
        # The lock (on the target's lock file, as OVS names it) is still held...
        p = ovs_transact_offline(real)
        assert p.returncode == 1 and LOCKED in p.stderr
        # ...and appends go to the new file.
        f.append({"_date": 1795754690000, "_is_diff": True, "_comment": "after compact",
                  "Open_vSwitch": {root: {"next_cfg": 2}}})
    assert show_log(db)[2:] == ['record 1: 2026-11-27 04:44:40.000 "compacting database online"',
                                'record 2: 2026-11-27 04:44:50.000 "after compact"']
    (row,) = query_rows(db, "Open_vSwitch")
    assert row["next_cfg"] == 2 and row["bridges"] == ["uuid", br1]
    assert [b["name"] for b in query_rows(db, "Bridge")] == ["br1"]


def test_failed_compaction_leaves_file_and_retries_soon(tmp_path):
    db = tmp_path / "conf.db"
    write_file(db, txn_records()[:1])
    before = db.read_bytes()
    (tmp_path / "conf.db.tmp").mkdir()  # the temp file cannot be removed
    with DbFile.open(db, now=0) as f:
        deadline = f.next_compact_max
        with pytest.raises(StorageError, match=r"failed to remove .*conf.db.tmp"):
            f.compact(schema(), {"x": 1}, now=1000)
        assert db.read_bytes() == before
        assert 1000 + 60 <= f.next_compact_min <= 1000 + 120
        assert f.next_compact_max == deadline
        f.append({"a": 1})
    with DbFile.open(db) as f:
        assert f.records[-1] == {"a": 1} and f.torn is None


def test_should_compact_follows_ovs_thresholds(tmp_path, monkeypatch):
    monkeypatch.setattr(storage.random, "uniform", lambda a, b: b)  # 20 min
    db = tmp_path / "conf.db"
    DbFile.create(db, schema())
    with DbFile.open(db, now=0) as f:
        assert f.next_compact_min == 1200 and f.next_compact_max == 86400
        assert not f.should_compact(1199)
        assert not f.should_compact(1200)          # 1 record, tiny file
        for i in range(98):
            f.append({"i": i})
        big = {"pad": "x" * (11 * 1024 * 1024)}
        f.append(big)                               # 100 records, > 10 MiB
        assert not f.should_compact(1199)
        assert f.should_compact(1200)
        f.compact(schema(), big, now=2000)         # base is now > 5 MiB
        assert not f.should_compact(2000 + 1200)
        f.append(big)                               # < 2x the base: not yet
        assert not f.should_compact(2000 + 1200)
        f.append(big)
        assert f.should_compact(2000 + 1200)
        assert f.should_compact(2000 + 86400)


def test_should_compact_daily_even_when_small(tmp_path):
    db = tmp_path / "conf.db"
    DbFile.create(db, schema())
    with DbFile.open(db, now=100) as f:
        assert 700 <= f.next_compact_min <= 1300
        assert not f.should_compact(100 + 86399)
        assert f.should_compact(100 + 86400)  # OVS counts record 0, so always


# --------------------------------------------------------------------------- pyovsdb-tool

def test_tool_create_uses_packaged_schema(tmp_path, capsys):
    db = tmp_path / "conf.db"
    assert tool.main(["create", str(db)]) == 0
    with DbFile.open(db) as f:
        # Stored as ovsdb-tool stores it: ovsdb-server's normalised form and key order.
        assert f.schema_json == schema_json_in_ovs_order(schema())
        assert list(f.schema_json["tables"]) == list(schema_json_in_ovs_order(schema())["tables"])
    assert tool.main(["create", str(db)]) == 1
    assert capsys.readouterr().err == f"pyovsdb-tool: I/O error: {db}: create failed (File exists)\n"
    assert tool.main(["create", str(tmp_path / "x.db"), str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.startswith("pyovsdb-tool: ")
    assert tool.main(["frobnicate"]) == 1
    assert capsys.readouterr().err == ("pyovsdb-tool: unknown command 'frobnicate'; "
                                       "use --help for help\n")


@needs_ovs
@pytest.mark.parametrize("opts", [[], ["-m"], ["-mm"]])
def test_tool_show_log_matches_ovsdb_tool(tmp_path, ovs_env, real_server, opts):
    db = tmp_path / "conf.db"
    run("ovsdb-tool", "create", db, OVS_SCHEMA)
    server = real_server(db)
    server.transact({"op": "insert", "table": "Open_vSwitch", "row": {}},
                    {"op": "comment", "comment": 'hi "there"\nsecond é'})
    server.transact({"op": "insert", "table": "Bridge", "uuid-name": "b",
                     "row": {"name": "br0", "external_ids": ["map", [["a", "1"], ["b", "x y"]]]}},
                    {"op": "mutate", "table": "Open_vSwitch", "where": [],
                     "mutations": [["bridges", "insert", ["set", [["named-uuid", "b"]]]],
                                   ["next_cfg", "+=", 1]]})
    server.transact({"op": "update", "table": "Open_vSwitch", "where": [],
                     "row": {"bridges": ["set", []]}})
    server.stop()
    expected = run("ovsdb-tool", *opts, "show-log", db).stdout
    ours = subprocess.run([sys.executable, "-m", "ovsdb_server.tool", *opts, "show-log", str(db)],
                          capture_output=True, text=True, cwd=Path(tool.__file__).parents[1])
    assert (ours.returncode, ours.stdout) == (0, expected)

    # On a torn file both print the good records, then fail the same way.
    data = db.read_bytes()
    db.write_bytes(data[:-10])
    theirs = run("ovsdb-tool", *opts, "show-log", db, check=False)
    ours = subprocess.run([sys.executable, "-m", "ovsdb_server.tool", *opts, "show-log", str(db)],
                          capture_output=True, text=True, cwd=Path(tool.__file__).parents[1])
    assert ours.returncode == theirs.returncode == 1
    assert ours.stdout == theirs.stdout
    assert ours.stderr == "py" + theirs.stderr
