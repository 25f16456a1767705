"""Flow monitors: the NXST/ONFST/OFPMP_FLOW_MONITOR codec, ofputil's request
and update forms, and what OFConn/FlowState send (filters, initial dump,
events, ABBREV for own changes, cancel, flow control), as ovs-vswitchd 3.1.

Expected texts are what ``ovs-ofctl monitor`` printed against Open vSwitch
for the same steps (interop/scenarios/ofctl-flow-monitor.sh runs the same
against both daemons); the encodings are also checked byte for byte against
``ovs-ofctl ofp-print`` when it is installed.
"""
import shutil
import struct
import subprocess

import pytest

import ofproto.ofp as ofp
from ofproto import ofconn as oc
from ofproto import ofputil as U
from ofproto.ofp import actions as A
from ofproto.ofp import instructions as I
from ofproto.ofp import messages as M
from ofproto.ofp import multipart as MP
from ofproto.ofp import nicira as NX
from ofproto.ofp.groups import Bucket, GroupMod, MeterBand, MeterMod
from ofproto.ofp.match import FlowMatch, OxmMatch
from ofproto.ofp.parse import parse_flow
from ofproto.ofp.render_msgs import format_message
from ofproto.ofproto import OFProto

from .test_ofconn import Peer, make_bridge
from .test_ofconn import err as _err

needs_ovs = pytest.mark.skipif(not shutil.which("ovs-ofctl"), reason="needs ovs-ofctl")
ALL_FLAGS = 0x3F                        # NX: initial, add, delete, modify, actions, own
IN1 = FlowMatch.exact(in_port=1)


# ------------------------------------------------------------ helpers
def entry(version, id=1, flags=None, out_port=0xFFFF, table_id=0xFF, match=FlowMatch(),
          **kw):
    """A monitor request entry as ovs-ofctl builds it for ``watch:`` in ``version``."""
    if version <= 3:
        return MP.FlowMonitorRequestEntry(id=id, flags=ALL_FLAGS if flags is None else flags,
                                          out_port=out_port, table_id=table_id,
                                          match=OxmMatch.from_flow(match, oxm=False), **kw)
    port = out_port + 0xFFFF0000 if out_port >= 0xFF00 else out_port
    if version == 4:
        return MP.FlowMonitorRequestEntry(id=id, flags=ALL_FLAGS if flags is None else flags,
                                          out_port=port, table_id=table_id,
                                          match=OxmMatch.from_flow(match), **kw)
    return MP.FlowMonitorRequestEntry(id=id, flags=0x5F if flags is None else flags,
                                      out_port=port, table_id=table_id,
                                      match=OxmMatch.from_flow(match, version=version), **kw)


def watch(p, *entries, xid=6):
    """Send one flow monitor request of ``entries``; the replies."""
    v = p.conn.version
    cls = (NX.NxFlowMonitorRequest if v <= 3 else NX.OnfFlowMonitorRequest if v == 4
           else MP.FlowMonitorRequest)
    return p.ask(cls(version=v, xid=xid, requests=tuple(entries or (entry(v),))))


def err(msg):
    """The error's name, also for Nicira errors in OF1.0/1.1 (nx_vendor_error form)."""
    if isinstance(msg, M.Error) and msg.type == 0xB0C2:
        _, t, c = struct.unpack_from("!IHH", msg.data)
        return _err(M.Error(version=msg.version, type=t, code=c))
    return _err(msg)


def text(msgs):
    """What ovs-ofctl prints for ``msgs``."""
    return "".join(format_message(m) for m in msgs)


def fm(text_, version=1, command=0, xid=0):
    return parse_flow(text_, version, adding=command < 3).to_flow_mod(command=command, xid=xid)


def rig(versions=(1,), **bridge):
    """A switch, a connection that changes flows (OF1.0) and a monitoring one per version."""
    proto = OFProto(make_bridge(**bridge))
    ctl = Peer(proto, version=1)
    ctl.ask(NX.NxFlowModTableId(version=1, set=1))     # as ovs-ofctl does for table=N
    return proto, ctl, [Peer(proto, version=v) for v in versions]


# ------------------------------------------------------------ codec
ROUND_TRIP = [
    NX.NxFlowMonitorRequest(version=1, xid=5, requests=(
        entry(1, match=IN1), entry(1, id=2, flags=0x12, out_port=2, table_id=3))),
    NX.NxFlowMonitorRequest(version=3, xid=5, requests=(entry(3, zeros=1),)),
    NX.OnfFlowMonitorRequest(version=4, xid=5, requests=(entry(4, match=IN1, out_port=7),)),
    MP.FlowMonitorRequest(version=5, xid=5, requests=(
        entry(5, match=IN1, out_group=9),
        MP.FlowMonitorRequestEntry(id=1, command=2, match=OxmMatch()))),
    MP.FlowMonitorRequest(version=6, requests=(entry(6, table_id=1),)),
    NX.NxFlowMonitorReply(version=1, flags=1, updates=(
        MP.FlowUpdate(event=0, priority=5, idle_timeout=4, hard_timeout=3, table_id=2,
                      cookie=9, match=OxmMatch.from_flow(IN1, oxm=False),
                      actions=(A.Output10(port=2, max_len=0),)),
        MP.FlowUpdate(event=3, xid=0x1234),
        MP.FlowUpdate(event=1, reason=5, match=OxmMatch.from_flow(IN1, oxm=False)))),
    NX.OnfFlowMonitorReply(version=4, updates=(
        MP.FlowUpdate(event=2, cookie=1, match=OxmMatch.from_flow(IN1),
                      instructions=(I.ApplyActions((A.Output(port=2, max_len=0),)),)),
        MP.FlowUpdate(event=3, xid=7))),
    MP.FlowMonitorReply(version=5, updates=(
        MP.FlowUpdate(event=0, match=OxmMatch.from_flow(IN1, version=5),
                      instructions=(I.GotoTable(3),)),
        MP.FlowUpdate(event=2, reason=4, match=OxmMatch()), MP.FlowUpdate(event=4, xid=3),
        MP.FlowUpdate(event=5), MP.FlowUpdate(event=6))),
    NX.NxFlowMonitorCancel(version=2, xid=3, id=7), NX.OnfFlowMonitorCancel(version=4, id=7),
    NX.NxFlowMonitorPaused(version=1), NX.NxFlowMonitorResumed(version=3),
    NX.OnfFlowMonitorPaused(version=4), NX.OnfFlowMonitorResumed(version=4),
]


@pytest.mark.parametrize("msg", ROUND_TRIP, ids=lambda m: f"{type(m).__name__}-{m.version}")
def test_round_trip(msg):
    raw = ofp.encode(msg)
    assert ofp.decode(raw) == msg
    assert ofp.encode(ofp.decode(raw)) == raw


@needs_ovs
def test_encodings_print_as_ovs_prints_them():
    for msg in ROUND_TRIP:
        h = ofp.encode(msg).hex()
        ref = subprocess.run(["ovs-ofctl", "ofp-print", h], capture_output=True, text=True)
        if "zeros" in repr(msg) and "zeros=1" in repr(msg):
            assert "NXBRC_MUST_BE_ZERO" in ref.stdout
            continue
        assert format_message(msg) == ref.stdout, h


def test_monitor_messages_exist_only_where_ovs_has_them():
    """NX forms in OF1.0-1.2, ONF's in OF1.3, OFPMP from OF1.4: elsewhere the
    dispatcher's answer is OVS's (BAD_SUBTYPE for a known vendor, BAD_STAT)."""
    nx13 = bytes.fromhex("0412002800000010ffff000000000000000023200000000200000001003f"
                         "ffff0000ff0000000000")
    with pytest.raises(ofp.OFPError, match="OFPBRC_BAD_SUBTYPE"):
        ofp.decode(nx13)
    onf = ofp.encode(NX.OnfFlowMonitorRequest(version=4, requests=(entry(4),)))
    with pytest.raises(ofp.OFPError, match="OFPBRC_BAD_SUBTYPE"):
        ofp.decode(bytes([5]) + onf[1:])
    with pytest.raises(ofp.OFPError, match="OFPBRC_BAD_STAT"):
        ofp.decode(bytes([4]) + ofp.encode(MP.FlowMonitorRequest(version=5))[1:])
    cancel = ofp.encode(NX.NxFlowMonitorCancel(version=1, id=1))
    with pytest.raises(ofp.OFPError, match="OFPBRC_BAD_SUBTYPE"):
        ofp.decode(bytes([4]) + cancel[1:])


@pytest.mark.parametrize("cut", [4, 12, 20])
def test_truncated_bodies_are_bad_len(cut):
    for msg in ROUND_TRIP[:8]:
        raw = bytearray(ofp.encode(msg))
        if len(raw) - cut <= 24:
            continue
        del raw[len(raw) - cut:]
        struct.pack_into("!H", raw, 2, len(raw))
        with pytest.raises(ofp.OFPError):
            ofp.decode(bytes(raw))


def test_bad_update_event():
    raw = bytearray(ofp.encode(NX.NxFlowMonitorReply(version=1, updates=(
        MP.FlowUpdate(event=3, xid=1),))))
    struct.pack_into("!H", raw, 26, 9)
    with pytest.raises(ofp.OFPError, match="NXBRC_FM_BAD_EVENT"):
        ofp.decode(bytes(raw))


# ------------------------------------------------------------ ofputil
def test_request_flags_and_ports_as_ovs_keeps_them():
    nx = NX.NxFlowMonitorRequest(version=1, requests=(entry(1, out_port=2, match=IN1),))
    (m,) = U.decode_flow_monitor_request(nx)
    assert (m.flags, m.out_port, m.out_group, m.table_id, m.command) == (
        0x5F, 2, U.OFPG_ANY, 0xFF, U.OFPFMC_ADD)       # NXFMF_OWN is ONLY_OWN (0x40)
    assert m.match == IN1
    onf = NX.OnfFlowMonitorRequest(version=4, requests=(entry(4, out_port=0xFFFE),))
    assert next(U.decode_flow_monitor_request(onf)).out_port == 0xFFFE   # LOCAL
    of14 = MP.FlowMonitorRequest(version=5, requests=(entry(5, out_group=3),
                                                      MP.FlowMonitorRequestEntry(id=9, command=2)))
    a, b = U.decode_flow_monitor_request(of14)
    assert (a.flags, a.out_group, b.command, b.id) == (0x5F, 3, U.OFPFMC_DELETE, 9)


@pytest.mark.parametrize("version,bad,error", [
    (1, dict(flags=0x11), "OFPMOFC_BAD_FLAGS"),        # no add/delete/modify
    (1, dict(flags=0x42), "OFPMOFC_BAD_FLAGS"),        # unknown bit
    (3, dict(zeros=1), "NXBRC_MUST_BE_ZERO"),
    (4, dict(flags=0x80), "OFPMOFC_BAD_FLAGS"),
    (5, dict(flags=0x3F), "OFPMOFC_BAD_FLAGS"),        # OF1.4 NO_ABBREV is refused
    (5, dict(out_port=0xFFFF0000), "OFPBAC_BAD_OUT_PORT"),
])
def test_request_refusals(version, bad, error):
    kw = dict(entry(version).__dict__)
    kw.update(bad)
    msg = {1: NX.NxFlowMonitorRequest, 3: NX.NxFlowMonitorRequest,
           4: NX.OnfFlowMonitorRequest, 5: MP.FlowMonitorRequest}[version](
        version=version, requests=(entry(version, id=1), MP.FlowMonitorRequestEntry(**kw)))
    it = U.decode_flow_monitor_request(msg)
    assert next(it).id == 1                           # the good monitor before it is taken
    with pytest.raises(ofp.OFPError, match=error):
        next(it)


def test_updates_are_cut_at_64k_with_reply_more():
    rule = type("R", (), dict(match=IN1, priority=1, idle_timeout=0, hard_timeout=0,
                              table_id=0, cookie=0, ofpacts=()))()
    ups = [U.flow_update(rule, U.OFPFME_ADDED, 0, False, 1)] * 5000      # 32 bytes each
    msgs = U.encode_flow_monitor_replies(1, ups)
    sizes = [len(ofp.encode(m)) for m in msgs]
    assert len(msgs) == 3 and max(sizes) <= 0xFFFF and sizes[0] > 0xFFFF - 32
    assert [m.flags for m in msgs] == [1, 1, 0] and sum(len(m.updates) for m in msgs) == 5000
    assert [type(m).__name__ for m in (U.encode_flow_monitor_pause(v) for v in (1, 4, 5))] == [
        "NxFlowMonitorPaused", "OnfFlowMonitorPaused", "FlowMonitorReply"]
    assert U.encode_flow_monitor_pause(6, resumed=True).updates[0].event == U.OFPFME_RESUMED


# ------------------------------------------------------------ the switch
def test_initial_dump_and_changes():
    proto, ctl, (mon, mon13, mon14) = rig((1, 4, 5))
    ctl.ask(fm("priority=7,in_port=2,actions=output:1"))
    assert text(watch(mon)) == ("NXST_FLOW_MONITOR reply (xid=0x6):\n"
                                " event=ADDED table=0 cookie=0 in_port=2 actions=output:1\n")
    assert text(watch(mon13)) == ("ONFST_FLOW_MONITOR reply (OF1.3) (xid=0x6):\n"
                                  " event=ADDED table=0 cookie=0 in_port=2 actions=output:1\n")
    assert text(watch(mon14)) == ("OFPST_FLOW_MONITOR reply (OF1.4) (xid=0x6):\n"
                                  " event=INITIAL table=0 cookie=0 in_port=2 actions=output:1\n")
    steps = [("priority=5,in_port=1,actions=drop", 0, " event=ADDED table=0 cookie=0 in_port=1 "),
             ("priority=5,in_port=1,actions=drop", 0, " event=ADDED table=0 cookie=0 in_port=1 "),
             ("in_port=1,actions=output:2", 1, None),   # OF1.0 add-or-modify: replaced, ADDED
             ("in_port=1,actions=output:2", 1, ""),      # nothing changed: nothing sent
             ("cookie=0x9,in_port=1,actions=output:2", 1,
              " event=MODIFIED table=0 cookie=0x9 in_port=1 actions=output:2"),
             ("in_port=1", 3, " event=DELETED reason=delete table=0 cookie=0x9 in_port=1 "
              "actions=output:2")]
    for flow, cmd, want in steps:
        ctl.ask(fm(flow, command=cmd))
        got = text(mon.take())
        if want is not None:
            assert got == ("NXST_FLOW_MONITOR reply (xid=0x0):\n" + want.rstrip() + "\n"
                           if want else ""), flow
        assert len(mon14.take()) == (1 if want != "" else 0)
        assert len(mon13.take()) == (1 if want != "" else 0)


def test_filters_table_out_port_match_actions():
    proto, ctl, (all_, t1, op2, in1, noact) = rig((1, 1, 1, 1, 1))
    watch(all_)
    watch(t1, entry(1, table_id=1))
    watch(op2, entry(1, out_port=2))
    watch(in1, entry(1, match=IN1))
    watch(noact, entry(1, flags=0xF))                 # !actions
    for p in (all_, t1, op2, in1, noact):
        p.take()
    ctl.ask(fm("priority=5,in_port=1,actions=drop"))
    ctl.ask(fm("in_port=1,actions=output:3", command=1))
    ctl.ask(fm("table=1,ip,actions=output:2", command=0))
    ctl.ask(fm("table=0,in_port=2,actions=output:2", command=0))
    ctl.ask(fm("in_port=2,actions=output:4", command=1))   # old actions had port 2
    ctl.ask(fm("in_port=1,actions=output:2", command=1))   # new actions have port 2
    events = {n: [ln for ln in text(p.take()).splitlines() if ln.startswith(" ")]
              for n, p in (("all", all_), ("t1", t1), ("op2", op2), ("in1", in1),
                           ("noact", noact))}
    assert len(events["all"]) == 6
    assert events["t1"] == [" event=ADDED table=1 cookie=0 ip actions=output:2"]
    assert events["op2"] == [" event=ADDED table=1 cookie=0 ip actions=output:2",
                             " event=ADDED table=0 cookie=0 in_port=2 actions=output:2",
                             " event=MODIFIED table=0 cookie=0 in_port=2 actions=output:4",
                             " event=MODIFIED table=0 cookie=0 in_port=1 actions=output:2"]
    assert events["in1"] == [" event=ADDED table=0 cookie=0 in_port=1",
                             " event=MODIFIED table=0 cookie=0 in_port=1 actions=output:3",
                             " event=MODIFIED table=0 cookie=0 in_port=1 actions=output:2"]
    assert events["noact"][1] == " event=MODIFIED table=0 cookie=0 in_port=1"


def test_initial_selects_each_flow_once_and_not_initial_sends_none():
    proto, ctl, (mon, quiet) = rig((1, 1))
    ctl.ask(fm("in_port=1,actions=output:2"))
    ctl.ask(fm("table=3,in_port=2,actions=output:2"))
    # Two monitors of one request: the flow both select comes once, with actions
    # because one of them wants them.
    got = text(watch(mon, entry(1, id=1, flags=0xF), entry(1, id=2, match=IN1)))
    assert got.count("in_port=1") == 1 and "in_port=1 actions=output:2" in got
    assert "table=3" in got
    assert text(watch(quiet, entry(1, flags=0x3E))) == "NXST_FLOW_MONITOR reply (xid=0x6):\n"


def test_own_changes_full_or_abbreviated():
    proto, ctl, (own, other) = rig((1, 1))
    watch(own, entry(1, flags=0x1E))                  # !own: own changes abbreviated
    watch(other)
    own.take(), other.take()
    own.send(fm("in_port=9,actions=output:2", xid=0x12345678))
    assert text(own.take()) == ("NXST_FLOW_MONITOR reply (xid=0x0):\n"
                                " event=ABBREV xid=0x12345678\n")
    own.send(fm("in_port=9", command=3, xid=0x1234567A))
    assert text(own.take()) == ("NXST_FLOW_MONITOR reply (xid=0x0):\n"
                                " event=ABBREV xid=0x1234567a\n")
    assert "event=DELETED" in text(other.take())
    # With "own", the same changes come in full.
    watch(other, entry(1, id=2, flags=0x3E))
    other.take()
    other.send(fm("in_port=9,actions=output:2", xid=5))
    assert "event=ADDED" in text(other.take())


def test_one_abbrev_per_flow_mod_and_bundle():
    """One ABBREV per batch: a delete of two flows, a bundle of two adds (the
    first message's xid), as ofmonitor_report's sent_abbrev_update."""
    proto, ctl, (own,) = rig((5,))
    watch(own, entry(5, flags=0x1E))
    own.take()
    ctl.ask(fm("in_port=1,actions=drop"))
    ctl.ask(fm("in_port=2,actions=drop"))
    own.take()
    own.send(fm("actions=drop", version=5, command=3, xid=0x42))      # deletes both
    assert text(own.take()) == ("OFPST_FLOW_MONITOR reply (OF1.4) (xid=0x0):\n"
                                " event=ABBREV xid=0x42\n")
    from .test_bundles import bundle
    inners = [fm("in_port=3,actions=drop", version=5, xid=0x51),
              fm("in_port=4,actions=drop", version=5, xid=0x52)]
    for raw in bundle(5, inners):
        own.send(raw)
    got = [m for m in own.take() if isinstance(m, MP.FlowMonitorReply)]
    assert text(got) == ("OFPST_FLOW_MONITOR reply (OF1.4) (xid=0x0):\n"
                         " event=ABBREV xid=0x51\n")


def test_learned_flows_and_nx_actions_per_version():
    proto, ctl, (mon, mon11, mon12) = rig((1, 2, 3))
    for p in (mon, mon11, mon12):
        watch(p, entry(p.conn.version, flags=0x3E))
    spec = U.decode_flow_mod(fm("tcp,actions=mod_vlan_vid:5,mod_vlan_pcp:3,output:2"))
    proto.flows.apply_learned(spec, 1.0)                # a learn action's flow_mod
    assert text(mon.take()).endswith(
        " event=ADDED table=0 cookie=0 tcp actions=mod_vlan_vid:5,mod_vlan_pcp:3,output:2\n")
    # OF1.1/1.2 NX updates carry that version's actions, one tag pushed (OVS prints
    # them "push_vlan:0x8100,set_vlan_vid:5,set_vlan_pcp:3,output:2" in OF1.1 and
    # "push_vlan:0x8100,set_field:4101->vlan_vid,set_field:3->vlan_pcp,output:2").
    (u11,), = [m.updates for m in mon11.take()]
    assert [type(a).__name__ for a in u11.actions] == ["PushVlan", "SetVlanVid", "SetVlanPcp",
                                                       "Output"]
    (u12,), = [m.updates for m in mon12.take()]
    assert [type(a).__name__ for a in u12.actions] == ["PushVlan", "SetField", "SetField",
                                                       "Output"]
    assert u12.actions[1].tlv.value == 0x1005


def test_eviction_group_and_meter_deletes_timeouts_flush():
    proto, ctl, (mon,) = rig((1,), flow_tables=((3, {"flow_limit": 2,
                                                     "overflow_policy": "evict"}),))
    proto.flows.sync_config()
    watch(mon)
    mon.take()
    for p in (1, 2, 3):                    # the third evicts the first and is not reported
        ctl.ask(fm(f"table=3,priority=1,hard_timeout=100,in_port={p},actions=drop"))
    lines = text(mon.take()).splitlines()
    assert [ln for ln in lines if ln.startswith(" ")] == [
        " event=ADDED table=3 hard_timeout=100 cookie=0 in_port=1",
        " event=ADDED table=3 hard_timeout=100 cookie=0 in_port=2",
        " event=DELETED reason=eviction table=3 hard_timeout=100 cookie=0 in_port=1"]
    c13 = Peer(proto, version=4)
    c13.ask(GroupMod(version=4, command=0, type=0, group_id=1,
                     buckets=(Bucket(actions=(A.Output(port=2, max_len=0),)),)))
    c13.ask(MeterMod(version=4, command=0, flags=1, meter_id=1,
                     bands=(MeterBand(type=1, rate=10),)))
    c13.ask(MeterMod(version=4, command=0, flags=1, meter_id=2,
                     bands=(MeterBand(type=1, rate=10),)))
    c13.ask(fm("table=4,in_port=1,actions=group:1", version=4))
    c13.ask(fm("table=5,in_port=1,actions=meter:1,output:2", version=4))
    c13.ask(fm("table=5,in_port=2,actions=meter:2,output:2", version=4))
    mon.take()
    c13.ask(GroupMod(version=4, command=2, type=0, group_id=1))
    assert "reason=group_delete table=4" in text(mon.take())
    c13.ask(MeterMod(version=4, command=2, flags=0, meter_id=0xFFFFFFFF))
    msgs = mon.take()                                  # one batch per meter
    assert len(msgs) == 2 and all("reason=meter_delete" in text([m]) for m in msgs)
    # Timeouts: one batch per flow, even when they expire together.
    ctl.ask(fm("table=6,idle_timeout=1,in_port=1,actions=drop"), now=0.0)
    ctl.ask(fm("table=6,hard_timeout=1,in_port=2,actions=drop"), now=0.0)
    mon.take()
    proto.run_timers(5.0)
    msgs = mon.take()
    assert [text([m]).count("event=DELETED") for m in msgs] == [1, 1]
    assert {"reason=idle" in text([m]) for m in msgs} == {True, False}
    # A flush: one batch per table.
    proto.flows.flush(6.0)
    msgs = mon.take()
    assert [{u.table_id for u in m.updates} for m in msgs] == [{3}]


def test_bundle_reports_after_commit_as_each_message_left_the_flow():
    from .test_bundles import bundle
    proto, ctl, (mon,) = rig((5,))
    watch(mon)
    mon.take()
    c14 = Peer(proto, version=5)
    inners = [fm("table=7,in_port=1,actions=drop", version=5, xid=11),
              fm("table=7,in_port=1,actions=output:3", version=5, command=1, xid=12),
              fm("table=7,in_port=2,actions=output:2", version=5, xid=13)]
    for raw in bundle(5, inners)[:-1]:
        c14.send(raw)
        assert mon.take() == []                         # nothing before the commit
    c14.send(bundle(5, inners)[-1])
    assert text(mon.take()) == (
        "OFPST_FLOW_MONITOR reply (OF1.4) (xid=0x0):\n"
        " event=ADDED table=7 cookie=0 in_port=1\n"
        " event=MODIFIED table=7 cookie=0 in_port=1 actions=output:3\n"
        " event=ADDED table=7 cookie=0 in_port=2 actions=output:2\n")
    failing = [fm("table=8,in_port=1,actions=drop", version=5, xid=21),
               fm("table=8,in_port=2,actions=group:99", version=5, xid=22)]
    for raw in bundle(5, failing, bid=8):
        c14.send(raw)
    assert mon.take() == []                             # a failed commit reports nothing


def test_cancel_modify_delete_and_refusals():
    proto, ctl, (mon, mon14) = rig((1, 5))
    watch(mon, entry(1, id=7, flags=0x2))
    assert err(watch(mon, entry(1, id=7))[0]) == "OFPMOFC_MONITOR_EXISTS"
    # Two monitors with one id in one request: both refused, neither kept.
    assert err(watch(mon, entry(1, id=8), entry(1, id=8))[0]) == "OFPMOFC_MONITOR_EXISTS"
    assert set(mon.conn.monitors) == {7}
    assert mon.ask(NX.NxFlowMonitorCancel(version=1, xid=3, id=7)) == []
    assert err(mon.ask(NX.NxFlowMonitorCancel(version=1, xid=4, id=7))[0]) == \
        "OFPMOFC_UNKNOWN_MONITOR"
    ctl.ask(fm("in_port=1,actions=drop"))
    assert mon.take() == []
    # OF1.4: MODIFY replaces (with its initial dump), DELETE cancels, others do nothing.
    watch(mon14, entry(5, id=1, flags=0x1E))
    assert err(watch(mon14, entry(5, id=2, command=1))[0]) == "OFPMOFC_UNKNOWN_MONITOR"
    assert "event=INITIAL" in text(watch(mon14, entry(5, id=1, command=1)))
    assert text(watch(mon14, entry(5, id=1, command=3))).count("event=") == 0
    assert watch(mon14, MP.FlowMonitorRequestEntry(id=1, command=2))[0].updates == ()
    assert mon14.conn.monitors == {}
    assert err(watch(mon14, MP.FlowMonitorRequestEntry(id=1, command=2))[0]) == \
        "OFPMOFC_UNKNOWN_MONITOR"


def test_no_monitor_no_work(monkeypatch):
    """Without monitors, flow_mods build no changes at all (the fast path stays fast)."""
    proto, ctl, _ = rig(())
    from ofproto import handlers_flow as HF
    monkeypatch.setattr(HF, "_changes", lambda *a: pytest.fail("changes built"))
    ctl.ask(fm("in_port=1,actions=drop"))
    ctl.ask(fm("in_port=1", command=3))


# ------------------------------------------------------------ flow control
def _flood(ctl, n, reader=None):
    """``n`` adds; ``reader``, a monitor that keeps up, takes its output after each."""
    for i in range(n):
        ctl.send(fm(f"cookie=1,reg1={i},actions=drop"))
        if reader is not None:
            reader.conn.data_to_send()
    ctl.take()


def test_pause_and_resume_as_connmgr_does(monkeypatch):
    """A monitor whose output backs up (the I/O edge reports what it could not
    write) is paused after 128 KiB; then only deletions of older flows go out;
    once everything is written the changes made meanwhile come, then RESUMED."""
    proto, ctl, (mon,) = rig((1,))
    watch(mon)
    ctl.ask(fm("in_port=2,actions=output:2"))
    backlog = mon.conn.data_to_send()           # taken, never written: blocked
    mon.conn.output_pending(len(backlog))
    _flood(ctl, 3000)
    queued = mon.take()
    kinds = [type(m).__name__ for m in queued]
    assert kinds.count("NxFlowMonitorPaused") == 1
    paused_at = kinds.index("NxFlowMonitorPaused")
    before = sum(len(m.updates) for m in queued[:paused_at])
    assert 128 * 1024 // 80 < before < 3000 and paused_at == len(queued) - 1
    mon.conn.output_pending(len(backlog) + sum(len(ofp.encode(m)) for m in queued))
    assert mon.conn.monitor_paused and mon.conn.get_timer() is None
    ctl.ask(fm("in_port=1,cookie=3,actions=drop"))
    ctl.ask(fm("in_port=2,cookie=2,actions=output:2", command=1))
    Peer(proto, version=4).ask(fm("cookie=1/0xffffffffffffffff", version=4, command=3))
    during = mon.take()
    deleted = sum(len(m.updates) for m in during)
    assert deleted == before                    # only flows older than the pause
    assert all(u.event == 1 for m in during for u in m.updates)
    assert not mon.conn.monitor_paused or mon.conn.get_timer() is None
    mon.conn.output_pending(0)                  # everything written
    assert mon.conn.get_timer() == float("-inf")
    mon.conn.handle_timer(10.0)
    assert text(mon.take()) == ("NXST_FLOW_MONITOR reply (xid=0x0):\n"
                                " event=ADDED table=0 cookie=0x3 in_port=1\n"
                                " event=MODIFIED table=0 cookie=0x2 in_port=2 actions=output:2\n"
                                "NXT_FLOW_MONITOR_RESUMED (xid=0x0):\n")
    assert not mon.conn.monitor_paused and mon.conn._mon_changed == {}


def test_no_pause_without_backpressure():
    """rconn hands each message to the socket when all before it is written:
    a burst of more than 128 KiB of updates (one delete of 8000 flows) on a
    connection that keeps up does not pause (as ovs-vswitchd, checked with
    ovs-ofctl), and an I/O edge that never reports is never blocked."""
    proto, ctl, (mon,) = rig((1,))
    mon.conn.output_pending(0)
    watch(mon)
    _flood(ctl, 8000, reader=mon)              # 8000 deletions: 250 KiB of updates
    Peer(proto, version=4).ask(fm("cookie=1/0xffffffffffffffff", version=4, command=3))
    msgs = mon.take()
    assert [m.flags for m in msgs] == [1, 1, 1, 0] and not mon.conn.monitor_paused
    assert sum(len(m.updates) for m in msgs) == 8000
    proto2, ctl2, (quiet,) = rig((1,))
    watch(quiet)
    _flood(ctl2, 3000)                          # never taken, never reported: no pause
    assert not quiet.conn.monitor_paused


def test_paused_memory_is_bounded_by_live_flows():
    proto, ctl, (mon,) = rig((1,))
    watch(mon)
    mon.conn.output_pending(len(mon.conn.data_to_send()) + 10)
    _flood(ctl, 2500)
    assert mon.conn.monitor_paused
    for k in range(5):                      # replacing the same flows over and over
        _flood(ctl, 2500)
    assert len(mon.conn._mon_changed) <= 2 * 2500 + 1024


def test_resume_wakes_the_io_edge():
    proto, ctl, (mon,) = rig((1,))
    woken = []
    watch(mon)
    mon.conn.output_pending(10)
    _flood(ctl, 3000)
    assert mon.conn.monitor_paused
    mon.conn.data_to_send()
    mon.conn.on_output = lambda: woken.append(1)
    mon.conn.output_pending(0)
    assert woken and mon.conn.get_timer() == float("-inf")   # the writer comes to handle_timer
