"""FlowState.encode_ahead: flows added through a connection are encoded for
the dump their adder would send, in spare time, and the dump is the same."""
import struct

import pytest

import ofproto.ofp as ofp
from ofproto import ofputil as U
from ofproto.ofp import multipart as MP
from ofproto.ofp import nicira as NX
from ofproto.ofp.parse import parse_flow

from .test_ofconn import Peer

FLOWS = ["priority=10,in_port=1,dl_src=02:00:00:00:00:{i:02x},actions=output:2",
         "priority=20,tcp,nw_dst=10.0.0.{i},tp_dst=80,actions=mod_tp_dst:8080,output:1",
         "table=1,udp,nw_src=10.1.0.{i},tp_dst=53,actions=mod_vlan_vid:5,output:2",
         "table=2,ipv6,ipv6_src=2001:db8::{i:x},actions=drop",
         "table=3,metadata=0x{i:x},reg0=0x{i:x},actions=output:1"]


def _dump_request(version):
    if version == 1:
        return NX.NxFlowStatsRequest(version=1, xid=9, out_port=0xFFFF)
    return MP.FlowStatsRequest(version=version, xid=9, table_id=0xFF, out_port=0xFFFFFFFF,
                               out_group=0xFFFFFFFF)


@pytest.mark.parametrize("version", [1, 4])
def test_encode_ahead_prefills_the_adders_dump(version):
    p = Peer(version=version)
    if version == 1:
        p.send(NX.NxFlowModTableId(version=1, xid=2, set=1))
    for i in range(1, 41):
        for t in FLOWS:
            p.send(parse_flow(t.format(i=i), version).to_flow_mod(xid=i).encode(), 1.0)
    assert p.take() == []
    flows = p.proto.flows
    req = _dump_request(version)
    rules = flows.tables.collect(U.decode_flow_stats_request(req))
    assert len(rules) == 200 and all(r._wire is None for r in rules)
    p.send(parse_flow("table=3,metadata=0x1,reg0=0x1,actions=output:2", version)
           .to_flow_mod(command=4, xid=99).encode(), 1.5)      # delete_strict one of them

    n = 0
    while p.proto.encode_ahead():
        n += 1
    assert n == 199                            # the deleted rule is skipped
    assert not p.proto.encode_ahead()
    rules = flows.tables.collect(U.decode_flow_stats_request(req))
    fam = "nx" if version == 1 else "of11"
    assert all(r._wire is not None and r._wire[0] == (fam, version) for r in rules)
    # What the dump sends is what the object encoder gives, cached or not.
    want = [m.encode() for m in U.encode_flow_stats_replies(req, rules, 3.0)]
    p.send(req, 3.0)
    got = p.conn.data_to_send()
    assert got == b"".join(want)
    assert struct.unpack_from("!H", got, 2)[0] == len(want[0])
    assert [type(m).__name__ for m in map(ofp.decode, want)][0].endswith("FlowStatsReply")


def test_of10_flow_mods_are_normalized_as_ovs_does():
    """An ofp10_match with tp_dst but no L4 protocol: OVS drops tp_dst
    (ofputil_normalize_match); an exact match gets priority 65535.  Both
    paths (general and the fast path's templates) and the dump agree."""
    from ofproto.ofp import messages as M
    from ofproto.ofp.match import FlowMatch, Match10
    p = Peer(version=1)
    acts = parse_flow("actions=output:2").actions

    def flow_mod(fm, prio, xid):
        return M.FlowMod(version=1, xid=xid, match=fm, command=0, priority=prio, actions=acts,
                         out_port=0xFFFF, flags=0, cookie=0, idle_timeout=0, hard_timeout=0,
                         table_id=0).encode()
    for i in range(3):                         # the second and third take the fast path
        p.send(flow_mod(Match10.from_flow(FlowMatch({"tp_dst": (80 + i, 0xFFFF)})), 10 + i, i))
    p.send(flow_mod(Match10.from_flow(FlowMatch({"dl_type": (0x0806, 0xFFFF),
                                                  "nw_tos": (4, 0xFC)})), 20, 7))
    exact = Match10(wildcards=0, in_port=1, dl_src=b"\0" * 6, dl_dst=b"\0" * 6, dl_vlan=1,
                    dl_vlan_pcp=0, dl_type=0x800, nw_tos=0, nw_proto=6, nw_src=1, nw_dst=2,
                    tp_src=3, tp_dst=4)
    p.send(flow_mod(exact, 30, 8))
    assert p.take() == []
    rules = sorted(p.proto.flows.tables.collect(U.decode_flow_stats_request(_dump_request(1))),
                   key=lambda r: r.priority)
    assert [(r.priority, dict(r.match.items())) for r in rules[:4]] == [
        (10, {}), (11, {}), (12, {}), (20, {"dl_type": (0x0806, 0xFFFF)})]
    assert rules[4].priority == 0xFFFF and rules[4].match.value("tp_dst") == 4
    while p.proto.encode_ahead():
        pass
    p.send(_dump_request(1), 2.0)
    assert [type(m).__name__ for m in p.take()] == ["NxFlowStatsReply"]


def test_flushes_and_fail_open_follow_connmgr():
    """connmgr.c: a flush when the first active controller comes or the last goes
    and when the fail mode changes without controllers; the NORMAL flow after a
    flush of a standalone bridge without controllers; failing open flushes and
    installs a hidden rule that wins table 0 but no dump shows."""
    from ofproto import bridge as bridge_mod
    from ofproto.ofproto import OFProto
    br = bridge_mod.Bridge(bridge_mod.BridgeConfig(uuid="u", name="br0", datapath_type="dummy"))
    proto = OFProto(br, 0.0)
    tables = proto.flows.tables
    spec = lambda text: U.decode_flow_mod(parse_flow(text).to_flow_mod())

    def visible():
        return sorted((r.priority, r.table_id) for r in tables.rules())
    assert visible() == [(0, 0)]                           # standalone, no controller: NORMAL
    tables.apply(spec("priority=5,in_port=1,actions=drop"), 1.0)
    br.controllers = [bridge_mod.ControllerInfo("ptcp:6653")]
    proto.config_changed(2.0)                              # passive: no flush
    assert visible() == [(0, 0), (5, 0)]
    br.controllers = [bridge_mod.ControllerInfo("tcp:127.0.0.1:6653")]
    proto.config_changed(3.0)                              # first active controller
    assert visible() == []
    tables.apply(spec("priority=6,in_port=1,actions=drop"), 4.0)
    proto.set_fail_open(True, 5.0)                         # failing open flushes
    assert visible() == [] and proto.fail_open
    rule = tables.lookup(0, {"in_port": 1})
    assert rule is tables.fail_open_rule and rule.priority == 0xF0F0F0
    assert tables.collect(U.decode_flow_stats_request(_dump_request(1))) == []
    assert "priority=15790320,actions=NORMAL" in proto.flows.dump_text(6.0)
    br.fail_mode = "secure"
    proto.config_changed(7.0)                              # secure: no fail-open
    assert not proto.fail_open and tables.lookup(0, {"in_port": 1}) is None
    tables.apply(spec("priority=7,in_port=1,actions=drop"), 8.0)
    br.controllers = []
    proto.config_changed(9.0)                              # the last one goes: flush,
    assert visible() == []                                 # no NORMAL in secure mode
    tables.apply(spec("priority=8,in_port=1,actions=drop"), 10.0)
    br.fail_mode = "standalone"
    proto.config_changed(11.0)                             # mode change, no controller
    assert visible() == [(0, 0)]
