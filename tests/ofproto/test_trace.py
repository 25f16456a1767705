"""ofproto/trace text: whole replies as ovs-vswitchd 3.1 printed them."""
from ofproto.trace import format_nodes, trace
from ofproto.xlate import TraceNode
from tests.ofproto.test_xlate import FLOW_ACTIONS, make_ctx, pflow

LEARN = """\
Flow: in_port=3,vlan_tci=0x0000,dl_src=00:00:00:00:00:33,dl_dst=00:00:00:00:00:00,dl_type=0x0000

bridge("br0")
-------------
 0. in_port=3, priority 5
    resubmit(,1)
 1. priority 1
    learn(table=2,priority=5,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[])
     >> suppressing side effects, so learn action ignored
    output:4

Final flow: unchanged
Megaflow: recirc_id=0,eth,in_port=3,dl_src=00:00:00:00:00:33,dl_type=0x0000
Datapath actions: 4"""

VLAN = """\
Flow: in_port=1,dl_vlan=100,dl_vlan_pcp=0,vlan_tci1=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,dl_type=0x0000

bridge("br0")
-------------
 0. in_port=1,dl_vlan=100, priority 10
    mod_vlan_vid:200
    output:2

Final flow: in_port=1,dl_vlan=200,dl_vlan_pcp=0,vlan_tci1=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,dl_type=0x0000
Megaflow: recirc_id=0,eth,in_port=1,dl_vlan=100,dl_vlan_pcp=0,dl_type=0x0000
Datapath actions: pop_vlan,push_vlan(vid=200,pcp=0),2"""


def test_full_text_as_ovs():
    ctx = make_ctx(FLOW_ACTIONS)
    assert trace(ctx, pflow("in_port=3,dl_src=00:00:00:00:00:33"))[0] == LEARN
    assert trace(ctx, pflow("in_port=1,dl_vlan=100"))[0] == VLAN


def test_depth_failure_line():
    ctx = make_ctx("in_port=4,icmp actions=resubmit(,1)\ntable=1 actions=resubmit(,1)")
    text, _ = trace(ctx, pflow("in_port=4,icmp"))
    assert text.count(" 1. priority 32768\n    resubmit(,1)\n") == 65
    assert text.endswith("     >>>> over max translation depth 64 <<<<\n\nFinal flow: unchanged\n"
                         "Megaflow: recirc_id=0,eth,icmp,in_port=4,nw_frag=no\n"
                         "Datapath actions: drop\n"
                         "Translation failed (Recursion too deep), packet is dropped.\n")


def test_nesting_of_resubmit_in_the_middle():
    # A table reached from a resubmit that is not the last action is nested.
    nodes = [TraceNode("table", " 0. priority 1", [
        TraceNode("action", "resubmit(,1)"),
        TraceNode("table", " 1. priority 2", [TraceNode("action", "output:2")]),
        TraceNode("action", "output:3")])]
    assert format_nodes(nodes) == (" 0. priority 1\n    resubmit(,1)\n     1. priority 2\n"
                                   "            output:2\n    output:3\n")
