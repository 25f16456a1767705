"""DpGlue in process: bridges with dummy ports, frames in, frames/megaflows/stats out."""
from __future__ import annotations

import pytest

from datapath import odp
from datapath.pcap import read_frames
from ofproto import bridge as bm
from ofproto.appctl_dp import Commands
from ofproto.dpglue import DpGlue
from ofproto.ofp.parse import parse_flow
from ofproto.ofproto import OFProto

OVS_UUID = "6d348cd0-a376-4bac-bc25-b9129558a788"
BR_UUID = "fb05ee01-88f1-4e83-95bf-b9ff261be01a"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Mgr:
    def __init__(self, br):
        self.ofproto = OFProto(br, 0.0)


class Conn:
    flow_mod_table_id = True


class Rig:
    """A Switch with bridge br0 (dummy datapath) and ports p1..pN writing tx pcaps."""

    def __init__(self, tmp_path, ports, fail_mode="secure", flood_vlans=()):
        self.tmp = tmp_path
        self.clock = Clock()
        self.glue = DpGlue(clock=self.clock, cwd=str(tmp_path))
        self.switch = bm.Switch()
        self.mgrs = {}

        def added(br):
            mgr = self.mgrs[br.name] = Mgr(br)
            self.glue.bridge_added(br, mgr)
        self.switch.on_bridge_added.connect(added)
        pcs = [bm.PortConfig(uuid="p-br0", name="br0",
                             interfaces=(bm.IfaceConfig(uuid="i-br0", name="br0", type="internal"),))]
        for name, ofport, tag, trunks in ports:
            i = bm.IfaceConfig(uuid=f"i-{name}", name=name, type="dummy", ofport_request=ofport,
                               options=(("tx_pcap", f"{name}.pcap"),))
            pcs.append(bm.PortConfig(uuid=f"p-{name}", name=name, interfaces=(i,), tag=tag,
                                     trunks=tuple(trunks)))
        b = bm.BridgeConfig(uuid=BR_UUID, name="br0", datapath_type="dummy", fail_mode=fail_mode,
                            ports=tuple(pcs), flood_vlans=tuple(flood_vlans),
                            other_config=(("hwaddr", "02:00:00:00:00:01"),))
        self.switch.reconfigure(bm.SwitchConfig(uuid=OVS_UUID, next_cfg=1, bridges=(b,)), 0.0)
        self.bg = self.glue.bridges["br0"]
        self.ofp = self.mgrs["br0"].ofproto
        self.cmds = Commands(self.glue)

    def flow(self, text, command=0):
        msg = parse_flow(text).to_flow_mod(command)
        self.ofp.flows.h_flow_mod(Conn(), msg, self.clock())
        self.ofp.on_flows_changed(self.ofp)

    def rx(self, port, frame):
        self.cmds.receive([port, frame.hex()])

    def tx(self, port):
        try:
            return read_frames(str(self.tmp / f"{port}.pcap"))
        except FileNotFoundError:
            return []

    @property
    def dp(self):
        return self.bg.backend.dp


def eth(dst, src, rest):
    return bytes.fromhex(dst.replace(":", "") + src.replace(":", "")) + rest


IP_ICMP = bytes.fromhex("080045000014000040004001000000000000000000000000")


def test_port_numbers_follow_dpif_netdev(tmp_path):
    r = Rig(tmp_path, [("p1", 1, None, ()), ("p2", 2, None, ())])
    assert r.bg.of2dp == {65534: 100, 1: 1, 2: 2}
    text = r.cmds.dpif_show([])
    assert text.splitlines()[0] == "dummy@ovs-dummy: hit:0 missed:0"
    assert "    br0 65534/100: (dummy-internal)" in text
    assert "    p1 1/1: (dummy)" in text


def test_output_megaflow_and_counters(tmp_path):
    r = Rig(tmp_path, [("p1", 1, None, ()), ("p2", 2, None, ())])
    r.flow("priority=10,in_port=1 actions=output:2")
    f = eth("00:00:00:00:00:02", "00:00:00:00:00:01", IP_ICMP)
    r.rx("p1", f)
    r.rx("p1", f)
    assert r.tx("p2") == [f, f]
    assert r.dp.n_missed == 1 and r.dp.n_hit == 1
    dump = r.cmds.dpctl_dump_flows([])
    assert dump.startswith("flow-dump from the main thread:\n")
    assert "in_port(1)" in dump and "ipv4(frag=no)" in dump and dump.rstrip().endswith("actions:2")
    r.glue.push_stats()
    rule = next(iter(r.ofp.flows.tables.rules()))
    assert (rule.n_packets, rule.n_bytes) == (2, 2 * len(f))
    st = r.glue.port_stats(r.bg, 1)
    assert st.rx_packets == 2
    assert r.glue.port_stats(r.bg, 2).tx_packets == 2


def test_rewrites_vlan_and_set_actions(tmp_path):
    r = Rig(tmp_path, [("p1", 1, None, ()), ("p2", 2, None, ()), ("p3", 3, None, ())])
    r.flow("priority=10,in_port=1,dl_vlan=100 actions=mod_vlan_vid:200,output:2")
    r.flow("priority=20,in_port=1,ip,nw_dst=10.0.1.5 actions=mod_dl_src:00:00:00:00:00:aa,"
           "mod_nw_dst:10.0.1.9,output:3")
    out = r.cmds.trace(["br0", "in_port=1,dl_vlan=100"])
    assert out.splitlines()[-1] == "Datapath actions: pop_vlan,push_vlan(vid=200,pcp=0),2"
    out = r.cmds.trace(["br0", "in_port=1,ip,nw_dst=10.0.1.5"])
    assert out.splitlines()[-1] == "Datapath actions: set(eth(src=00:00:00:00:00:aa)),3"
    pkt = bytes.fromhex("00000000000200000000000108004500001400004000400100000a0000010a000105")
    r.rx("p1", pkt)
    (got,) = r.tx("p3")
    assert got[6:12] == bytes.fromhex("0000000000aa") and got[30:34] == bytes.fromhex("0a000109")


def test_revalidation_after_flow_change(tmp_path):
    r = Rig(tmp_path, [("p1", 1, None, ()), ("p2", 2, None, ()), ("p3", 3, None, ())])
    r.flow("priority=10,in_port=1 actions=output:2")
    f = eth("00:00:00:00:00:02", "00:00:00:00:00:01", IP_ICMP)
    r.rx("p1", f)
    assert len(r.tx("p2")) == 1
    r.flow("priority=10,in_port=1 actions=output:3", command=1)     # modify
    r.rx("p1", f)
    assert len(r.tx("p2")) == 1 and len(r.tx("p3")) == 1
    mfs = r.dp.flow_dump()
    assert len(mfs) == 1 and mfs[0].actions == (("output", 3),)
    r.flow("priority=10,in_port=1 actions=output:3", command=3)     # delete strict
    r.rx("p1", f)
    assert len(r.tx("p3")) == 1


def test_learn_installs_flow_and_drop(tmp_path):
    r = Rig(tmp_path, [("p3", 3, None, ()), ("p4", 4, None, ())])
    r.flow("priority=5,in_port=3 actions=resubmit(,1)")
    r.flow("table=1,priority=1 actions=learn(table=2,priority=5,NXM_OF_ETH_DST[]="
           "NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:4")
    f = eth("00:00:00:00:00:01", "00:00:00:00:00:33", IP_ICMP)
    r.rx("p3", f)
    assert r.tx("p4") == [f]
    learned = list(r.ofp.flows.tables.rules(2))
    assert len(learned) == 1 and learned[0].match["dl_dst"][0] == 0x33


def test_normal_vlans_and_flood_vlans(tmp_path):
    r = Rig(tmp_path, [("vnet0", 1, 101, ()), ("vnet2", 3, 103, ()), ("first_br", 4, 103, ()),
                       ("second_br", 5, None, ()), ("third_br", 6, None, (101, 102))],
            fail_mode="standalone", flood_vlans=(101, 102, 103))
    out = r.cmds.trace(["--names", "br0", "in_port=3,dl_src=52:54:00:00:00:02,"
                        "dl_dst=52:54:00:00:00:03"])
    assert out.splitlines()[-1] == ("Datapath actions: push_vlan(vid=103,pcp=0),br0,pop_vlan,"
                                    "first_br,push_vlan(vid=103,pcp=0),second_br")
    out = r.cmds.trace(["br0", "in_port=6,dl_vlan=103,dl_src=52:54:00:00:00:0a,"
                        "dl_dst=ff:ff:ff:ff:ff:ff"])
    assert out.splitlines()[-1] == "Datapath actions: drop"
    f = eth("ff:ff:ff:ff:ff:ff", "52:54:00:00:00:09",
            bytes.fromhex("81000065") + IP_ICMP)
    r.rx("second_br", f)
    assert [x[12:14] for x in r.tx("vnet0")] == [b"\x08\x00"]
    assert len(r.tx("third_br")) == 1 and len(r.tx("first_br")) == 0


def test_mac_learning_and_revalidation(tmp_path):
    r = Rig(tmp_path, [("p1", 1, None, ()), ("p2", 2, None, ()), ("p3", 3, None, ())],
            fail_mode="standalone")
    a, b = "00:00:00:00:00:0a", "00:00:00:00:00:0b"
    r.rx("p1", eth(b, a, IP_ICMP))               # unknown b: flood
    assert len(r.tx("p2")) == 1 and len(r.tx("p3")) == 1
    r.rx("p2", eth(a, b, IP_ICMP))               # a learned on p1
    assert len(r.tx("p1")) == 1 and len(r.tx("p3")) == 1
    r.rx("p1", eth(b, a, IP_ICMP))               # b now known: only p2
    assert len(r.tx("p2")) == 2 and len(r.tx("p3")) == 1
    fdb = r.cmds.fdb_show(["br0"])
    assert fdb.splitlines()[0] == " port  VLAN  MAC                Age"
    assert "    1     0  00:00:00:00:00:0a" in fdb
    assert r.cmds.fdb_flush(["br0"]) == "table successfully flushed"


def test_expiry_credits_stats(tmp_path):
    r = Rig(tmp_path, [("p1", 1, None, ()), ("p2", 2, None, ())])
    r.flow("priority=10,in_port=1 actions=output:2")
    f = eth("00:00:00:00:00:02", "00:00:00:00:00:01", IP_ICMP)
    for _ in range(3):
        r.rx("p1", f)
    r.clock.t += 11
    r.glue.run_timers()
    assert len(r.dp.flow_dump()) == 0
    rule = next(iter(r.ofp.flows.tables.rules()))
    assert rule.n_packets == 3


def test_receive_errors(tmp_path):
    r = Rig(tmp_path, [("p1", 1, None, ())])
    from ovsdb_server.unixctl import UnixctlError
    with pytest.raises(UnixctlError, match="no such dummy netdev"):
        r.cmds.receive(["nope", "00" * 14])


def test_receive_flow_syntax(tmp_path):
    r = Rig(tmp_path, [("p1", 1, None, ()), ("p2", 2, None, ())])
    r.flow("priority=10,in_port=1 actions=output:2")
    r.cmds.receive(["p1", "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),"
                    "eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,"
                    "frag=no),icmp(type=8,code=0)"])
    assert len(r.tx("p2")) == 1
    assert odp.format_actions(r.dp.flow_dump()[0].actions) == "2"
