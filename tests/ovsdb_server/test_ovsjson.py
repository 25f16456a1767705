"""Tests for ovsdb_server.ovsjson: Open vSwitch's hash order, checked against
a real ovsdb-server 3.1 (the raw member order of its get_schema reply)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ovsdb_server.ovsjson import (
    Hmap, hash_bytes, hash_string, ovs_order, parse_order, schema_json_in_ovs_order,
)

OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
needs_ovs = pytest.mark.needs_ovs


# ---------------------------------------------------------------- hash_string

# Values computed by hand from lib/hash.c's Murmur3-style hash_bytes() (basis
# 0): the empty string is mhash_finish(0) == 0; the others were confirmed
# against ovsdb-server's own iteration order (see the needs_ovs tests, which
# would fail if any bit of the hash were wrong).
def test_hash_string_empty_is_zero():
    assert hash_string("") == 0
    assert hash_bytes(b"") == 0


def test_hash_string_known_values():
    # One word, no tail: h = mhash_add(0, w); finish(h ^ 4).
    def rot(x, k):
        return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF

    w = int.from_bytes(b"name", "little")
    d = rot((w * 0xCC9E2D51) & 0xFFFFFFFF, 15) * 0x1B873593 & 0xFFFFFFFF
    h = (rot(d, 13) * 5 + 0xE6546B64) & 0xFFFFFFFF
    h ^= 4
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    assert hash_string("name") == h
    assert hash_string("name") == hash_bytes(b"name", 0)
    assert hash_string("name", 1) != hash_string("name")
    assert hash_string("é") == hash_bytes("é".encode())
    assert KNOWN_HASHES == {s: hash_string(s) for s in KNOWN_HASHES}


# Printed by Open vSwitch v3.1.0's own lib/hash.c (hash_string(s, 0), default
# build without -msse4.2) compiled with a three-line main(); they also agree
# with ovsdb-server's iteration order in the needs_ovs tests below.
KNOWN_HASHES = {
    "name": 3685696496,
    "Bridge": 435263889,
    "Open_vSwitch": 1623711523,
    "a": 721651713,
    "abcdefg": 1651692162,
    "_uuid": 3923780869,
    "external_ids": 2498384266,
    "": 0,
}


def test_hmap_expansion_and_bucket_order():
    hm = Hmap()
    hm.insert(1, "x")
    assert hm.mask == 0
    hm.insert(2, "y")                # n=2: 2/2 > 0 -> calc_mask(2) == 3
    assert hm.mask == 3
    assert list(hm) == ["x", "y"]    # buckets 1, 2
    hm2 = Hmap()
    hm2.insert(4, "a")
    hm2.insert_fast(8, "b")          # no expansion: chain is b, a
    assert list(hm2) == ["b", "a"]   # head insertion: newest first
    hm3 = Hmap()
    hm3.insert(4, "a")
    hm3.insert(8, "b")               # chain b, a, then expand to mask 3:
    assert hm3.mask == 3             # resize re-pushes b then a at the head
    assert list(hm3) == ["a", "b"]
    hm3.insert(0, "c")
    hm3.insert(12, "d")
    assert list(hm3) == ["d", "c", "a", "b"]   # n=4: 4/2 > 3 is false
    for h, name in ((1, "e"), (2, "f"), (3, "g")):
        hm3.insert(h, name)
    assert hm3.mask == 3
    hm3.insert(16, "h")              # n=8 -> mask 7; bucket 0: h,d,c,a,b
    assert hm3.mask == 7
    # old bucket 0 chain h, d, c, a, b -> new buckets 0 (16, 0, 8) and 4
    # (12, 4), each re-pushed at the head: bucket 0 = b, c, h; 4 = a, d.
    assert list(hm3) == ["b", "c", "h", "e", "f", "g", "a", "d"]


def test_ovs_order_duplicates_and_small():
    assert ovs_order([]) == []
    assert ovs_order(["x"]) == ["x"]
    assert sorted(ovs_order(["x", "y", "x"])) == ["x", "y"]


# ---------------------------------------------------------------- real server

def _keys_deep(v):
    """Every object's member order, recursively, as nested lists."""
    if isinstance(v, dict):
        return [(k, _keys_deep(x)) for k, x in v.items()]
    if isinstance(v, list):
        return [_keys_deep(x) for x in v]
    return v


class _RealServer:
    def __init__(self, tmp: Path, schema_path: Path):
        self.tmp = tmp
        self.db = tmp / "conf.db"
        self.sock = tmp / "db.sock"
        subprocess.run(["ovsdb-tool", "create", str(self.db), str(schema_path)],
                       check=True, capture_output=True)
        env = dict(os.environ, OVS_RUNDIR=str(tmp), OVS_DBDIR=str(tmp),
                   OVS_LOGDIR=str(tmp))
        self.pidfile = tmp / "ovsdb-server.pid"
        subprocess.run(["ovsdb-server", f"--remote=punix:{self.sock}",
                        f"--pidfile={self.pidfile}", "--detach", "--no-chdir",
                        f"--log-file={tmp / 'ovsdb-server.log'}", str(self.db)],
                       check=True, capture_output=True, env=env, timeout=30)
        self.pid = int(self.pidfile.read_text().strip())
        deadline = time.time() + 10
        while not self.sock.exists() and time.time() < deadline:
            time.sleep(0.05)

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def raw_call(self, method: str, params: list) -> str:
        """Send one JSON-RPC request; return the reply's raw text."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(self.sock))
        s.sendall(json.dumps({"method": method, "params": params, "id": 0}).encode())
        buf = b""
        dec = json.JSONDecoder()
        while True:
            chunk = s.recv(65536)
            assert chunk, "server closed the connection"
            buf += chunk
            try:
                dec.raw_decode(buf.decode())
                break
            except ValueError:
                continue
        s.close()
        return buf.decode()

    def get_schema(self, name: str) -> dict:
        reply = json.loads(self.raw_call("get_schema", [name]))   # keeps order
        assert reply.get("error") is None, reply
        return reply["result"]

    def file_schema_record(self) -> dict:
        """The database file's first record (written by ovsdb-tool), raw order."""
        lines = self.db.read_text().splitlines()
        assert lines[0].startswith("OVSDB JSON ")
        return json.loads(lines[1])


@pytest.fixture
def real_server(tmp_path, request):
    if not shutil.which("ovsdb-server") or not shutil.which("ovsdb-tool"):
        pytest.skip("Open vSwitch binaries not installed")
    servers = []

    def start(schema_path: Path) -> _RealServer:
        d = tmp_path / f"s{len(servers)}"
        d.mkdir()
        srv = _RealServer(d, schema_path)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def _check(srv: _RealServer, source: dict, name: str):
    got = srv.get_schema(name)
    # One chain from the database file ovsdb-tool wrote ...
    from_file = schema_json_in_ovs_order(srv.file_schema_record())
    assert _keys_deep(from_file) == _keys_deep(got)
    # ... and ovsdb-tool's chain too, straight from the .ovsschema text.
    from_source = schema_json_in_ovs_order(schema_json_in_ovs_order(source))
    assert _keys_deep(from_source) == _keys_deep(got)
    # ovsdb-tool's output itself is one chain from the .ovsschema.
    assert _keys_deep(schema_json_in_ovs_order(source)) == \
        _keys_deep(srv.file_schema_record())
    return got


@needs_ovs
def test_vswitch_schema_order_matches_ovsdb_server(real_server):
    srv = real_server(OVS_SCHEMA)
    source = json.loads(OVS_SCHEMA.read_text())
    got = _check(srv, source, "Open_vSwitch")
    assert list(got["tables"])[:1] and len(got["tables"]) == len(source["tables"])


def _made_up_schema(n_tables: int, n_columns: int) -> dict:
    kinds = [
        "string", "integer", "boolean", "real", "uuid",
        {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095},
         "min": 0, "max": 4096},
        {"key": "string", "value": "string", "min": 0, "max": "unlimited"},
        {"key": {"type": "string", "enum": ["set", ["zeta", "alpha", "mid"]]}},
        {"key": {"type": "string", "minLength": 1, "maxLength": 64},
         "value": {"type": "real", "minReal": -1.5, "maxReal": 2.5},
         "min": 1, "max": 3},
    ]
    tables = {}
    for t in range(n_tables):
        cols = {}
        for c in range(n_columns + t % 7):
            col = {"type": kinds[(t + c) % len(kinds)]}
            if c % 5 == 1:
                col["mutable"] = False
            if c % 6 == 2:
                col["ephemeral"] = True
            if c % 11 == 3:
                col["mutable"] = True          # default: dropped by the server
            cols[f"c{c}_{t}x" if c % 3 else f"col{c}"] = col
        if t > 0:
            cols["ref"] = {"type": {"key": {"type": "uuid", "refTable": f"T{t - 1}",
                                            "refType": "weak" if t % 2 else "strong"},
                                    "min": 0, "max": "unlimited"}}
        table = {"columns": cols}
        if t % 3 == 0:
            table["isRoot"] = True
        if t % 4 == 1:
            table["maxRows"] = 10
        if t % 5 == 2:
            table["indexes"] = [["col0"]]
        tables[f"T{t}" if t % 2 else f"Table_{t}"] = table
    # Tables are named T<n> / Table_<n>; keep refTable names valid.
    for name, table in list(tables.items()):
        ref = table["columns"].get("ref")
        if ref:
            i = int(ref["type"]["key"]["refTable"][1:])
            ref["type"]["key"]["refTable"] = f"T{i}" if i % 2 else f"Table_{i}"
    return {"name": "Made_Up", "version": "1.2.3", "tables": tables}


@needs_ovs
@pytest.mark.parametrize("n_tables,n_columns", [(40, 30), (9, 3), (130, 2)])
def test_made_up_schema_order_matches_ovsdb_server(real_server, tmp_path,
                                                    n_tables, n_columns):
    source = _made_up_schema(n_tables, n_columns)
    path = tmp_path / "made_up.ovsschema"
    path.write_text(json.dumps(source, indent=1))
    srv = real_server(path)
    got = _check(srv, source, "Made_Up")
    assert len(got["tables"]) == n_tables
    # The normalized values, not just the order, match as well.
    assert got == schema_json_in_ovs_order(srv.file_schema_record())


@needs_ovs
def test_vswitch_values_match_ovsdb_server(real_server):
    srv = real_server(OVS_SCHEMA)
    got = srv.get_schema("Open_vSwitch")
    assert schema_json_in_ovs_order(srv.file_schema_record()) == got
    source = json.loads(OVS_SCHEMA.read_text())
    assert schema_json_in_ovs_order(schema_json_in_ovs_order(source)) == got


def test_parse_order_is_recursive():
    v = {"b": {"y": 1, "x": 2}, "a": [{"q": 1, "p": 2}]}
    out = parse_order(v)
    assert list(out) == ovs_order(["b", "a"])
    assert list(out["b"]) == ovs_order(["y", "x"])
    assert list(out["a"][0]) == ovs_order(["q", "p"])
