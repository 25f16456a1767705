"""FlowTables: flow_mod semantics checked against ovs-vswitchd 3.1 behaviour
(observed with ovs-ofctl on a dummy bridge), plus a model-based hypothesis test."""
import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from ofproto import ofp
from ofproto import ofputil as U
from ofproto.flowtable import FlowTables
from ofproto.ofp.match import FlowMatch
from ofproto.ofp.parse import parse_flow


def spec(text, v=1, cmd=0, **kw):
    m = parse_flow(text, v, adding=cmd == 0).to_flow_mod(cmd)
    if kw:
        m = dataclasses.replace(m, **kw)
    return U.decode_flow_mod(m, table_id_ext=True)


def err(fn):
    with pytest.raises(ofp.OFPError) as e:
        fn()
    return e.value.name


def only(ft, table=0):
    rs = list(ft.rules(table))
    assert len(rs) == 1
    return rs[0]


def test_add_replace_keeps_counters_unless_reset_counts():
    ft = FlowTables()
    ft.apply(spec("priority=11,tcp,in_port=1,actions=output:2", 4), 0)
    r = only(ft)
    ft.credit(r, 2, 236, 1.0)
    res = ft.apply(spec("priority=11,tcp,in_port=1,actions=output:1", 4), 2.0)
    assert res.replaced is r
    r2 = only(ft)
    assert (r2.n_packets, r2.n_bytes, r2.created, r2.used) == (2, 236, 2.0, 1.0)
    ft.apply(spec("priority=11,tcp,in_port=1,actions=output:2", 1), 3.0)   # OF1.0: reset
    r3 = only(ft)
    assert (r3.n_packets, r3.used) == (0, 1.0)


def test_modify_semantics():
    ft = FlowTables()
    ft.apply(spec("priority=10,in_port=1,idle_timeout=5,send_flow_rem,actions=output:2", 4), 0)
    ft.apply(spec("priority=12,udp,in_port=1,actions=output:2", 4), 0)
    ft.apply(spec("priority=9,in_port=2,actions=output:2", 4), 0)
    for r in ft.rules():
        ft.credit(r, 1, 60, 0.5)
    res = ft.apply(spec("in_port=1,actions=output:3", 4, cmd=1), 2.0)
    assert len(res.modified) == 2
    for r in res.modified:
        assert r.created == 0 and r.modified == 2.0 and r.n_packets == 1
        assert r.ofpacts == (ofp.actions.Output10(port=3, max_len=0),)
    r10 = next(r for r in res.modified if r.priority == 10)
    assert r10.idle_timeout == 5 and "send_flow_rem" in r10.flags
    # reset_counts on the modify itself resets.
    res = ft.apply(spec("reset_counts,in_port=1,actions=output:3", 4, cmd=1,
                        flags=4), 3.0)
    assert all(r.n_packets == 0 for r in res.modified)
    # strict
    res = ft.apply(spec("priority=9,in_port=2,actions=drop", 4, cmd=2), 4.0)
    assert [r.priority for r in res.modified] == [9]


def test_modify_add_on_miss_by_version():
    ft = FlowTables()
    assert ft.apply(spec("in_port=3,cookie=0x5,actions=drop", 1, cmd=1), 0).added
    assert only(ft).cookie == 5 and "reset_counts" not in only(ft).flags
    assert ft.apply(spec("in_port=2,actions=drop", 2, cmd=1), 0).added
    res = ft.apply(spec("in_port=1,actions=drop", 3, cmd=1), 0)
    assert res.added is None and ft.n_rules == 2
    assert ft.apply(spec("priority=7,in_port=1,actions=drop", 1, cmd=2), 0).added


def test_of10_modify_changes_cookie_of13_filters_by_cookie():
    ft = FlowTables()
    ft.apply(spec("cookie=0x1,in_port=1,actions=drop", 4), 0)
    ft.apply(spec("cookie=0x2,in_port=2,actions=drop", 4), 0)
    res = ft.apply(spec("cookie=0x2/0xff,actions=output:3", 4, cmd=1), 1)
    assert [r.cookie for r in res.modified] == [2]
    ft.apply(spec("cookie=0x7,actions=drop", 1, cmd=1), 2)
    assert sorted(r.cookie for r in ft.rules()) == [7, 7]


def test_check_overlap():
    ft = FlowTables()
    ft.apply(spec("priority=7,in_port=1,actions=drop", 4), 0)
    # identical match+priority: not an overlap (replaced), as in OVS
    ft.apply(spec("check_overlap,priority=7,in_port=1,actions=output:2", 4, flags=2), 0)
    assert "check_overlap" in only(ft).flags
    assert err(lambda: ft.apply(spec("priority=7,ip,actions=output:2", 4, flags=2), 0)) == \
        "OFPFMFC_OVERLAP"
    ft.apply(spec("priority=8,ip,actions=output:2", 4, flags=2), 0)


def test_delete_filters_and_all_tables():
    ft = FlowTables()
    ft.apply(spec("table=0,in_port=1,actions=output:2", 4), 0)
    ft.apply(spec("table=3,in_port=1,actions=output:3", 4), 0)
    ft.apply(spec("table=3,in_port=2,actions=group:5", 4), 0)
    res = ft.apply(spec("table=255,out_port=3", 4, cmd=3), 1)
    assert [r.table_id for r, _ in res.deleted] == [3]
    assert ft.apply(spec("table=255,out_group=5", 4, cmd=3), 1).deleted[0][0].groups == {5}
    ft.apply(spec("table=0,in_port=1,priority=1", 4, cmd=4), 1)       # strict: no match
    assert ft.n_rules == 1
    ft.apply(spec("in_port=1", 1, cmd=3), 1)        # OF1.0 delete: table 0xff, out_port NONE
    assert ft.n_rules == 0


def test_table_ids():
    ft = FlowTables()
    assert err(lambda: ft.apply(spec("table=254,actions=drop", 4), 0)) == "OFPBRC_EPERM"
    ft.apply(spec("table=253,actions=drop", 4), 0)
    assert len(ft.table_stats()) == 254
    small = FlowTables(n_tables=4)
    assert err(lambda: small.apply(spec("table=9,actions=drop", 4), 0)) == \
        "OFPBRC_BAD_TABLE_ID"


def test_missing_group_and_meter_refused():
    ft = FlowTables()
    ft.groups, ft.meters = {1}, {2}
    assert err(lambda: ft.apply(spec("actions=group:99", 4), 0)) == "OFPBAC_BAD_OUT_GROUP"
    assert err(lambda: ft.apply(spec("actions=meter:9,output:2", 4), 0)) == \
        "OFPMMFC_INVALID_METER"
    ft.apply(spec("priority=1,actions=group:1", 4), 0)
    ft.apply(spec("priority=2,actions=meter:2,group:1", 4), 0)
    assert ft.group_ref_count(1) == 2 and ft.meter_flow_count(2) == 1
    ft.apply(spec("priority=2,actions=drop", 4, cmd=2), 0)
    assert ft.group_ref_count(1) == 1 and ft.meter_flow_count(2) == 0


def test_flow_limit_refuse_and_evict():
    ft = FlowTables()
    ft.tables[0].flow_limit = 2
    ft.apply(spec("in_port=1,actions=drop", 4), 0)
    ft.apply(spec("importance=5,in_port=2,actions=drop", 5), 0)
    assert err(lambda: ft.apply(spec("in_port=3,actions=drop", 4), 0)) == "OFPFMFC_TABLE_FULL"
    ft.apply(spec("in_port=2,actions=output:1", 4), 0)       # replacing needs no room
    ft.tables[0].overflow_policy = "evict"
    # Only rules with a timeout are evictable (OVS's eviction groups).
    assert err(lambda: ft.apply(spec("in_port=3,actions=drop", 4), 0)) == "OFPFMFC_TABLE_FULL"
    ft.apply(spec("hard_timeout=50,in_port=1,actions=drop", 4), 0)
    ft.apply(spec("importance=5,hard_timeout=10,in_port=2,actions=drop", 5), 0)
    res = ft.apply(spec("in_port=3,actions=drop", 4), 1)
    assert [(r.match.value("in_port"), why) for r, why in res.deleted] == \
        [(1, U.OFPRR_EVICTION)]


def test_expire_idle_and_hard():
    ft = FlowTables()
    ft.apply(spec("idle_timeout=5,in_port=1,actions=drop", 4), 0)
    ft.apply(spec("hard_timeout=3,in_port=2,actions=drop", 4), 0)
    ft.apply(spec("in_port=3,actions=drop", 4), 0)
    assert ft.next_timeout() == 3
    idle = next(r for r in ft.rules() if r.idle_timeout)
    ft.credit(idle, 1, 60, 2.0)
    assert [(r.hard_timeout, why) for r, why in ft.expire(3.0)] == [(3, U.OFPRR_HARD_TIMEOUT)]
    assert ft.expire(6.9) == []
    assert [why for _, why in ft.expire(7.0)] == [U.OFPRR_IDLE_TIMEOUT]
    assert ft.n_rules == 1 and ft.next_timeout() is None


def test_lookup_counts():
    ft = FlowTables()
    ft.apply(spec("in_port=1,actions=drop", 4), 0)
    wc = {}
    assert ft.lookup(0, {"in_port": 1}, wc) is not None and wc.get("in_port")
    assert ft.lookup(0, {"in_port": 2}) is None
    assert ft.table_stats()[0] == (0, 1, 2, 1)


def test_collect():
    ft = FlowTables()
    ft.apply(spec("table=1,cookie=0x10,ip,nw_dst=10.0.0.1,actions=output:2", 4), 0)
    ft.apply(spec("table=2,cookie=0x20,ip,actions=output:3", 4), 0)
    req = U.FlowStatsRequest(match=FlowMatch.exact(dl_type=0x800))
    assert len(ft.collect(req)) == 2
    assert len(ft.collect(dataclasses.replace(req, table_id=2))) == 1
    assert len(ft.collect(dataclasses.replace(req, cookie=0x10, cookie_mask=0xF0))) == 1
    assert len(ft.collect(dataclasses.replace(req, out_port=3))) == 1


# ---------------------------------------------------------------- model test
PORTS = st.integers(1, 3)
OPS = st.tuples(st.sampled_from(["add", "modify", "modify_strict", "delete", "delete_strict"]),
                st.sampled_from([None, 1, 2]),            # in_port or wildcard
                st.sampled_from([1, 2]),                   # priority
                PORTS, st.integers(0, 3))                  # out port / cookie


@settings(max_examples=150, deadline=None)
@given(st.lists(OPS, max_size=25), st.sampled_from([1, 4]))
def test_apply_matches_simple_model(ops, version):
    ft = FlowTables()
    model = {}                        # (in_port, prio) -> (out, cookie)
    for cmd, port, prio, out, cookie in ops:
        match = "" if port is None else f"in_port={port},"
        text = f"priority={prio},{match}cookie={cookie},actions=output:{out}"
        c = U.COMMANDS.index(cmd)
        s = U.decode_flow_mod(parse_flow(text if c < 3 else text.split(",actions")[0],
                                         version, adding=c == 0).to_flow_mod(c),
                              table_id_ext=True)
        ft.apply(s, 0)

        def sel(k, strict):
            if strict:
                return k == (port, prio)
            return port is None or k[0] == port
        if cmd == "add":
            model[(port, prio)] = (out, cookie)
        elif cmd.startswith("modify"):
            hit = [k for k in model if sel(k, cmd.endswith("strict"))]
            for k in hit:
                model[k] = (out, cookie if version == 1 else model[k][1])
            if not hit and version == 1:
                model[(port, prio)] = (out, cookie)
        else:
            for k in [k for k in model if sel(k, cmd.endswith("strict"))]:
                del model[k]
        got = {(r.match.value("in_port"), r.priority): (r.ofpacts[0].port, r.cookie)
               for r in ft.rules()}
        assert got == model
