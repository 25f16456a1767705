"""The megaflow cache, with a linear-scan slow path as its oracle."""

import errno

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from datapath.megaflow import FlowPutError, MegaflowCache

OUT1 = (("output", 1),)
OUT2 = (("output", 2),)


# -- a stand-in slow path: linear scan that reports the bits it examined ------------
def slow_path(rules, flow):
    """First matching rule by priority; the mask is every bit of every rule
    consulted (in_port always), as the classifier's wildcard accumulator."""
    mask = {"in_port": 0xFFFFFFFF}
    g = flow.get
    for _prio, match, actions in rules:
        hit = True
        for m, (v, mk) in match.items():
            mask[m] = mask.get(m, 0) | mk
            if g(m, 0) & mk != v & mk:
                hit = False
        if hit:
            return actions, mask
    return (), mask


def sort_rules(rules):
    return sorted(rules, key=lambda r: -r[0])


# -- unit tests ------------------------------------------------------------------------
def test_put_lookup_hit_and_miss():
    c = MegaflowCache()
    f = {"in_port": 1, "dl_type": 0x800, "nw_dst": 0x0A000001, "tp_dst": 80}
    mf = c.put(f, {"nw_dst": 0xFFFFFF00}, OUT2, now=5)
    assert mf.key == {"in_port": 1, "nw_dst": 0x0A000000}
    assert mf.mask == {"in_port": 0xFFFFFFFF, "nw_dst": 0xFFFFFF00}
    assert c.lookup(dict(f, nw_dst=0x0A0000FE, tp_dst=22)) is mf
    assert c.lookup(dict(f, nw_dst=0x0A000101)) is None
    assert c.lookup(dict(f, in_port=2)) is None       # in_port always exact
    assert len(c) == 1 and c.n_masks == 1


def test_absent_member_reads_zero():
    c = MegaflowCache()
    mf = c.put({"in_port": 1}, {"tp_dst": 0xFFFF}, OUT1, 0)
    assert mf.key["tp_dst"] == 0
    assert c.lookup({"in_port": 1, "dl_type": 0x806}) is mf
    assert c.lookup({"in_port": 1, "tp_dst": 1}) is None


def test_overlapping_put_refused_eexist():
    c = MegaflowCache()
    f = {"in_port": 1, "nw_dst": 7, "tp_dst": 80}
    c.put(f, {"nw_dst": 0xFFFFFFFF}, OUT1, 0)
    with pytest.raises(FlowPutError) as e:
        c.put(f, {"tp_dst": 0xFFFF}, OUT2, 0)          # different mask, same flow
    assert e.value.errno == errno.EEXIST
    with pytest.raises(FlowPutError) as e:
        c.put(f, {"nw_dst": 0xFFFFFFFF}, OUT2, 0)      # identical
    assert e.value.errno == errno.EEXIST
    # a partially overlapping region that does not cover the flow is accepted
    c.put(dict(f, nw_dst=8), {"tp_dst": 0xFFFF}, OUT1, 0)
    assert len(c) == 2


def test_duplicate_ufid_and_modify():
    c = MegaflowCache()
    f = {"in_port": 1, "nw_dst": 7}
    mf = c.put(f, {"nw_dst": 0xFFFFFFFF}, OUT1, 0, ufid="u1")
    mf.packets = 3
    with pytest.raises(FlowPutError) as e:
        c.put({"in_port": 1, "nw_dst": 9}, {"nw_dst": 0xFFFFFFFF}, OUT1, 0, ufid="u1")
    assert e.value.errno == errno.EEXIST
    same = c.put(f, {"nw_dst": 0xFFFFFFFF}, OUT2, 0, modify=True)
    assert same is mf and mf.actions == OUT2 and mf.packets == 3
    with pytest.raises(FlowPutError) as e:
        c.put(f, {"nw_dst": 0xFFFFFF00}, OUT2, 0, modify=True)
    assert e.value.errno == errno.EINVAL
    assert c.get("u1") is mf


def test_delete_and_flush():
    c = MegaflowCache()
    a = c.put({"in_port": 1, "nw_dst": 1}, {"nw_dst": 0xFF}, OUT1, 0)
    b = c.put({"in_port": 1, "nw_dst": 2}, {"nw_dst": 0xFF}, OUT2, 0)
    assert c.delete(a.ufid) is a and a.dead
    with pytest.raises(FlowPutError) as e:
        c.delete(a)
    assert e.value.errno == errno.ENOENT
    assert c.lookup({"in_port": 1, "nw_dst": 1}) is None
    assert c.lookup({"in_port": 1, "nw_dst": 2}) is b
    assert c.find({"in_port": 1, "nw_dst": 2}, {"nw_dst": 0xFF}) is b
    assert c.flush() == [b] and b.dead and len(c) == 0 and c.n_subtables == 0


def test_flow_limit_refuses_enospc():
    c = MegaflowCache(flow_limit=3)
    for i in range(3):
        c.put({"in_port": 1, "tp_dst": i}, {"tp_dst": 0xFFFF}, OUT1, 0)
    with pytest.raises(FlowPutError) as e:
        c.put({"in_port": 1, "tp_dst": 9}, {"tp_dst": 0xFFFF}, OUT1, 0)
    assert e.value.errno == errno.ENOSPC
    assert len(c) == 3


def test_idle_expiry():
    c = MegaflowCache(max_idle=10_000)
    old = c.put({"in_port": 1, "tp_dst": 1}, {"tp_dst": 0xFFFF}, OUT1, now=0)
    used = c.put({"in_port": 1, "tp_dst": 2}, {"tp_dst": 0xFFFF}, OUT1, now=0)
    used.used = 8_000
    assert c.expire(10_000) == []                      # not *more* than max_idle
    assert c.expire(10_001) == [old]
    assert old.dead and c.lookup({"in_port": 1, "tp_dst": 1}) is None
    assert c.expire(18_001) == [used]
    assert len(c) == 0


def test_emc_front_ignores_dead_megaflows():
    c = MegaflowCache(emc_max=2)
    mf = c.put({"in_port": 1}, {}, OUT1, 0)
    c.emc_insert("k", mf)
    assert c.emc_lookup("k") is mf
    c.delete(mf)
    assert c.emc_lookup("k") is None
    for k in "abc":
        c.emc_insert(k, mf)
    assert len(c.emc) <= 2


def test_optimize_sorts_subtables_by_hits():
    c = MegaflowCache()
    c.put({"in_port": 1, "nw_src": 1}, {"nw_src": 0xFF}, OUT1, 0)
    hot = c.put({"in_port": 1, "tp_dst": 5}, {"tp_dst": 0xFFFF}, OUT2, 0)
    for _ in range(3):
        assert c.lookup({"in_port": 1, "tp_dst": 5}) is hot
    c.optimize()
    assert c._ports[1][0] is hot._table


def test_revalidate_keep_modify_delete_and_widened():
    c = MegaflowCache()
    keep = c.put({"in_port": 1, "tp_dst": 1}, {"tp_dst": 0xFFFF}, OUT1, 0)
    mod = c.put({"in_port": 1, "tp_dst": 2}, {"tp_dst": 0xFFFF}, OUT1, 0)
    gone = c.put({"in_port": 1, "tp_dst": 3}, {"tp_dst": 0xFFFF}, OUT1, 0)
    wide = c.put({"in_port": 1, "tp_dst": 4}, {"tp_dst": 0xFFFF}, OUT1, 0)
    narrower = c.put({"in_port": 1, "tp_dst": 5}, {"tp_dst": 0xFFFF}, OUT1, 0)

    def fn(mf):
        t = mf.key["tp_dst"]
        return {1: (OUT1, {"tp_dst": 0xFFFF}), 2: OUT2, 3: None,
                4: (OUT1, {"tp_dst": 0xFFFF, "nw_src": 1}),
                5: (OUT2, {"tp_dst": 0xFF00})}[t]

    deleted, modified = c.revalidate(fn)
    assert set(map(id, deleted)) == {id(gone), id(wide)}
    assert set(map(id, modified)) == {id(mod), id(narrower)}
    assert keep.actions == OUT1 and mod.actions == OUT2
    assert narrower.mask["tp_dst"] == 0xFFFF            # installed mask kept
    assert len(c) == 3


# -- the megaflow contract, as a property ------------------------------------------------
MEMBERS = {"in_port": 2, "dl_type": 1, "nw_src": 4, "nw_dst": 4, "nw_proto": 2,
           "tp_dst": 4}                 # member -> bits used (small: collisions)
_DL = (0x0800, 0x0806)


def flows():
    return st.fixed_dictionaries({
        "in_port": st.integers(1, 3),
        "dl_type": st.sampled_from(_DL),
        "nw_src": st.integers(0, 15),
        "nw_dst": st.integers(0, 15),
        "nw_proto": st.sampled_from((6, 17)),
        "tp_dst": st.integers(0, 15),
    })


@st.composite
def rules(draw):
    n = draw(st.integers(0, 6))
    out = []
    for i in range(n):
        members = draw(st.lists(st.sampled_from(sorted(MEMBERS)), max_size=3, unique=True))
        match = {}
        for m in members:
            if m == "dl_type":
                match[m] = (draw(st.sampled_from(_DL)), 0xFFFF)
            else:
                bits = MEMBERS[m] + 1
                match[m] = (draw(st.integers(0, (1 << bits) - 1)),
                            draw(st.integers(1, (1 << bits) - 1)))
        out.append((draw(st.integers(0, 5)), match, (("output", 10 + i),)))
    return sort_rules(out)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(rules(), rules(), st.lists(flows(), min_size=1, max_size=40),
       st.lists(flows(), min_size=1, max_size=40))
def test_megaflow_contract(rules1, rules2, pkts1, pkts2):
    c = MegaflowCache()
    now = 0

    def forward(rs, flow):
        mf = c.lookup(flow)
        if mf is None:
            actions, mask = slow_path(rs, flow)
            c.put(flow, mask, actions, now)
            return actions
        return mf.actions

    for f in pkts1 + pkts1:
        assert forward(rules1, f) == slow_path(rules1, f)[0]
    # rules change underneath; revalidate re-translates each megaflow's key
    c.revalidate(lambda mf: slow_path(rules2, mf.key))
    for mf in c.dump():
        assert not mf.dead
    for f in pkts1 + pkts2 + pkts2:
        assert forward(rules2, f) == slow_path(rules2, f)[0]
    assert len(c) <= len({tuple(sorted(f.items())) for f in pkts1 + pkts2})
