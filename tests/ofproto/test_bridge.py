"""ofproto.bridge: ofport allocation, MAC and datapath-id rules, reconfiguration (no I/O)."""
import subprocess
import sys

import pytest

from ofproto.bridge import (OFPP_LOCAL, BridgeConfig, DummyMacs, IfaceConfig, OfportAllocator,
                            PortConfig, Switch, SwitchConfig, dpid_from_string, uuid_mac)

BR_UUID = "fb05ee01-88f1-4e83-95bf-b9ff261be01a"     # observed: br0 got 02:ee:05:fb:83:4e
OVS_UUID = "6d348cd0-a376-4bac-bc25-b9129558a788"


def test_core_does_not_import_trio():
    code = "import sys, ofproto.bridge; sys.exit('trio' in sys.modules)"
    assert subprocess.run([sys.executable, "-W", "ignore", "-c", code]).returncode == 0


# -- rules ---------------------------------------------------------------------------

def test_uuid_mac_matches_ovs():
    assert uuid_mac(BR_UUID) == "02:ee:05:fb:83:4e"
    assert uuid_mac("d1a7637e-662c-47e7-a4a3-1b566ab964ed") == "7e:63:a7:d1:e7:47"


def test_dpid_from_string():
    assert dpid_from_string("0000000000000abc") == 0xabc
    assert dpid_from_string("0000000000000ABC") == 0xabc
    assert dpid_from_string("abc") is None
    assert dpid_from_string("0000000000000000") is None
    assert dpid_from_string("000000000000zabc") is None
    assert dpid_from_string(None) is None


def test_dummy_macs_count_up():
    m = DummyMacs()
    assert [m.take(), m.take()] == ["aa:55:aa:55:00:01", "aa:55:aa:55:00:02"]


def test_allocator_requests_and_cursor():
    a = OfportAllocator()
    assert a.alloc(5, 0) == 5            # a request wins when free
    assert a.alloc(None, 0) == 1
    assert a.alloc(5, 0) == 2            # conflicting request: next from the cursor
    assert a.alloc(None, 0) == 3
    assert a.alloc(None, 0) == 4
    assert a.alloc(None, 0) == 6         # 5 is in use
    a.release(1, 100)
    assert a.alloc(None, 100) == 7       # a freed number is not reused at once
    assert a.alloc(1, 100) == 1          # ... unless requested


def test_allocator_reuses_after_an_hour_and_lru_when_full():
    a = OfportAllocator(max_ports=4)     # automatic numbers 1..3
    assert [a.alloc(None, 0) for _ in range(3)] == [1, 2, 3]
    assert a.alloc(None, 0) is None
    a.release(2, 10)
    a.release(1, 20)
    assert a.alloc(None, 30) == 2        # least recently freed
    a.release(2, 40)
    assert a.alloc(None, 40 + 3601) in (1, 2)


# -- reconfiguration ------------------------------------------------------------------

def iface(name, type_="dummy", **kw):
    return IfaceConfig(uuid=f"i-{name}", name=name, type=type_, **kw)


def port(name, *ifaces, **kw):
    return PortConfig(uuid=f"p-{name}", name=name, interfaces=ifaces or (iface(name),), **kw)


def br(name="br0", *ports, uuid=BR_UUID, dp="dummy", **kw):
    local = port(name, iface(name, "internal"))
    return BridgeConfig(uuid=uuid, name=name, datapath_type=dp, ports=(local, *ports), **kw)


def cfg(*bridges, next_cfg=1):
    return SwitchConfig(uuid=OVS_UUID, next_cfg=next_cfg, cur_cfg=0, bridges=bridges)


def test_first_reconfigure_writes_what_ovs_writes():
    sw = Switch()
    w = sw.reconfigure(cfg(br("br0", port("p1", iface("p1", ofport_request=5)), port("p2"))), 0)
    assert w.get("Open_vSwitch", OVS_UUID)["datapath_types"] == ["dummy", "netdev"]
    assert w.get("Open_vSwitch", OVS_UUID)["dpdk_version"] == "none"
    assert w.get("Bridge", BR_UUID) == {"datapath_id": "000002ee05fb834e",
                                        "datapath_version": "<built-in>"}
    local = w.get("Interface", "i-br0")
    assert local["ofport"] == OFPP_LOCAL and local["mac_in_use"] == "02:ee:05:fb:83:4e"
    assert w.get("Interface", "i-p1")["ofport"] == 5
    p2 = w.get("Interface", "i-p2")
    assert p2["ofport"] == 1 and p2["mtu"] == 1500 and p2["link_state"] == "up"
    assert p2["statistics"]["rx_custom_packets_1"] == 0
    assert sw.bridges["br0"].ports[5].name == "p1"
    # Second run: the Open_vSwitch capabilities are not rewritten.
    assert "datapath_types" not in sw.reconfigure(cfg(br("br0")), 1).get("Open_vSwitch", OVS_UUID)


def test_bad_types_get_ovs_errors():
    sw = Switch()
    w = sw.reconfigure(cfg(br("br0", port("p3", iface("p3", "bogus")), port("p4", iface("p4", "system")))), 0)
    assert w.get("Interface", "i-p3") == {
        "ofport": -1, "error": "could not open network device p3 (Address family not supported by protocol)"}
    assert w.get("Interface", "i-p4") == {
        "ofport": -1, "error": "could not open network device p4 (No such device)"}
    assert set(sw.bridges["br0"].ports) == {OFPP_LOCAL}


def test_system_bridge_is_not_created():
    sw = Switch()
    w = sw.reconfigure(cfg(br("br2", dp="")), 0)
    assert "br2" not in sw.bridges and "br2" in sw.failed_bridges
    assert w.get("Bridge", BR_UUID) == {} and w.get("Interface", "i-br2") == {}


def test_netdev_bridge_is_recorded():
    sw = Switch()
    sw.reconfigure(cfg(br("br1", dp="netdev")), 0)
    assert sw.bridges["br1"].datapath_type == "netdev"


def test_netdev_bridge_opens_existing_interfaces():
    from ofproto.bridge import DeviceInfo
    devs = {"veth1": DeviceInfo("0a:00:00:00:00:07", 42, 1400, False, True)}
    sw = Switch(probe=devs.get)
    w = sw.reconfigure(cfg(br("br1", port("veth1", iface("veth1", "system")), port("gone", iface("gone", "")),
                              port("t1", iface("t1", "tap")), port("x1", iface("x1", "afxdp")),
                              dp="netdev")), 0)
    row = w.get("Interface", "i-veth1")
    assert (row["mac_in_use"], row["ifindex"], row["mtu"], row["link_state"], row["admin_state"]) == (
        "0a:00:00:00:00:07", 42, 1400, "down", "up")
    assert w.get("Interface", "i-gone") == {
        "ofport": -1, "error": "could not open network device gone (No such device)"}
    assert w.get("Interface", "i-x1")["ofport"] == -1
    assert w.get("Interface", "i-t1")["ofport"] > 0                # a tap is created, not looked up
    info = sw.bridges["br1"].port_by_name("veth1")
    assert (info.type, info.hw_addr, info.link_up) == ("system", "0a:00:00:00:00:07", False)
    # Carrier comes up: the port changes (observers hear it), the row follows.
    changed = []
    sw.bridges["br1"].on_port_changed.connect(lambda b, old, new: changed.append((old.link_up, new.link_up)))
    devs["veth1"] = DeviceInfo("0a:00:00:00:00:07", 42, 1400, True, True)
    w = sw.reconfigure(cfg(br("br1", port("veth1", iface("veth1", "system")), dp="netdev"), next_cfg=2), 1)
    assert w.get("Interface", "i-veth1")["link_state"] == "up" and changed == [(False, True)]
    # The same interface on a dummy bridge stays unopened, as before.
    sw = Switch(probe=devs.get)
    w = sw.reconfigure(cfg(br("br0", port("veth1", iface("veth1", "system")))), 0)
    assert w.get("Interface", "i-veth1")["ofport"] == -1


def test_hwaddr_and_datapath_id_config():
    sw = Switch()
    w = sw.reconfigure(cfg(br("br3", other_config=(("hwaddr", "00:11:22:33:44:55"),))), 0)
    assert w.get("Bridge", BR_UUID)["datapath_id"] == "0000001122334455"
    assert w.get("Interface", "i-br3")["mac_in_use"] == "00:11:22:33:44:55"
    sw = Switch()
    w = sw.reconfigure(cfg(br("br4", other_config=(("datapath-id", "0000000000000abc"),))), 0)
    assert w.get("Bridge", BR_UUID)["datapath_id"] == "0000000000000abc"


def test_port_mac_picks_bridge_mac():
    sw = Switch()
    w = sw.reconfigure(cfg(br("br0", port("p1", mac="00:00:00:00:00:07"))), 0)
    assert w.get("Bridge", BR_UUID)["datapath_id"] == "0000000000000007"


def test_internal_iface_mac_column():
    sw = Switch()
    w = sw.reconfigure(cfg(br("br0", port("i2", iface("i2", "internal", mac="00:00:00:00:00:09")))), 0)
    assert w.get("Interface", "i-i2")["mac_in_use"] == "00:00:00:00:00:09"


def test_patch_ports():
    sw = Switch()
    pa = port("pa", iface("pa", "patch", options=(("peer", "pb"),)))
    w = sw.reconfigure(cfg(br("br0", pa)), 0)
    assert w.get("Interface", "i-pa")["error"] == "No usable peer 'pb' exists in 'dummy' datapath."
    assert "mtu" not in w.get("Interface", "i-pa") and w.get("Interface", "i-pa")["ofport"] == 1
    pb = port("pb", iface("pb", "patch", options=(("peer", "pa"),)))
    w = sw.reconfigure(cfg(br("br0", pa), br("br1", pb, uuid="11111111-2222-3333-4444-555555555555")), 1)
    assert w.get("Interface", "i-pb")["error"] == []


def test_hooks_and_del_port():
    sw = Switch()
    events = []
    sw.on_bridge_added.connect(lambda b: (events.append(("br+", b.name)),
                                          b.on_port_added.connect(lambda b, p: events.append(("+", p.name, p.ofport))),
                                          b.on_port_removed.connect(lambda b, p: events.append(("-", p.name))),
                                          b.on_config_changed.connect(lambda b, c: events.append(("cfg", sorted(c))))))
    sw.on_bridge_removed.connect(lambda b: events.append(("br-", b.name)))
    sw.reconfigure(cfg(br("br0", port("p1"), port("p2"))), 0)
    assert events[:1] == [("br+", "br0")]
    sw.reconfigure(cfg(br("br0", port("p1"), port("p2"))), 0)
    events.clear()
    sw.reconfigure(cfg(br("br0", port("p1"), fail_mode="secure")), 1)
    assert ("-", "p2") in events and ("cfg", ["fail_mode"]) in events
    sw.reconfigure(cfg(br("br0", port("p1"), port("p5"), fail_mode="secure")), 2)
    assert ("+", "p5", 3) in events        # p2's number 2 is not reused at once
    sw.reconfigure(cfg(), 3)
    assert events[-1] == ("br-", "br0") and not sw.bridges


def test_ofport_column_survives_restart_and_request_change_moves_port():
    sw = Switch()
    sw.reconfigure(cfg(br("br0", port("p1", iface("p1", ofport=7)))), 0)
    assert sw.bridges["br0"].port_by_name("p1").ofport == 7
    sw.reconfigure(cfg(br("br0", port("p1", iface("p1", ofport=7, ofport_request=9)))), 1)
    assert sw.bridges["br0"].port_by_name("p1").ofport == 9
    assert set(sw.bridges["br0"].ports) == {9, OFPP_LOCAL}


def test_controllers_and_flow_tables_exposed():
    from ofproto.bridge import ControllerConfig
    sw = Switch()
    c = ControllerConfig(uuid="c1", target="tcp:127.0.0.1:6653", inactivity_probe=3000)
    sw.reconfigure(cfg(br("br0", controllers=(c,), flow_tables=((0, {"flow_limit": 10}),),
                          protocols=("OpenFlow13",))), 0)
    b = sw.bridges["br0"]
    assert b.controllers[0].target == "tcp:127.0.0.1:6653" and b.controllers[0].inactivity_probe == 3000
    assert b.flow_tables == {0: {"flow_limit": 10}} and b.protocols == ("OpenFlow13",)


def test_interface_on_two_bridges_is_ignored_once():
    sw = Switch()
    sw.reconfigure(cfg(br("br0", port("p1")), br("br1", port("p1"), uuid="11111111-2222-3333-4444-555555555555")), 0)
    assert sw.bridges["br0"].port_by_name("p1") is not None
    assert sw.bridges["br1"].port_by_name("p1") is None
