"""Differential test: our transaction engine against Open vSwitch's ovsdb-server.

Hypothesis generates short sequences of `transact` requests over the vswitch
schema: ovs-vsctl-like Bridge/Port/Interface trees with `uuid-name` and
forward `named-uuid` references, update, mutate (every mutator), delete,
select (every condition function), wait (timeout 0), comment, abort, and bad
input (wrong types, out-of-range integers, bad enums, unknown tables and
columns, oversized sets, immutable columns, dangling references, duplicate
index values, a second Open_vSwitch row).  Each sequence runs on our server
and on a real ovsdb-server, both started once for the module; every example
starts by deleting every row.  Every reply and the full dump afterwards must
be equal once UUIDs are normalised.

Rows that already exist are referenced through placeholders resolved per
server just before sending: `["uuid", "@Bridge:br0"]` is the UUID of the
Bridge named br0 (a fixed dangling UUID if there is none).

UUID normalisation: each server's UUIDs are numbered in order of first
appearance, insert results first (their order is fixed by the request),
then everything else in document order; `_version` values become "V".
Sets and maps are re-sorted after renaming, and `select` rows are sorted,
because their order is unspecified.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from interop.harness import Client, OvsdbServer, have_ovs
from ovsdb_server.schema import load_vswitch_schema

pytestmark = [pytest.mark.needs_ovs,
              pytest.mark.skipif(not have_ovs(), reason="Open vSwitch binaries not installed")]

SCHEMA = load_vswitch_schema()
TABLES = list(SCHEMA.tables)
DANGLING = "11111111-2222-3333-4444-555555555555"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NAMES = {"Bridge": ["br0", "br1", "br2"], "Port": ["p0", "p1", "p2", "p3"],
         "Interface": ["p0", "p1", "p2", "p3"], "Mirror": ["m0", "m1"]}
STRINGS = ["", "a", "b", "br0", "p1", "x y", "true"]
# Tables and columns the generator writes; other tables only take part in resets and dumps.
COLUMNS = {
    "Open_vSwitch": ["next_cfg", "cur_cfg", "external_ids", "other_config", "bridges", "ovs_version",
                     "datapath_types", "dpdk_initialized", "statistics"],
    "Bridge": ["name", "datapath_type", "ports", "mirrors", "external_ids", "flood_vlans", "stp_enable",
               "fail_mode", "protocols", "status"],
    "Port": ["name", "interfaces", "tag", "trunks", "vlan_mode", "bond_mode", "lacp", "qos",
             "bond_updelay", "external_ids", "statistics"],
    "Interface": ["name", "type", "ofport", "ofport_request", "mtu_request", "options", "external_ids",
                  "admin_state"],
    "Mirror": ["name", "select_src_port", "select_dst_port", "output_port", "select_vlan", "snaplen",
               "external_ids"],
    "QoS": ["type", "queues", "external_ids"],
    "Queue": ["dscp", "other_config"],
}


# -- servers --------------------------------------------------------------------

@pytest.fixture(scope="module")
def servers():
    started = []
    folders = []
    try:
        for impl in ("ours", "ref"):
            folder = tempfile.mkdtemp(prefix=f"df{impl}", dir="/tmp")
            folders.append(folder)
            server = OvsdbServer(impl, folder).start()
            started.append(server)
        clients = [Client(s.sock) for s in started]
        yield clients
        for c in clients:
            c.close()
    finally:
        for s in started:
            s.stop()
        for f in folders:
            shutil.rmtree(f, ignore_errors=True)


# -- value strategies -----------------------------------------------------------

def atom(base, table, txn_names):
    """A mostly-valid atom for one key or value type."""
    kind = base.kind
    if base.enum is not None:
        return st.one_of(st.sampled_from(sorted(base.enum)), st.just("bogus"))
    if kind == "integer":
        lo = base.min if base.min is not None else -5
        hi = base.max if base.max is not None else 10
        edge = [lo, hi, lo - 1, hi + 1] if base.min is not None or base.max is not None else [-(2**63)]
        return st.one_of(st.integers(max(lo, -5), min(hi, lo + 10)), st.sampled_from(edge))
    if kind == "real":
        return st.sampled_from([0.0, 1.5, -2.0])
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        names = NAMES.get(table, [])
        return st.sampled_from(STRINGS + names)
    ref = base.ref_table
    choices = [st.sampled_from([["uuid", f"@{ref}:{n}"] for n in NAMES.get(ref, ["?"])])]
    if txn_names:
        choices.append(st.sampled_from([["named-uuid", n] for n in txn_names]))
    choices.append(st.just(["uuid", DANGLING]))
    return st.one_of(*choices)


def value(col, table, txn_names, *, loose=False, max_n=3):
    """A column value as JSON: bare atoms, sets and maps, sometimes of the wrong size."""
    if col.is_map:
        pair = st.tuples(atom(col.key, table, txn_names), atom(col.value, table, txn_names))
        return st.lists(pair, max_size=max_n, unique_by=lambda p: json.dumps(p[0])).map(
            lambda ps: ["map", [list(p) for p in ps]])
    a = atom(col.key, table, txn_names)
    lo = 0 if loose else col.n_min
    hi = max_n if loose else min(col.n_max + (1 if col.n_max < 3 else 0), max_n)
    as_set = st.lists(a, min_size=lo, max_size=max(lo, hi), unique_by=json.dumps).map(lambda xs: ["set", xs])
    if col.n_max == 1:
        return st.one_of(a, as_set)
    return st.one_of(as_set, a)


def bad_value():
    return st.sampled_from(["abc", 7, 1.5, True, ["set", ["x", 1]], ["map", [["k", 1]]], ["uuid", "nope"],
                            ["named-uuid", 3], None, {"a": 1}])


@st.composite
def row(draw, table, txn_names, for_update=False):
    cols = COLUMNS[table]
    names = draw(st.lists(st.sampled_from(cols), max_size=3, unique=True))
    out = {}
    for name in names:
        if for_update and name == "name" and draw(st.integers(0, 3)):
            continue
        out[name] = draw(value(SCHEMA.tables[table].columns[name], table, txn_names))
    if draw(st.integers(0, 25)) == 0:
        out[draw(st.sampled_from(cols + ["nocol", "_uuid"]))] = draw(bad_value())
    return out


@st.composite
def where(draw, table, txn_names):
    tschema = SCHEMA.tables[table]
    clauses = []
    for _ in range(draw(st.integers(0, 2))):
        pick = draw(st.integers(0, 20))
        if pick == 0:
            clauses.append(draw(st.booleans()))
            continue
        if pick == 1:
            clauses.append(draw(st.sampled_from([["nocol", "==", 1], ["name", "~~", "x"],
                                                 ["name", "<", "z"], ["name", "=="], "junk"])))
            continue
        if pick == 2:
            clauses.append(["_uuid", draw(st.sampled_from(["==", "!=", "includes", "excludes"])),
                            draw(atom(tschema.all_columns["_uuid"].key, table, txn_names))
                            if False else draw(st.sampled_from(
                                [["uuid", f"@{table}:{n}"] for n in NAMES.get(table, ["?"])]
                                + [["named-uuid", n] for n in txn_names] + [["uuid", DANGLING]]))])
            continue
        name = draw(st.sampled_from(["name"] * 3 + COLUMNS[table] if "name" in tschema.columns
                                    else COLUMNS[table]))
        col = tschema.columns[name]
        funcs = ["==", "!=", "includes", "excludes"] + (["<", "<=", ">", ">="] if col.comparable else [])
        func = draw(st.sampled_from(funcs))
        if func in ("<", "<=", ">", ">="):
            arg = draw(atom(col.key, table, txn_names))
        else:
            arg = draw(value(col, table, txn_names, loose=func in ("includes", "excludes")))
        clauses.append([name, func, arg])
    return clauses


@st.composite
def mutation(draw, table, txn_names):
    tschema = SCHEMA.tables[table]
    name = draw(st.sampled_from(COLUMNS[table]))
    col = tschema.columns[name]
    numeric = col.key.kind in ("integer", "real") and not col.is_map
    kinds = ["insert", "delete"] + (["+=", "-=", "*=", "/=", "%="] * 2 if numeric else [])
    if draw(st.integers(0, 30)) == 0:
        kinds = ["+=", "frob", "insert"]
    mutator = draw(st.sampled_from(kinds))
    if mutator in ("+=", "-=", "*=", "/=", "%=", "frob"):
        arg = draw(st.one_of(st.integers(-3, 5), st.sampled_from([4095, 2**62, 0, "x"])))
    elif mutator == "delete" and col.is_map and draw(st.booleans()):
        arg = ["set", draw(st.lists(atom(col.key, table, txn_names), max_size=2, unique_by=json.dumps))]
    else:
        arg = draw(value(col, table, txn_names, loose=True))
    return [name, mutator, arg]


# -- operations -----------------------------------------------------------------

class Names:
    """uuid-names used in one transaction."""

    def __init__(self):
        self.n = 0
        self.names = []

    def new(self):
        self.n += 1
        name = f"row{self.n}"
        self.names.append(name)
        return name


@st.composite
def tree_ops(draw, names):
    """ovs-vsctl add-br / add-port: Interface + Port (+ Bridge), with forward refs in random order."""
    iface, port = names.new(), names.new()
    pname = draw(st.sampled_from(NAMES["Port"]))
    ops = [{"op": "insert", "table": "Interface", "uuid-name": iface,
            "row": {"name": pname, "type": draw(st.sampled_from(["", "internal", "dummy"]))}},
           {"op": "insert", "table": "Port", "uuid-name": port,
            "row": {"name": pname, "interfaces": ["named-uuid", iface]}}]
    if draw(st.booleans()):
        br = names.new()
        bname = draw(st.sampled_from(NAMES["Bridge"]))
        ops.append({"op": "insert", "table": "Bridge", "uuid-name": br,
                    "row": {"name": bname, "ports": ["set", [["named-uuid", port]]]}})
        if draw(st.integers(0, 5)):
            ops.append({"op": "mutate", "table": "Open_vSwitch", "where": [],
                        "mutations": [["bridges", "insert", ["set", [["named-uuid", br]]]]]})
    else:
        bname = draw(st.sampled_from(NAMES["Bridge"]))
        ops.append({"op": "mutate", "table": "Bridge", "where": [["name", "==", bname]],
                    "mutations": [["ports", "insert", ["named-uuid", port]]]})
    return draw(st.permutations(ops))


@st.composite
def one_op(draw, names):
    kind = draw(st.sampled_from(
        ["insert"] * 3 + ["update"] * 3 + ["mutate"] * 3 + ["delete", "select", "select", "wait",
                                                             "comment", "abort", "bad", "ovs", "delbr"]))
    table = draw(st.sampled_from(list(COLUMNS)))
    if kind == "insert":
        op = {"op": "insert", "table": table, "row": draw(row(table, names.names))}
        if draw(st.integers(0, 2)):
            op["uuid-name"] = names.new()
        if draw(st.integers(0, 15)) == 0:
            op["uuid"] = draw(st.sampled_from(["aaaaaaaa-0000-0000-0000-000000000001", "not-a-uuid"]))
        return [op]
    if kind == "update":
        return [{"op": "update", "table": table, "where": draw(where(table, names.names)),
                 "row": draw(row(table, names.names, for_update=True))}]
    if kind == "mutate":
        muts = draw(st.lists(mutation(table, names.names), min_size=1, max_size=2))
        return [{"op": "mutate", "table": table, "where": draw(where(table, names.names)), "mutations": muts}]
    if kind == "delete":
        return [{"op": "delete", "table": table, "where": draw(where(table, names.names))}]
    if kind == "select":
        op = {"op": "select", "table": table, "where": draw(where(table, names.names))}
        if draw(st.booleans()):
            op["columns"] = draw(st.lists(st.sampled_from(COLUMNS[table] + ["_uuid"]), max_size=3, unique=True))
        return [op]
    if kind == "wait":
        op = {"op": "wait", "table": table, "timeout": 0, "where": draw(where(table, names.names)),
              "until": draw(st.sampled_from(["==", "!="]))}
        cols = draw(st.lists(st.sampled_from(COLUMNS[table]), max_size=2, unique=True))
        if draw(st.integers(0, 3)):
            op["columns"] = cols
        op["rows"] = draw(st.lists(st.fixed_dictionaries(
            {c: value(SCHEMA.tables[table].columns[c], table, names.names) for c in cols}), max_size=2))
        return [op]
    if kind == "comment":
        return [{"op": "comment", "comment": draw(st.sampled_from(["hello", ""]))}]
    if kind == "abort":
        return [{"op": "abort"}]
    if kind == "ovs":
        op = {"op": "insert", "table": "Open_vSwitch", "row": {}}
        if draw(st.booleans()):
            op["row"]["next_cfg"] = draw(st.integers(0, 3))
        return [op]
    if kind == "delbr":
        bname = draw(st.sampled_from(NAMES["Bridge"]))
        return [{"op": "mutate", "table": "Open_vSwitch", "where": [],
                 "mutations": [["bridges", "delete", ["uuid", f"@Bridge:{bname}"]]]}]
    return [draw(st.sampled_from([
        {"op": "frob"}, {"table": "Bridge"}, {"op": "insert", "table": "NoTable", "row": {}},
        {"op": "insert", "table": "Bridge", "row": {}, "uuid-name": "1bad"},
        {"op": "insert", "table": "Bridge", "row": {}, "extra": 1},
        {"op": "select", "table": "Port", "where": [], "columns": ["name", "name"]},
        {"op": "update", "table": "Port", "where": [], "row": {"name": "zz"}},
        {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["name", "insert", "x"]]},
        {"op": "insert", "table": "Port", "row": {"name": "p9", "interfaces": ["uuid", DANGLING]}},
        {"op": "insert", "table": "Port", "row": {"name": "p9", "trunks": ["set", list(range(4097))]}},
        {"op": "insert", "table": "Port", "row": {"name": "p9", "tag": ["set", [1, 2]]}},
        {"op": "wait", "table": "Bridge", "where": [], "until": "~", "rows": [], "timeout": 0},
        {"op": "commit", "durable": False}, {"op": "assert", "lock": "nolock"},
        "notanobject",
    ]))]


@st.composite
def transaction(draw):
    names = Names()
    ops = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 2)) == 0:
            ops.extend(draw(tree_ops(names)))
        else:
            ops.extend(draw(one_op(names)))
    # Duplicate uuid-name, now and then.
    if names.names and draw(st.integers(0, 20)) == 0:
        ops.append({"op": "insert", "table": "Queue", "row": {}, "uuid-name": names.names[0]})
    return ops


@st.composite
def scenario(draw):
    first = [{"op": "insert", "table": "Open_vSwitch", "row": {}, "uuid-name": "ovs"}]
    return [first] + draw(st.lists(transaction(), min_size=1, max_size=5))


# -- running and normalising ------------------------------------------------------

RESET = ["Open_vSwitch"] + [{"op": "delete", "table": t, "where": []} for t in TABLES]


def resolve(client, ops):
    """Replace ["uuid", "@Table:name"] placeholders with this server's UUIDs."""
    cache = {}

    def lookup(table, name):
        key = (table, name)
        if key not in cache:
            rows = []
            if "name" in SCHEMA.tables[table].columns:
                reply = client.call("transact", ["Open_vSwitch", {"op": "select", "table": table,
                                                                  "where": [["name", "==", name]],
                                                                  "columns": ["_uuid"]}])
                rows = reply["result"][0]["rows"]
            cache[key] = rows[0]["_uuid"][1] if rows else DANGLING
        return cache[key]

    def walk(j):
        if isinstance(j, list):
            if len(j) == 2 and j[0] == "uuid" and isinstance(j[1], str) and j[1].startswith("@"):
                table, name = j[1][1:].split(":", 1)
                return ["uuid", lookup(table, name)]
            return [walk(x) for x in j]
        if isinstance(j, dict):
            return {k: walk(v) for k, v in j.items()}
        return j
    return walk(ops)


def dump(client):
    ops = [{"op": "select", "table": t, "where": []} for t in TABLES]
    result = client.call("transact", ["Open_vSwitch", *ops])["result"]
    return {t: r["rows"] for t, r in zip(TABLES, result)}


INDEX_ROWS = re.compile(r"(First row, with UUID (\S+), (.*?\.))  (Second row, with UUID (\S+), (.*\.))$")


def canonical_index_error(text):
    """Open vSwitch names the row with the smaller UUID first, and with three
    or more rows sharing a value, which pair it reports depends on UUID hashes.
    Keep the descriptions (sorted), not the UUIDs; test_transaction.py checks
    the exact text of deterministic cases."""
    m = INDEX_ROWS.search(text)
    if not m:
        return text
    a, b = sorted([m.group(3), m.group(6)])
    return text[:m.start()] + f"First row, with UUID <row>, {a}  Second row, with UUID <row>, {b}"


class Normaliser:
    def __init__(self):
        self.names = {}

    def name(self, u):
        if u not in self.names:
            self.names[u] = f"U{len(self.names)}"
        return self.names[u]

    def first_pass(self, replies):
        for reply in replies:
            for r in reply.get("result") or []:
                if isinstance(r, dict) and set(r) == {"uuid"}:
                    self.name(r["uuid"][1])

    def __call__(self, j, key=None):
        if key == "_version":
            return "V"
        if isinstance(j, str):
            return UUID_RE.sub(lambda m: self.name(m.group(0)), canonical_index_error(j))
        if isinstance(j, list):
            out = [self(x) for x in j]
            if len(out) == 2 and out[0] in ("set", "map") and isinstance(out[1], list):
                out[1] = sorted(out[1], key=json.dumps)
            return out
        if isinstance(j, dict):
            out = {k: self(v, k) for k, v in j.items()}
            if set(out) == {"rows"} and isinstance(out["rows"], list):
                out["rows"] = sorted(out["rows"], key=lambda r: json.dumps(r, sort_keys=True))
            return out
        return j


def mask_commit_error(reply, n_ops):
    """A commit-time failure (the element after the N op results) is compared
    by its tag only: with several violations in one transaction, which one
    Open vSwitch reports depends on UUID hashes."""
    result = reply["result"]
    if isinstance(result, list) and len(result) == n_ops + 1 and isinstance(result[-1], dict):
        result[-1] = {"error": result[-1].get("error"), "details": "<commit failure>"}
    return reply


def run_scenario(client, txns):
    assert client.call("transact", RESET)["error"] is None
    replies = []
    for ops in txns:
        msg = client.call("transact", ["Open_vSwitch", *resolve(client, ops)])
        replies.append({"result": msg.get("result"), "error": msg.get("error")})
    d = dump(client)
    norm = Normaliser()
    norm.first_pass(replies)
    # Rows first seen in the dump are named in a canonical row order.
    for t in TABLES:
        d[t] = sorted(d[t], key=lambda r: json.dumps(norm({k: v for k, v in r.items() if k != "_uuid"}),
                                                      sort_keys=True))
    d = norm(d)
    for t in TABLES:
        d[t].sort(key=lambda r: json.dumps(r, sort_keys=True))
    return [mask_commit_error(norm(r), len(ops)) for r, ops in zip(replies, txns)], d


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(txns=scenario())
def test_same_replies_and_database(servers, txns):
    ours, ref = servers
    our_replies, our_dump = run_scenario(ours, txns)
    ref_replies, ref_dump = run_scenario(ref, txns)
    for i, (a, b) in enumerate(zip(our_replies, ref_replies)):
        assert a == b, f"transaction {i}: {json.dumps(txns[i])}\nours: {json.dumps(a)}\nref:  {json.dumps(b)}"
    for t in TABLES:
        assert our_dump[t] == ref_dump[t], (f"table {t} after {json.dumps(txns)}\n"
                                            f"ours: {json.dumps(our_dump[t])}\nref:  {json.dumps(ref_dump[t])}")
