"""build(parse(x)) == x for generated valid messages of many types and versions."""
from hypothesis import given, settings, strategies as st

import ofproto.ofp as ofp
from ofproto.ofp import actions as A
from ofproto.ofp import instructions as I
from ofproto.ofp.match import FlowMatch, Match10, OxmMatch

u8, u16, u32, u64 = (st.integers(0, (1 << n) - 1) for n in (8, 16, 32, 64))
port = st.integers(1, 0xFEFF)

flow_matches = st.builds(
    lambda inp, ip, proto, tp, vid: FlowMatch({
        **({"in_port": (inp, 0xFFFF)} if inp else {}),
        **({"dl_type": (0x0800, 0xFFFF), "nw_src": (ip, 0xFFFFFF00)} if ip else {}),
        **({"dl_type": (0x0800, 0xFFFF), "nw_proto": (proto, 0xFF),
            "tp_dst": (tp, 0xFFFF)} if proto else {}),
        **({"vlan_tci": (0x1000 | vid, 0x1FFF)} if vid is not None else {})}),
    st.none() | port, st.none() | u32, st.none() | st.sampled_from([6, 17]), u16,
    st.none() | st.integers(0, 0xFFF))
acts10 = st.lists(st.one_of(
    st.builds(A.Output10, port=port, max_len=u16),
    st.builds(A.SetVlanVid, vlan_vid=st.integers(0, 4095)),
    st.builds(A.SetNwSrc10, nw_addr=u32), st.builds(A.StripVlan),
    st.builds(A.NxResubmitTable, in_port=u16, table=u8),
    st.builds(A.NxRegLoad, ofs_nbits=st.just(31), dst=st.just(0x00010004), value=u32),
    st.builds(A.NxNote, data=st.binary(min_size=6, max_size=6)),
    st.builds(A.NxBundle, algorithm=u16, fields=u16, basis=u16, slave_type=st.just(0x10000),
              n_slaves=st.just(2), ofs_nbits=st.just(0), dst=st.just(0),
              ports=st.just((1, 2)))), max_size=4)
acts13 = st.lists(st.one_of(
    st.builds(A.Output, port=port, max_len=u16), st.builds(A.PushVlan, ethertype=st.just(0x8100)),
    st.builds(A.PopVlan), st.builds(A.Group, group_id=u32), st.builds(A.DecNwTtl),
    st.builds(A.NxCtClear), st.builds(A.NxConjunction, clause=u8, n_clauses=u8, id=u32),
    st.builds(A.NxClone, actions=st.lists(st.builds(A.Output, port=port, max_len=u16),
                                          max_size=2).map(tuple))), max_size=4)


@st.composite
def messages(draw):
    kind = draw(st.integers(0, 12))
    v = draw(st.sampled_from([1, 4, 5]))
    xid = draw(u32)
    fm = draw(flow_matches)
    if kind == 0:
        if v == 1:
            return ofp.FlowMod(version=1, xid=xid, cookie=draw(u64), command=draw(st.integers(0, 4)),
                               priority=draw(u16), match=Match10.from_flow(fm),
                               actions=tuple(draw(acts10)), out_port=draw(u16))
        insts = (I.ApplyActions(tuple(draw(acts13))),) + draw(st.sampled_from(
            [(), (I.GotoTable(200),), (I.WriteMetadata(5, 0xFF), I.ClearActions())]))
        return ofp.FlowMod(version=v, xid=xid, cookie=draw(u64), cookie_mask=draw(u64),
                           table_id=draw(u8), priority=draw(u16), match=OxmMatch.from_flow(fm),
                           instructions=insts, importance=draw(u16) if v >= 5 else 0)
    if kind == 1:
        return ofp.NxFlowMod(version=v, xid=xid, match=OxmMatch.from_flow(fm, oxm=False),
                             actions=tuple(draw(acts10)) if v == 1 else (), priority=draw(u16))
    if kind == 2:
        return ofp.PacketOut(version=v, xid=xid, in_port=draw(port),
                             actions=tuple(draw(acts10 if v == 1 else acts13)),
                             data=draw(st.binary(max_size=64)))
    if kind == 3:
        return ofp.EchoRequest(version=v, xid=xid, data=draw(st.binary(max_size=32)))
    if kind == 4:
        return ofp.SetConfig(version=v, xid=xid, flags=draw(u16), miss_send_len=draw(u16))
    if kind == 5:
        return ofp.FlowStatsRequest(version=v, xid=xid, table_id=draw(u8), out_port=draw(u16),
                                    match=Match10.from_flow(fm) if v == 1 else OxmMatch.from_flow(fm))
    if kind == 6:
        return ofp.PortStatus(version=v, xid=xid, reason=draw(st.integers(0, 2)),
                              port=ofp.Port(port_no=draw(port), hw_addr=draw(st.binary(min_size=6, max_size=6)),
                                            name=b"p1".ljust(16, b"\0"), curr_speed=0 if v == 1 else draw(u32)))
    if kind == 7:
        return ofp.NxFlowStatsReply(version=1, xid=xid, stats=(ofp.FlowStats(
            match=OxmMatch.from_flow(fm, oxm=False), actions=tuple(draw(acts10)),
            idle_age=draw(u16), packet_count=draw(u64)),))
    if kind == 8:
        return ofp.PacketIn(version=4, xid=xid, reason=draw(st.integers(0, 2)),
                            match=OxmMatch.from_flow(FlowMatch.exact(in_port=draw(port))),
                            data=draw(st.binary(max_size=64)))
    if kind == 10:                      # OF1.5 flow stats: OXS statistics, some absent
        return ofp.FlowStatsReply(version=6, xid=xid, flags=draw(st.sampled_from([0, 1])),
                                  stats=tuple(draw(st.lists(of15_flow_stats(fm), max_size=3))))
    if kind == 11:
        return ofp.AggregateStatsReply(version=6, xid=xid, packet_count=draw(u64 | unknown64),
                                       byte_count=draw(u64 | unknown64),
                                       flow_count=draw(u32 | unknown32))
    if kind == 12:
        dsec, dnsec = draw(durations)
        return ofp.FlowRemoved(version=6, xid=xid, cookie=draw(u64), priority=draw(u16),
                               reason=draw(st.integers(0, 5)), table_id=draw(u8),
                               duration_sec=dsec, duration_nsec=dnsec, idle_timeout=draw(u16),
                               hard_timeout=draw(u16), packet_count=draw(u64 | unknown64),
                               byte_count=draw(u64 | unknown64), match=OxmMatch.from_flow(fm))
    return ofp.make_hello(v, draw(st.none() | st.integers(1, 0x7E)), xid)


# OF1.5 OXS statistics: all ones is "absent" (left out on the wire, decoded back as all
# ones); an absent duration has both halves all ones.
unknown32, unknown64 = st.just(0xFFFFFFFF), st.just((1 << 64) - 1)
durations = st.tuples(st.integers(0, 0xFFFFFFFE), u32) | st.just((0xFFFFFFFF, 0xFFFFFFFF))


def of15_flow_stats(fm):
    return st.builds(
        lambda d, **kw: ofp.FlowStats(duration_sec=d[0], duration_nsec=d[1], **kw),
        durations, table_id=u8, priority=u16, idle_timeout=u16, hard_timeout=u16,
        flags=st.integers(0, 31), importance=u16, cookie=u64, packet_count=u64 | unknown64,
        byte_count=u64 | unknown64, idle_age=st.just(0) | st.integers(1, 0xFFFFFFFF),
        match=st.just(OxmMatch.from_flow(fm)),
        instructions=st.lists(st.builds(I.ApplyActions, st.lists(st.builds(
            A.Output, port=port, max_len=u16), max_size=2).map(tuple)), max_size=1).map(tuple)
        | st.just((I.GotoTable(3),)))


@settings(max_examples=400, deadline=None)
@given(messages())
def test_build_parse_build(msg):
    data = msg.encode()
    back = ofp.decode(data)
    assert back == msg
    assert ofp.encode(back) == data


def test_flowmatch_of10_oxm_nxm_agree():
    fm = FlowMatch.exact(in_port=3, dl_type=0x0800, nw_proto=17, tp_src=53)
    assert Match10.from_flow(fm).to_flow() == fm
    assert OxmMatch.from_flow(fm).to_flow() == fm
    assert OxmMatch.from_flow(fm, oxm=False).to_flow() == fm
