"""Our rendering agrees with Open vSwitch's own decoder (ovs-ofctl ofp-print)."""
import shutil
import subprocess

import pytest

import ofproto.ofp as ofp
from ofproto.ofp import actions as A
from ofproto.ofp.instructions import ApplyActions, GotoTable, WriteMetadata, ClearActions
from ofproto.ofp.match import FlowMatch, Match10, OxmMatch
from ofproto.ofp.render import format_flow_mod, format_match

from .conftest import capture_messages

needs_ovs = pytest.mark.skipif(not shutil.which("ovs-ofctl"), reason="needs ovs-ofctl")


def ofp_print_many(hexes):
    out = []
    for h in hexes:
        r = subprocess.run(["ovs-ofctl", "ofp-print", h], capture_output=True, text=True)
        line = r.stdout.split("\n")[0]
        out.append(line.split("): ", 1)[1].strip() if "): " in line else line)
    return out


def built_flow_mods():
    fms = [
        FlowMatch.exact(in_port=1),
        FlowMatch.exact(in_port=1, dl_type=0x0800, nw_proto=6, nw_dst=0x0A000002, tp_dst=80),
        FlowMatch({"dl_type": (0x0800, 0xFFFF), "nw_src": (0x0A000000, 0xFF000000)}),
        FlowMatch({"vlan_tci": (0x1064, 0x1FFF), "dl_src": (0x000000000001, (1 << 48) - 1)}),
        FlowMatch.exact(dl_type=0x0806, nw_proto=1, nw_src=0x0A000001),
        FlowMatch.exact(dl_type=0x0800, nw_proto=1, tp_src=8, tp_dst=0),
        FlowMatch.exact(dl_type=0x0800, nw_proto=17, tp_src=53),
    ]
    nx_only = [FlowMatch.exact(reg0=5, in_port=2), FlowMatch({"metadata": (0x10, 0xF0)}),
               FlowMatch.exact(tun_id=0x42), FlowMatch({"dl_dst": (1 << 40, 1 << 40)})]
    acts10 = (A.SetVlanVid(vlan_vid=200), A.Output10(port=2, max_len=0))
    nxacts = (A.NxRegLoad(ofs_nbits=31, dst=0x00010204, value=1),
              A.NxResubmitTable(in_port=0xFFF8, table=1), A.Output10(port=0xFFFD, max_len=128))
    out = []
    for i, fm in enumerate(fms):
        out.append(ofp.FlowMod(version=1, priority=10 + i, match=Match10.from_flow(fm),
                               actions=acts10, idle_timeout=i))
        out.append(ofp.FlowMod(version=4, priority=10 + i, table_id=i, match=OxmMatch.from_flow(fm),
                               cookie=i, out_port=0xFFFFFFFF, out_group=0xFFFFFFFF,
                               instructions=(ApplyActions((A.PushVlan(ethertype=0x8100), A.Output(
                                   port=3, max_len=0))), GotoTable(200))))
    for i, fm in enumerate(fms + nx_only):
        out.append(ofp.NxFlowMod(version=1, priority=100 + i, match=OxmMatch.from_flow(fm, oxm=False),
                                 actions=nxacts, hard_timeout=7, flags=1))
        out.append(ofp.FlowMod(version=5, match=OxmMatch.from_flow(fm, version=5), importance=3,
                               out_port=0xFFFFFFFF, out_group=0xFFFFFFFF,
                               instructions=(WriteMetadata(1, 0xFF), ClearActions())))
    return out


@needs_ovs
def test_captured_flow_mods_render_like_ovs():
    msgs = []
    for _, h in capture_messages():
        m = ofp.decode(bytes.fromhex(h))
        if type(m).__name__ in ("FlowMod", "NxFlowMod"):
            msgs.append((h, m))
    assert len(msgs) > 100
    refs = ofp_print_many([h for h, _ in msgs])
    assert [format_flow_mod(m) for _, m in msgs] == refs


@needs_ovs
def test_built_flow_mods_render_like_ovs():
    msgs = built_flow_mods()
    refs = ofp_print_many([m.encode().hex() for m in msgs])
    assert [format_flow_mod(m) for m in msgs] == refs


def test_format_match_basics():
    assert format_match(FlowMatch.exact(in_port=1), 10) == "priority=10,in_port=1"
    assert format_match(FlowMatch.exact(dl_type=0x0800, nw_proto=6, tp_dst=80)) == "tcp,tp_dst=80"
    assert format_match(FlowMatch({"vlan_tci": (0, 0x1FFF)})) == "vlan_tci=0x0000/0x1fff"
