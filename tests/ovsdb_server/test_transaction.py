"""Deterministic tests of the transaction engine (no server, no I/O).

Expected texts are ovsdb-server 3.1's (docs/ovsdb-server-behaviour.md §4-5);
test_differential.py compares the engine with a real ovsdb-server at random.
"""
from __future__ import annotations

import pytest

from ovsdb_server.database import Database
from ovsdb_server.schema import load_vswitch_schema
from ovsdb_server.transaction import execute

SCHEMA = load_vswitch_schema()
U1 = "11111111-1111-1111-1111-111111111111"
U2 = "22222222-2222-2222-2222-222222222222"
DANGLING = "11111111-2222-3333-4444-555555555555"


def txn(db, *ops):
    return execute(db, list(ops)).results


def ok(db, *ops):
    results = txn(db, *ops)
    assert all(r is not None and "error" not in r for r in results), results
    return results


def rows(db, table):
    return list(db.tables[table].values())


def by_name(db, table, name):
    return [u for u, r in db.tables[table].items() if r["name"] == (name,)]


def add_br(name, ports=(), *, root=True, bridge_uuid=None):
    """ovs-vsctl add-br: Interface + Port + Bridge (+ Open_vSwitch.bridges)."""
    ops = []
    port_refs = []
    for p in (name, *ports):
        ops.append({"op": "insert", "table": "Interface", "uuid-name": f"i_{p}", "row": {"name": p}})
        ops.append({"op": "insert", "table": "Port", "uuid-name": f"p_{p}",
                    "row": {"name": p, "interfaces": ["named-uuid", f"i_{p}"]}})
        port_refs.append(["named-uuid", f"p_{p}"])
    br = {"op": "insert", "table": "Bridge", "uuid-name": f"b_{name}",
          "row": {"name": name, "ports": ["set", port_refs]}}
    if bridge_uuid:
        br["uuid"] = bridge_uuid
    ops.append(br)
    if root:
        ops.append({"op": "mutate", "table": "Open_vSwitch", "where": [],
                    "mutations": [["bridges", "insert", ["set", [["named-uuid", f"b_{name}"]]]]]})
    return ops


@pytest.fixture
def db():
    d = Database(SCHEMA)
    ok(d, {"op": "insert", "table": "Open_vSwitch", "row": {}})
    return d


# -- garbage collection and weak references ---------------------------------------

def test_unreferenced_bridge_is_collected_before_index_check(db):
    ok(db, *add_br("br0"))
    # A second, unreferenced "br0" is GC'd at commit, so no index conflict.
    results = ok(db, {"op": "insert", "table": "Bridge", "row": {"name": "br0"}})
    assert len(results) == 1
    assert len(rows(db, "Bridge")) == 1


def test_del_br_cascades_through_ports_and_interfaces(db):
    ok(db, *add_br("br0", ["p1", "p2"]))
    assert (len(rows(db, "Bridge")), len(rows(db, "Port")), len(rows(db, "Interface"))) == (1, 3, 3)
    [br] = by_name(db, "Bridge", "br0")
    ok(db, {"op": "mutate", "table": "Open_vSwitch", "where": [],
            "mutations": [["bridges", "delete", ["uuid", br]]]})
    assert (rows(db, "Bridge"), rows(db, "Port"), rows(db, "Interface")) == ([], [], [])
    assert db.refcount == {}


def test_weak_reference_dropped_when_port_goes_away(db):
    ok(db, *add_br("br0", ["p1"]))
    [p1] = by_name(db, "Port", "p1")
    [br] = by_name(db, "Bridge", "br0")
    ok(db, {"op": "insert", "table": "Mirror", "uuid-name": "m",
            "row": {"name": "m0", "select_src_port": ["uuid", p1]}},
       {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["mirrors", "insert", ["named-uuid", "m"]]]})
    [mirror] = rows(db, "Mirror")
    assert mirror["select_src_port"] == (p1,)
    ports = [u for u in db.tables["Bridge"][br]["ports"] if u != p1]
    ok(db, {"op": "update", "table": "Bridge", "where": [],
            "row": {"ports": ["set", [["uuid", u] for u in ports]]}})
    [mirror] = rows(db, "Mirror")
    assert mirror["select_src_port"] == ()
    assert by_name(db, "Port", "p1") == []


def test_weak_reference_to_missing_row_dropped_on_insert(db):
    ok(db, *add_br("br0"))
    ok(db, {"op": "insert", "table": "Mirror", "uuid-name": "m",
            "row": {"name": "m0", "select_src_port": ["uuid", DANGLING]}},
       {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["mirrors", "insert", ["named-uuid", "m"]]]})
    assert rows(db, "Mirror")[0]["select_src_port"] == ()


# -- index conflicts --------------------------------------------------------------

INDEX = ('Transaction causes multiple rows in "Bridge" table to have identical values (br0) for index on '
         'column "name".  First row, with UUID {a}, {da}  Second row, with UUID {b}, {db}')
EXISTED = "existed in the database before this transaction and was not modified by the transaction."
INSERTED = "was inserted by this transaction."


def insert_bridge(name, uuid, tag):
    return [{"op": "insert", "table": "Bridge", "uuid-name": tag, "uuid": uuid, "row": {"name": name}},
            {"op": "mutate", "table": "Open_vSwitch", "where": [],
             "mutations": [["bridges", "insert", ["named-uuid", tag]]]}]


def test_index_conflict_inserted_vs_existing(db):
    ok(db, *insert_bridge("br0", U2, "a"))
    ops = insert_bridge("br0", U1, "b")
    results = txn(db, *ops)
    assert results[:2] == [{"uuid": ["uuid", U1]}, {"count": 1}]
    # The existing row is named first, as ovsdb-server does (checked against 3.1).
    assert results[2:] == [{"error": "constraint violation",
                            "details": INDEX.format(a=U2, da=EXISTED, b=U1, db=INSERTED)}]


def test_index_conflict_two_inserted_rows_greater_uuid_first(db):
    # duplicate_index_row orders the rows by comparing every column in
    # ovsdb-server's column order; rows equal but for _uuid: the greater first
    # (checked against ovsdb-server 3.1).
    assert U1 < U2
    results = txn(db, *insert_bridge("br0", U1, "a"), *insert_bridge("br0", U2, "b"))
    assert results[-1]["details"] == INDEX.format(a=U2, da=INSERTED, b=U1, db=INSERTED)
    assert rows(db, "Bridge") == []


def test_index_conflict_with_modified_rows(db):
    ok(db, *add_br("br0", ["p1"]))
    # Port names are immutable, so a modified row's index values cannot change;
    # a modified row holding the value is described as modified elsewhere.
    [p1] = by_name(db, "Port", "p1")
    results = txn(db, {"op": "update", "table": "Port", "where": [["name", "==", "p1"]], "row": {"tag": 5}},
                  {"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": "q"}},
                  {"op": "insert", "table": "Port", "uuid-name": "p", "uuid": U1,
                   "row": {"name": "p1", "interfaces": ["named-uuid", "i"]}},
                  {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["ports", "insert", ["named-uuid", "p"]]]})
    detail = results[-1]["details"]
    assert detail.startswith('Transaction causes multiple rows in "Port" table to have identical values (p1)')
    assert ("existed in the database before this transaction, which modified some of the row's columns but "
            "not any columns in this index.") in detail
    assert f"with UUID {U1}, was inserted by this transaction." in detail
    # duplicate_index_row names the greater row first, comparing the columns in
    # ovsdb-server's order: for Port, "_uuid" comes before the first column in which
    # the rows differ ("tag"), so the greater uuid (p1's is random) is named first.
    order = db.schema.tables["Port"].ovs_column_order
    assert order.index("_uuid") < order.index("tag") and order.index("_uuid") < order.index("interfaces")
    assert (detail.index(p1) < detail.index(U1)) == (str(p1) > U1)


# -- maxRows and referential integrity ----------------------------------------------

def test_max_rows(db):
    results = txn(db, {"op": "insert", "table": "Open_vSwitch", "row": {}})
    assert results[1] == {"error": "constraint violation", "details":
                          'transaction causes "Open_vSwitch" table to contain 2 rows, greater than the '
                          "schema-defined limit of 1 row(s)"}


def test_dangling_strong_reference(db):
    results = txn(db, {"op": "insert", "table": "Port", "uuid": U1,
                       "row": {"name": "p", "interfaces": ["uuid", DANGLING]}},
                  {"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": []})
    assert results[-1] == {"error": "referential integrity violation", "details":
                           f"Table Port column interfaces row {U1} references nonexistent row {DANGLING} "
                           "in table Interface."}


def test_delete_referenced_row(db):
    ok(db, *add_br("br0"))
    [iface] = by_name(db, "Interface", "br0")
    results = txn(db, {"op": "delete", "table": "Interface", "where": []})
    assert results == [{"count": 1}, {"error": "referential integrity violation", "details":
                                       f"cannot delete Interface row {iface} because of 1 remaining reference(s)"}]
    assert len(rows(db, "Interface")) == 1


def test_named_uuid_never_inserted_is_dangling(db):
    results = txn(db, {"op": "insert", "table": "QoS", "row": {"queues": ["map", [[0, ["named-uuid", "q"]]]]}})
    assert results[-1]["error"] == "referential integrity violation"
    assert "in table Queue." in results[-1]["details"]


# -- named-uuid ------------------------------------------------------------------

def test_forward_named_uuid_reference(db):
    ok(db, {"op": "insert", "table": "QoS", "row": {"queues": ["map", [[0, ["named-uuid", "q"]]]]}},
       {"op": "insert", "table": "Queue", "uuid-name": "q", "row": {"dscp": 5}})
    [qos] = rows(db, "QoS")
    [(qid, queue)] = db.tables["Queue"].items()
    assert qos["queues"] == ((0, qid),)


def test_named_uuid_in_where_clause(db):
    # ovsdbapp add_br: mutate the new Bridge by named-uuid, port inserted later.
    ok(db, {"op": "insert", "table": "Bridge", "uuid-name": "b", "row": {"name": "br0"}},
       {"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", ["named-uuid", "b"]]],
        "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]]]},
       {"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["bridges", "insert", ["named-uuid", "b"]]]},
       {"op": "insert", "table": "Port", "uuid-name": "p", "row": {"name": "br0", "interfaces": ["named-uuid", "i"]}},
       {"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": "br0", "type": "internal"}})
    [br] = rows(db, "Bridge")
    assert br["ports"] == tuple(db.tables["Port"])


def test_duplicate_uuid_name(db):
    results = txn(db, {"op": "insert", "table": "Queue", "uuid-name": "x", "row": {}},
                  {"op": "insert", "table": "Queue", "uuid-name": "x", "row": {}})
    assert results[1] == {"error": "duplicate uuid-name", "details":
                          'This "uuid-name" appeared on an earlier "insert" operation.', "syntax": '"x"'}


# -- mutate --------------------------------------------------------------------------

def test_map_delete_then_insert_in_one_mutate(db):
    ok(db, {"op": "mutate", "table": "Open_vSwitch", "where": [],
            "mutations": [["external_ids", "insert", ["map", [["k", "old"], ["a", "1"]]]]]})
    # python-ovs setkey: delete the key, then insert the new pair.
    ok(db, {"op": "mutate", "table": "Open_vSwitch", "where": [],
            "mutations": [["external_ids", "delete", ["set", ["k"]]],
                          ["external_ids", "insert", ["map", [["k", "new"]]]]]})
    assert rows(db, "Open_vSwitch")[0]["external_ids"] == (("a", "1"), ("k", "new"))
    # insert does not replace an existing key; delete by pair needs the value to match.
    ok(db, {"op": "mutate", "table": "Open_vSwitch", "where": [],
            "mutations": [["external_ids", "insert", ["map", [["k", "other"]]]],
                          ["external_ids", "delete", ["map", [["a", "2"]]]]]})
    assert rows(db, "Open_vSwitch")[0]["external_ids"] == (("a", "1"), ("k", "new"))


@pytest.mark.parametrize("mutation, error", [
    (["next_cfg", "/=", 0], {"error": "domain error", "details": "Division by zero."}),
    (["next_cfg", "+=", 2**63 - 1], None),
    (["next_cfg", "insert", 1], {"error": "syntax error", "details":
                                 'Type mismatch: "insert" operator may not be applied to column next_cfg of type '
                                 'integer.', "syntax": '["next_cfg","insert",1]'}),
    (["ovs_version", "insert", ["set", ["a", "b"]]], {"error": "syntax error", "details":
                                                     "set must have 0 to 1 members but 2 are present",
                                                     "syntax": '["set",["a","b"]]'}),
    (["next_cfg", "frob", 1], {"error": "unknown mutator", "details": "No mutator named frob."}),
])
def test_mutate_errors(db, mutation, error):
    results = txn(db, {"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [mutation]})
    if error is None:
        assert results == [{"count": 1}]
    else:
        assert results == [error]


def test_mutate_range_and_duplicates(db):
    ok(db, {"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["next_cfg", "+=", 2**63 - 1]]})
    assert txn(db, {"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["next_cfg", "+=", 1]]}) \
        == [{"error": "range error", "details": 'Result of "+=" operation is out of range.'}]
    ok(db, *add_br("br0"))
    ok(db, {"op": "update", "table": "Bridge", "where": [], "row": {"flood_vlans": ["set", [1, 2]]}})
    assert txn(db, {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["flood_vlans", "*=", 0]]}) \
        == [{"error": "constraint violation", "details": 'Result of "*=" operation contains duplicates.'}]
    assert txn(db, {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["flood_vlans", "+=", 4095]]}) \
        == [{"error": "constraint violation", "details": "4096 is not in the valid range 0 to 4095 (inclusive)"}]


# -- wait ------------------------------------------------------------------------------

def wait(until, rows_, columns=("next_cfg",), where=()):
    op = {"op": "wait", "table": "Open_vSwitch", "timeout": 0, "where": list(where), "until": until,
          "rows": rows_}
    if columns is not None:
        op["columns"] = list(columns)
    return op


FAILED = {"error": "timed out", "details": '"where" clause test failed'}


def test_wait_equal_and_not_equal(db):
    assert txn(db, wait("==", [{"next_cfg": 0}])) == [{}]
    assert txn(db, wait("!=", [{"next_cfg": 0}])) == [FAILED]
    assert txn(db, wait("==", [{"next_cfg": 1}])) == [FAILED]
    assert txn(db, wait("!=", [{"next_cfg": 1}])) == [{}]
    # Sets of rows: duplicates in "rows" do not matter.
    assert txn(db, wait("==", [{"next_cfg": 0}, {"next_cfg": 0}])) == [{}]
    assert txn(db, wait("==", [], where=[["next_cfg", "==", 7]])) == [{}]


def test_wait_without_columns_compares_uuid_and_version(db):
    # No "columns" means all of them, _uuid and _version included.
    assert txn(db, wait("==", [{}], columns=None)) == [FAILED]
    assert txn(db, wait("==", [], columns=None, where=[False])) == [{}]


def test_wait_sees_earlier_ops(db):
    assert txn(db, {"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["next_cfg", "+=", 1]]},
               wait("==", [{"next_cfg": 1}])) == [{"count": 1}, {}]


# -- select ------------------------------------------------------------------------------

def test_select_projection_and_distinct(db):
    ok(db, *add_br("br0", ["p1"]))
    r = txn(db, {"op": "select", "table": "Port", "where": [], "columns": ["name"]})[0]
    assert sorted(r["rows"], key=str) == [{"name": "br0"}, {"name": "p1"}]
    # Rows equal in the selected columns come back once (ovsdb_query_distinct).
    assert txn(db, {"op": "select", "table": "Port", "where": [], "columns": []}) == [{"rows": [{}]}]
    r = txn(db, {"op": "select", "table": "Port", "where": [["name", "==", "p1"]]})[0]
    assert set(r["rows"][0]) == {"_uuid", "_version"} | set(SCHEMA.tables["Port"].columns)


def test_select_conditions(db):
    ok(db, *add_br("br0", ["p1", "p2"]))
    ok(db, {"op": "update", "table": "Port", "where": [["name", "==", "p1"]], "row": {"tag": 10}})

    def names(*where):
        r = txn(db, {"op": "select", "table": "Port", "where": list(where), "columns": ["name"]})[0]
        return sorted(x["name"] for x in r["rows"])
    assert names(["tag", "<", 11]) == ["p1"]
    assert names(["tag", ">=", 11]) == []
    assert names(["tag", "==", ["set", []]]) == ["br0", "p2"]
    assert names(["tag", "!=", 10]) == ["br0", "p2"]
    assert names(["tag", "includes", 10]) == ["p1"]
    assert names(["tag", "excludes", 10]) == ["br0", "p2"]
    assert names(["name", "!=", "br0"], True) == ["p1", "p2"]
    assert names(False) == []
    assert txn(db, {"op": "select", "table": "Port", "where": [["name", "<", "z"]]}) == [{
        "error": "syntax error", "syntax": '["name","<","z"]',
        "details": 'Type mismatch: "<" operator may not be applied to column name of type string.'}]
    assert txn(db, {"op": "select", "table": "Port", "where": [["name", "~~", "z"]]}) == [{
        "error": "unknown function", "details": "No function named ~~."}]


# -- result array shapes -------------------------------------------------------------------

def test_results_on_op_failure_and_commit_failure(db):
    assert txn(db, {"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["next_cfg"]},
               {"op": "abort"}, {"op": "comment", "comment": "x"}) == [
        {"rows": [{"next_cfg": 0}]}, {"error": "aborted", "details": "aborted by request"}, None]
    results = txn(db, {"op": "insert", "table": "Open_vSwitch", "row": {}}, {"op": "comment", "comment": "c"})
    assert len(results) == 3 and results[1] == {} and results[2]["error"] == "constraint violation"
    assert len(rows(db, "Open_vSwitch")) == 1


def test_bad_values(db):
    def insert_port(row):
        return txn(db, {"op": "insert", "table": "Port", "row": {"name": "p", **row}})[0]
    assert insert_port({"tag": "abc"}) == {"error": "syntax error", "details": "expected integer",
                                           "syntax": '"abc"'}
    assert insert_port({"tag": 5000}) == {"error": "constraint violation",
                                          "details": "5000 is not in the valid range 0 to 4095 (inclusive)"}
    assert insert_port({"tag": ["set", [1, 2]]}) == {"error": "syntax error", "details":
                                                     "set must have 0 to 1 members but 2 are present",
                                                     "syntax": '["set",[1,2]]'}
    assert insert_port({"nocol": 1}) == {"error": "unknown column", "details": "No column nocol in table Port.",
                                         "syntax": '{"name":"p","nocol":1}'}
    assert insert_port({"tag": None})["syntax"] == "null"
    assert txn(db, {"op": "update", "table": "Port", "where": [], "row": {"name": "q"}})[0]["details"] == \
        "Cannot update immutable column name in table Port."
