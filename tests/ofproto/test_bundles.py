"""Bundles of flow_mods: the BUNDLE_ADD fast path and commits undone exactly.

* A bundle whose ADDs take the connection's fast path (bytes -> FlowModSpec,
  ofconn._bundle_add_fast) gives the replies, errors and tables the general
  path (every message decoded as an object) gives, for OF1.4's
  BUNDLE_ADD_MESSAGE and ONF's OF1.3 form; the commit decodes nothing again
  and copies nothing when the bundle has only flow_mods.
* A commit that fails in the middle leaves the complete state as it was:
  the same rule objects with the same counters, times, flags, cached
  encodings, group/meter/timeout indexes, classifier order (subtables,
  values-tuples, tries), groups and meters, and nobody gets a FLOW_REMOVED.
  Checked for deletes, delete-all, modifies, replacing adds, evictions,
  group and meter deletes before a failing message (missing group, full
  table, check_overlap, read-only table), against tables that already hold
  many rules, and as a property over random flow_mod sequences; a commit
  that succeeds equals the same messages sent one by one.
"""
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ofproto import handlers_flow, ofp
from ofproto import ofconn as oc
from ofproto.ofp import actions as A
from ofproto.ofp import messages as M
from ofproto.ofp import multipart as MP
from ofproto.ofp import nicira as NX
from ofproto.ofp.groups import Bucket, GroupMod, MeterBand, MeterMod
from ofproto.ofp.parse import parse_flow
from ofproto.ofproto import OFProto

from .test_ofconn import Peer, err, make_bridge

V13, V14 = 4, 5
NOW = 2.0
FULL, EVICT = 5, 6                     # tables with a flow limit: refuse / evict
LIMIT = 6
TEMPLATES = [
    "priority=10,in_port={p},dl_src=02:00:00:00:{a:02x}:{b:02x},actions=output:2",
    "priority=20,ip,nw_src=10.0.{a}.{b},nw_dst=172.16.{a}.0/24,actions=output:2",
    "priority=30,tcp,nw_dst=10.1.{a}.{b},tp_dst={port},actions=mod_tp_dst:80,output:3",
    "table=1,priority=40,udp,nw_src=10.2.{a}.{b},tp_dst=53,"
    "actions=mod_dl_dst:02:00:00:00:00:01,output:1",
    "table=2,priority=50,ipv6,ipv6_src=2001:db8::{a:x}:{b:x},actions=output:4",
    "table=3,priority=60,metadata=0x{i:x},reg0=0x{i:x},actions=output:1",
]


def flow(i, k=None):
    k = i % len(TEMPLATES) if k is None else k
    return TEMPLATES[k].format(i=i, p=1 + i % 4, a=(i >> 8) & 0xFF, b=i & 0xFF,
                               port=1 + i % 60000)


def fm(text, version=V14, xid=0, command=0):
    pf = parse_flow(text, version, adding=command < 3)
    return pf.to_flow_mod(command=command, xid=xid)


def bundle(version, inners, bid=7, flags=1):
    """OPEN, one ADD per inner message (same xid), COMMIT: the raw messages."""
    ctl = NX.OnfBundleControl if version == V13 else M.BundleControl
    add = NX.OnfBundleAdd if version == V13 else M.BundleAdd
    out = [ctl(version=version, xid=1, bundle_id=bid, type=0, flags=flags).encode()]
    out += [add(version=version, xid=m.xid, bundle_id=bid, flags=flags, message=m).encode()
            for m in inners]
    out.append(ctl(version=version, xid=2, bundle_id=bid, type=4, flags=flags).encode())
    return out


def group_mod(cmd, gid, version=V14):
    return GroupMod(version=version, xid=0, command=cmd, type=0, group_id=gid,
                    buckets=() if cmd == 2 else (Bucket(actions=(A.Output(port=2, max_len=0),)),))


def meter_mod(cmd, mid, version=V14):
    return MeterMod(version=version, xid=0, command=cmd, flags=1, meter_id=mid,
                    bands=() if cmd == 2 else (MeterBand(type=1, rate=100),))


# ------------------------------------------------------------ the complete state
def _rule(r, ids):
    st_ = (r.table_id, r.priority, tuple(sorted(r.match.items())), r.cookie, r.ofpacts,
           r.flags, r.idle_timeout, r.hard_timeout, r.importance, r.created, r.modified, r.used,
           r.removed, r.n_packets, r.n_bytes, r.added_version, r.groups, r.meters, r._outs,
           r._wire)
    return (id(r),) + st_ if ids else st_


def state(flows, ids=True):
    """Everything a revert must put back (``ids``: the very same objects)."""
    ft = flows.tables
    tables = []
    for t in range(ft.n_tables):
        cls = ft.classifier(t)
        subtables = [(s.mask, s.seq if ids else None, s.max_priority, dict(s.priorities),
                      s.n_rules, [dict(ix) for _, ix, _, _ in s.stages if ix is not None])
                     for s in cls._subtables.values()]
        if subtables:
            tables.append((t, len(cls), [_rule(r, ids) for r in cls.rules()], subtables,
                           {f: trie.root for f, trie in cls._tries.items()}))
    key = id if ids else (lambda r: _rule(r, False))
    refs = [{k: sorted(map(key, s), key=repr) for k, s in d.items()}
            for d in (ft._group_refs, ft._meter_refs)]
    return dict(tables=tables, refs=refs, timed=sorted(map(key, ft._timed), key=repr),
                stats=ft.table_stats(), n=ft.n_rules,
                groups={g: dataclasses.astuple(x) for g, x in flows.groups.groups.items()},
                meters={m: dataclasses.astuple(x) for m, x in flows.meters.meters.items()})


def dump(p, version=V14):
    return p.ask(MP.FlowStatsRequest(version=version, xid=77, table_id=0xFF,
                                     out_port=0xFFFFFFFF, out_group=0xFFFFFFFF), NOW)


# ------------------------------------------------------------ a switch with many rules
def rig(version=V14, n=600):
    """A switch holding ``n`` rules of the benchmark's shapes plus rules with
    send_flow_rem, timeouts, cookies, counters, groups and a meter, and two
    full tables (FULL refuses, EVICT evicts); a controller connection that
    receives FLOW_REMOVED.  Returns (service peer, controller peer)."""
    proto = OFProto(make_bridge(flow_tables=(
        (FULL, {"flow_limit": LIMIT}), (EVICT, {"flow_limit": LIMIT, "overflow_policy": "evict"}))))
    p = Peer(proto, version=version)
    ctl = Peer(proto, version=version, primary=True)
    for g in (1, 2):
        assert p.ask(group_mod(0, g, version)) == []
    assert p.ask(meter_mod(0, 1, version)) == []
    texts = [flow(i) for i in range(n)]
    texts += [f"send_flow_rem,cookie=0x{i:x},priority=70,in_port={i},actions=output:1"
              for i in range(1, 9)]
    texts += [f"send_flow_rem,idle_timeout=50,hard_timeout=90,priority=71,ip,nw_tos={4 * i},"
              f"actions=group:{1 + i % 2}" for i in range(8)]
    texts += [f"send_flow_rem,table=1,priority=72,tcp,tp_src={i},actions=meter:1,output:2"
              for i in range(1, 6)]
    texts += [f"table={FULL},priority={i},in_port={i},actions=output:2" for i in range(LIMIT)]
    texts += [f"send_flow_rem,table={EVICT},hard_timeout={100 + i},importance={i},"
              f"priority={i},in_port={i},actions=output:2" for i in range(LIMIT)]
    for x, t in enumerate(texts):
        p.send(fm(t, version, xid=1000 + x), 1.0)
    assert p.take() == []
    ft = proto.flows.tables
    for k, r in enumerate(ft.rules()):
        if k % 3 == 0:
            ft.credit(r, k, 64 * k, 1.5)
    assert ctl.take() == []
    return p, ctl


# ------------------------------------------------------------ fast path = general path
def _contents(version):
    inners = [fm(flow(i), version, xid=10 + i) for i in range(60)]
    inners += [fm(flow(i), version, xid=100 + i) for i in range(0, 12, 5)]      # replace
    inners += [fm("priority=30,tcp,nw_dst=10.1.0.2,tp_dst=3,actions=output:4", version,
                  xid=200, command=2),
               fm("table=3,metadata=0x5", version, xid=201, command=3),
               fm("priority=20,ip,nw_src=10.0.0.7,nw_dst=172.16.0.0/24", version, xid=202,
                  command=4),
               fm("table=2,ipv6,actions=output:3", version, xid=203, command=1),
               fm("priority=70,in_port=2", version, xid=204, command=4)]
    return inners


@pytest.mark.parametrize("version", [V13, V14])
def test_fast_path_bundle_is_the_general_path(version, monkeypatch):
    data = bundle(version, _contents(version))

    def run():
        p, ctl = rig(version, n=120)
        for raw in data[:-1]:
            p.send(raw, NOW)
        kept = [req for _, req in p.conn.bundles[7].msgs]
        p.send(data[-1], NOW)
        return p.conn.data_to_send(), ctl.conn.data_to_send(), state(p.proto.flows, False), kept

    fast = run()
    monkeypatch.setattr(oc, "flow_mod_spec", lambda raw, ext: None)
    general = run()
    assert fast[:3] == general[:3]
    replies = _split(fast[0])
    assert [m.type for m in replies] == [1, 5]                       # OPEN_REPLY, COMMIT_REPLY
    assert _split(fast[1])                                           # FLOW_REMOVED
    # Every ADD took the fast path (the bundle kept the inner bytes), none the general one.
    assert all(isinstance(k, bytes) for k in fast[3])
    assert not any(isinstance(k, bytes) for k in general[3])


def test_commit_neither_decodes_again_nor_copies(monkeypatch):
    p, _ = rig(n=300)
    data = bundle(V14, [fm(flow(1000 + i), xid=10 + i) for i in range(50)])
    for raw in data[:-1]:
        p.send(raw, NOW)
    assert [m.type for m in p.take()] == [1]

    def refuse(*a, **k):
        raise AssertionError("called during the commit")
    monkeypatch.setattr(handlers_flow.U, "decode_flow_mod", refuse)
    monkeypatch.setattr(handlers_flow.copy, "deepcopy", refuse)
    [r] = p.ask(data[-1], NOW)
    assert isinstance(r, M.BundleControl) and r.type == 5
    assert p.proto.flows.tables.n_rules == 300 + 8 + 8 + 5 + 2 * LIMIT + 50


def _errors_case(version, p):
    """ADD errors of the fast path: bad xid, closed bundle, other flags, slave."""
    ctl = NX.OnfBundleControl if version == V13 else M.BundleControl
    add = NX.OnfBundleAdd if version == V13 else M.BundleAdd
    out = []
    out += p.ask(add(version=version, xid=5, bundle_id=1, flags=1,
                     message=fm(flow(1), version, xid=6)), NOW)               # MSG_BAD_XID
    out += p.ask(add(version=version, xid=7, bundle_id=2, flags=1,
                     message=fm(flow(2), version, xid=7)), NOW)               # opens 2
    out += p.ask(add(version=version, xid=8, bundle_id=2, flags=3,
                     message=fm(flow(3), version, xid=8)), NOW)               # BAD_FLAGS
    out += p.ask(ctl(version=version, xid=9, bundle_id=3, type=0, flags=0), NOW)
    out += p.ask(ctl(version=version, xid=10, bundle_id=3, type=2, flags=0), NOW)
    out += p.ask(add(version=version, xid=11, bundle_id=3, flags=0,
                     message=fm(flow(4), version, xid=11)), NOW)              # BUNDLE_CLOSED
    out += p.ask(add(version=version, xid=12, bundle_id=4, flags=0,
                     message=fm(flow(5), version, xid=12)), NOW)              # opens 4
    p.conn.handle_timer(NOW + oc.BUNDLE_IDLE_TIMEOUT + 1)                    # TIMEOUT for 4
    out += p.take()
    p.conn.role = oc.ROLE_SLAVE
    out += p.ask(add(version=version, xid=13, bundle_id=5, flags=0,
                     message=fm(flow(6), version, xid=13)), NOW)              # IS_SECONDARY
    return [m.encode() for m in out]


@pytest.mark.parametrize("version", [V13, V14])
def test_fast_path_add_errors_are_the_general_paths(version, monkeypatch):
    fast = _errors_case(version, Peer(version=version))
    monkeypatch.setattr(oc, "flow_mod_spec", lambda raw, ext: None)
    general = _errors_case(version, Peer(version=version))
    assert fast == general
    names = [err(_decode(m)) for m in fast if m[1] == 1]
    assert names == ["OFPBFC_MSG_BAD_XID", "OFPBFC_BAD_FLAGS", "OFPBFC_BUNDLE_CLOSED",
                     "OFPBFC_TIMEOUT", "OFPBRC_IS_SECONDARY"]


def _decode(raw):
    return ofp.decode(raw)


def _removed(ctl):
    """The FLOW_REMOVED messages a controller got, as a multiset: a group or
    meter delete removes its rules in set order (object ids), which differs
    between two switches."""
    msgs, rest = ofp.split(ctl.conn.data_to_send())
    return sorted(msgs)


def _split(data):
    msgs, rest = ofp.split(data)
    assert rest == b""
    return [ofp.decode(m) for m in msgs]


# ------------------------------------------------------------ failed commits change nothing
def _prefix(version):
    """Messages that change a lot before the failing one."""
    return [
        fm(flow(5000), version, xid=20),                                       # new rule
        fm(flow(3), version, xid=21),                                          # replaces
        fm("reset_counts,priority=20,ip,nw_src=10.0.0.1,nw_dst=172.16.0.0/24,"
           "actions=output:3", version, xid=22, command=2),                   # modify_strict
        fm("tcp,actions=group:2", version, xid=23, command=1),                # modify
        fm("priority=70,in_port=3", version, xid=24, command=4),              # delete_strict
        fm("cookie=0x5/0xff", version, xid=25, command=3),                    # by cookie
        fm("table=3", version, xid=26, command=3),                            # delete-all t3
        fm(flow(5003, 3), version, xid=27),                                   # refill t3
        fm("table=0,in_port=1", version, xid=28, command=3),                  # loose delete
        fm(f"table={EVICT},priority=99,in_port=99,actions=output:1", version, xid=29),
        group_mod(2, 1, version),                                              # group delete
        meter_mod(2, 1, version),                                              # meter delete
        group_mod(0, 9, version),                                              # group add
        fm("table=2,priority=50", version, xid=30, command=3),                # rest of t2
    ]


FAILURES = [
    ("actions=group:99", "OFPBAC_BAD_OUT_GROUP"),
    (f"table={FULL},priority=99,in_port=99,actions=output:1", "OFPFMFC_TABLE_FULL"),
    ("check_overlap,priority=10,in_port=3,actions=output:1", "OFPFMFC_OVERLAP"),
    ("table=254,actions=drop", "OFPBRC_EPERM"),
]


@pytest.mark.parametrize("failing,name", FAILURES)
@pytest.mark.parametrize("version", [V13, V14])
def test_failed_commit_leaves_everything_as_it_was(version, failing, name):
    p, ctl = rig(version)
    dump_before = dump(p, version)           # (caches encodings: before the state)
    before = state(p.proto.flows)
    inners = _prefix(version)
    bad = fm(failing, version, xid=99)
    out = []
    for raw in bundle(version, inners + [bad, fm(flow(6000), version, xid=100)]):
        out += p.ask(raw, NOW)
    *acks, inner_err, failed = out
    assert len(acks) == 1 and acks[0].type == 1                        # OPEN_REPLY only
    assert err(inner_err) == name and inner_err.xid == 99
    assert err(failed) == "OFPBFC_MSG_FAILED" and failed.xid == 2
    assert ctl.take() == []                                           # no FLOW_REMOVED
    assert state(p.proto.flows) == before
    assert dump(p, version) == dump_before
    # And the tables still work: the same bundle without the bad message commits.
    out = []
    for raw in bundle(version, inners, bid=8):
        out += p.ask(raw, NOW)
    assert [m.type for m in out] == [1, 5]
    assert ctl.take()                                                 # now the removals


@pytest.mark.parametrize("version", [V13, V14])
def test_successful_commit_equals_one_by_one(version):
    a, actl = rig(version)
    b, bctl = rig(version)
    inners = _prefix(version)
    out = []
    for raw in bundle(version, inners):
        out += a.ask(raw, NOW)
    assert [m.type for m in out] == [1, 5]
    for m in inners:
        assert b.ask(m, NOW) == []
    assert state(a.proto.flows, False) == state(b.proto.flows, False)
    assert _removed(actl) == _removed(bctl)


# ------------------------------------------------------------ property
MATCHES = ["in_port=1", "in_port=2", "in_port=1,dl_src=02:00:00:00:00:01", "ip",
           "ip,nw_src=10.0.0.1", "ip,nw_src=10.0.0.0/24", "tcp,tp_dst=80", "tcp", ""]
ACTIONS = ["output:2", "output:3", "group:1", "group:2", "meter:1,output:2", "drop"]
FLAGS = ["", "send_flow_rem,", "check_overlap,", "reset_counts,", "idle_timeout=9,"]
TABLES = [0, 0, 1, FULL, EVICT]

flow_mods = st.builds(
    lambda cmd, table, prio, match, flags, acts: (cmd, f"{flags}table={table},priority={prio},"
                                                      f"{match + ',' if match else ''}"
                                                      f"actions={acts}"),
    st.sampled_from([0, 0, 0, 1, 2, 3, 4]), st.sampled_from(TABLES), st.sampled_from([10, 20]),
    st.sampled_from(MATCHES), st.sampled_from(FLAGS), st.sampled_from(ACTIONS))
others = st.sampled_from([("group", 2, 2), ("group", 0, 3), ("meter", 2, 1), ("group", 2, 1)])
steps = st.lists(st.one_of(flow_mods, flow_mods, flow_mods, others), max_size=25)


def _message(step, version, xid):
    if step[0] == "group":
        return group_mod(step[1], step[2], version)
    if step[0] == "meter":
        return meter_mod(step[1], step[2], version)
    cmd, text = step
    if cmd >= 3:
        text = text.split(",actions=")[0].replace("check_overlap,", "")
    return fm(text, version, xid=xid, command=cmd)


def _small_rig(version):
    p, ctl = rig(version, n=30)
    for i, m in enumerate(MATCHES[:6]):
        p.send(fm(f"send_flow_rem,priority=10,{m},actions=output:2", version, xid=500 + i), 1.0)
    assert p.take() == []
    return p, ctl


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=steps, fail_at=st.integers(0, 25), version=st.sampled_from([V13, V14]),
       failing=st.sampled_from(["actions=group:99", "actions=meter:99,output:2",
                                "table=254,actions=drop"]))
def test_property_failed_commit_is_undone(steps, fail_at, version, failing):
    p, ctl = _small_rig(version)
    dump_before = dump(p, version)           # (caches encodings: before the state)
    before = state(p.proto.flows)
    inners = [_message(s, version, 10 + i) for i, s in enumerate(steps)]
    inners.insert(min(fail_at, len(inners)), fm(failing, version, xid=999))
    out = []
    for raw in bundle(version, inners):
        out += p.ask(raw, NOW)
    assert out[0].type == 1 and err(out[-1]) == "OFPBFC_MSG_FAILED" and len(out) == 3
    assert ctl.take() == []
    assert state(p.proto.flows) == before
    assert dump(p, version) == dump_before


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=steps, version=st.sampled_from([V13, V14]))
def test_property_commit_is_one_by_one_or_nothing(steps, version):
    """Without a planted failure: the bundle either equals the messages sent
    one by one, or (a message failed on its own) changed nothing."""
    a, actl = _small_rig(version)
    b, bctl = _small_rig(version)
    before = state(a.proto.flows)
    inners = [_message(s, version, 10 + i) for i, s in enumerate(steps)]
    out = []
    for raw in bundle(version, inners):
        out += a.ask(raw, NOW)
    one_by_one = [b.ask(m, NOW) for m in inners]
    if not isinstance(out[-1], M.Error):
        assert out[-1].type == 5
        assert all(r == [] for r in one_by_one)
        assert state(a.proto.flows, False) == state(b.proto.flows, False)
        assert _removed(actl) == _removed(bctl)
    else:
        assert err(out[-1]) == "OFPBFC_MSG_FAILED"
        first = next(i for i, r in enumerate(one_by_one) if r)
        assert err(out[-2]) == err(one_by_one[first][0])
        assert state(a.proto.flows) == before and actl.take() == []
