"""NORMAL and MAC learning: the dp-seed-vlan-forwarding scenario's traces as
ovs-vswitchd 3.1 gives them, per-vlan_mode tagging, learning and fdb/show."""
from datapath.odp import format_actions
from ofproto.normal import MacLearning, port_vlan_config
from ofproto.xlate import XPort, translate
from tests.ofproto.test_xlate import make_ctx, pflow

NAMES = {100: "br0", 1: "vnet0", 2: "vnet1", 3: "vnet2", 4: "first_br", 5: "second_br", 6: "third_br"}


def seed_ctx():
    ctx = make_ctx("priority=0,actions=NORMAL", 0)
    ctx.ports.update({1: XPort(1, 1, "vnet0", tag=101), 2: XPort(2, 2, "vnet1", tag=102),
                      3: XPort(3, 3, "vnet2", tag=103), 4: XPort(4, 4, "first_br", tag=103),
                      5: XPort(5, 5, "second_br"), 6: XPort(6, 6, "third_br", trunks=(101, 102))})
    ctx.mac = MacLearning(flood_vlans=(101, 102, 103))
    return ctx


def acts(ctx, f, names=NAMES, **kw):
    return format_actions(translate(ctx, pflow(f), **kw).actions, names)


def test_seed_scenario_traces_as_ovs():
    ctx = seed_ctx()
    assert acts(ctx, "in_port=3,dl_src=52:54:00:00:00:02,dl_dst=52:54:00:00:00:03") == \
        "push_vlan(vid=103,pcp=0),br0,pop_vlan,first_br,push_vlan(vid=103,pcp=0),second_br"
    assert acts(ctx, "in_port=1,dl_src=52:54:00:00:00:00,dl_dst=52:54:00:00:00:05") == \
        "push_vlan(vid=101,pcp=0),br0,second_br,third_br"
    assert acts(ctx, "in_port=5,dl_vlan=102,dl_src=52:54:00:00:00:09,dl_dst=ff:ff:ff:ff:ff:ff") == \
        "br0,pop_vlan,vnet1,push_vlan(vid=102,pcp=0),third_br"
    assert acts(ctx, "in_port=6,dl_vlan=103,dl_src=52:54:00:00:00:0a,dl_dst=ff:ff:ff:ff:ff:ff") == "drop"
    # Untagged on the limited trunk is VLAN 0, not trunked there: dropped too.
    assert acts(ctx, "in_port=6,dl_src=52:54:00:00:00:0b,dl_dst=ff:ff:ff:ff:ff:ff") == "drop"
    assert len(ctx.mac) == 0          # flood-vlans: no learning


def test_learning_then_unicast():
    ctx = seed_ctx()
    ctx.mac.flood_vlans = frozenset()
    r = translate(ctx, pflow("in_port=5,dl_vlan=101,dl_src=00:00:00:00:00:05,dl_dst=ff:ff:ff:ff:ff:ff"))
    assert r.mac_changed and r.mac_learned == [(101, 5, "second_br")]
    assert r.wc["dl_src"] == r.wc["dl_dst"] == (1 << 48) - 1
    assert acts(ctx, "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:05") == \
        "push_vlan(vid=101,pcp=0),second_br"
    # learned port is the input port: drop
    assert acts(ctx, "in_port=5,dl_vlan=101,dl_src=00:00:00:00:00:07,dl_dst=00:00:00:00:00:05") == "drop"


def test_access_port_drops_tagged():
    assert acts(seed_ctx(), "in_port=1,dl_vlan=101,dl_dst=ff:ff:ff:ff:ff:ff") == "drop"


def test_native_modes():
    ctx = make_ctx("priority=0,actions=NORMAL", 0)
    ctx.ports.update({1: XPort(1, 1, "a", tag=10, vlan_mode="native-untagged"),
                      2: XPort(2, 2, "b", tag=10, vlan_mode="native-tagged"),
                      3: XPort(3, 3, "c", tag=20)})
    ctx.ports[0xFFFE].tag, ctx.ports[0xFFFE].vlan_mode = 99, "access"
    bc = "dl_dst=ff:ff:ff:ff:ff:ff"
    assert acts(ctx, f"in_port=1,{bc}", None) == "push_vlan(vid=10,pcp=0),2"
    assert acts(ctx, f"in_port=2,dl_vlan=10,{bc}", None) == "pop_vlan,1"
    assert port_vlan_config(ctx.ports[1])[2] == frozenset(range(1, 4096))


def test_fdb_show_and_aging():
    ml = MacLearning(aging=300)
    ml.learn(0, 1, 1, now=10)
    ml.learn(5, 0x525400000002, 0xFFFE, now=12)
    assert ml.fdb_show(now=15) == (" port  VLAN  MAC                Age\n"
                                   "    1     0  00:00:00:00:00:01    5\n"
                                   "LOCAL     5  52:54:00:00:00:02    3\n")
    assert [e.mac for e in ml.expire(311)] == [1]
    assert ml.lookup(5, 0x525400000002) == 0xFFFE
    assert not ml.learn(0, 0x010000000000, 1, 0)      # multicast source


def test_table_size_evicts_fairly():
    ml = MacLearning(max_entries=3)
    for mac, port in ((1, 1), (2, 1), (3, 2)):
        ml.learn(0, mac, port, 0)
    ml.learn(0, 4, 3, 1)
    assert sorted(e.mac for e in ml.entries()) == [2, 3, 4]
