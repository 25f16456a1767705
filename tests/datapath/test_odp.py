"""Datapath syntax: keys, masks and actions as Open vSwitch prints them; frames from keys."""

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time

import pytest

from datapath.flow import extract
from datapath.odp import (format_actions, format_flow, format_key, format_megaflow_match,
                          frame_from_key, parse_actions, parse_key)

# Printed by ovs-vswitchd 3.1 (dummy datapath) `ovs-appctl dpctl/dump-flows [-m]`.
KEYS = [
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no)",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(src=10.1.0.1/255.0.0.0,frag=no)",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(src=11.1.0.1/255.0.0.0,proto=6,frag=no),tcp(dst=80),tcp_flags(+syn)",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:05/01:00:00:00:00:00),eth_type(0x1234)",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x8100),vlan(vid=5,pcp=2/0x0),encap(eth_type(0x0800),ipv4(src=11.1.0.1/255.0.0.0,proto=17,frag=no))",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x86dd),ipv6(src=2001::1/ffff::,frag=no)",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:05/01:00:00:00:00:00),eth_type(0x86dd),ipv6(src=3001::1/ffff::,proto=17,frag=no)",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0806),arp(op=1)",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x8847),mpls(label=100/0xfffff,tc=0/0,ttl=64/0x0,bos=1/0)",
]
PORTS = {1: "p1", 2: "p2", 3: "p3"}
VERBOSE = [
    "skb_priority(0/0),skb_mark(0/0),ct_state(0/0),ct_zone(0/0),ct_mark(0/0),ct_label(0/0),recirc_id(0),dp_hash(0/0),in_port(p1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:05/00:00:00:00:00:00,dst=50:54:00:00:00:07/00:00:00:00:00:00),eth_type(0x0800),ipv4(src=192.168.0.1/0.0.0.0,dst=192.168.0.2/0.0.0.0,proto=1/0,tos=0/0,ttl=64/0,frag=no),icmp(type=8/0,code=0/0)",
    "skb_priority(0/0),skb_mark(0/0),ct_state(0/0),ct_zone(0/0),ct_mark(0/0),ct_label(0/0),recirc_id(0),dp_hash(0/0),in_port(p1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:05/00:00:00:00:00:00,dst=50:54:00:00:00:07/00:00:00:00:00:00),eth_type(0x8100),vlan(vid=5,pcp=2/0x0),encap(eth_type(0x0800),ipv4(src=11.1.0.1/255.0.0.0,dst=192.168.0.2/0.0.0.0,proto=17,tos=0/0,ttl=64/0,frag=no),udp(src=1/0,dst=80/0))",
    "skb_priority(0/0),skb_mark(0/0),ct_state(0/0),ct_zone(0/0),ct_mark(0/0),ct_label(0/0),recirc_id(0),dp_hash(0/0),in_port(p1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:05/00:00:00:00:00:00,dst=50:54:00:00:00:07/00:00:00:00:00:00),eth_type(0x86dd),ipv6(src=2001::1/ffff::,dst=::2/::,label=0x5/0,proto=58/0,tclass=0/0,hlimit=255/0,frag=no),icmpv6(type=135/0,code=0/0),nd(target=fe80::1/::,sll=00:11:22:33:44:55/00:00:00:00:00:00,tll=00:00:00:00:00:00/00:00:00:00:00:00)",
    "skb_priority(0/0),skb_mark(0/0),ct_state(0/0),ct_zone(0/0),ct_mark(0/0),ct_label(0/0),recirc_id(0),dp_hash(0/0),in_port(p1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:05/00:00:00:00:00:00,dst=ff:ff:ff:ff:ff:ff/00:00:00:00:00:00),eth_type(0x0806),arp(sip=1.1.1.1/0.0.0.0,tip=2.2.2.2/0.0.0.0,op=1,sha=50:54:00:00:00:05/00:00:00:00:00:00,tha=00:00:00:00:00:00/00:00:00:00:00:00)",
    "skb_priority(0/0),skb_mark(0/0),ct_state(0/0),ct_zone(0/0),ct_mark(0/0),ct_label(0/0),recirc_id(0),dp_hash(0/0),in_port(p1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:05/00:00:00:00:00:00,dst=ff:ff:ff:ff:ff:ff/00:00:00:00:00:00),eth_type(0x8847),mpls(label=100/0xfffff,tc=0/0,ttl=64/0x0,bos=1/0)",
]
ACTIONS = [
    "drop", "2", "pop_vlan,push_vlan(vid=200,pcp=0),2",
    "push_vlan(vid=103,pcp=0),2,pop_vlan,3",
    "set(eth(src=00:00:00:00:00:aa,dst=00:00:00:00:00:bb)),3",
    "set(tcp(src=4321,dst=8080)),4",
    "set(eth(src=00:00:00:00:00:01)),set(ipv4(src=10.0.0.9,dst=10.0.0.10,ttl=5)),set(tcp(dst=7)),2,push_vlan(vid=7,pcp=0),3",
    "set(ipv4(src=10.0.0.9,tos=0x10/0xfc,ttl=63)),set(udp(src=99)),2,userspace(pid=0,controller(reason=1,dont_send=0,continuation=0,recirc_id=6,rule_cookie=0,controller_id=0,max_len=65535)),3",
    "set(ipv6(src=2001::5,label=0x7)),2,3,1",
    "pop_mpls(eth_type=0x800),2,recirc(0x8)",
    "userspace(pid=0,slow_path(action))",
    "push_vlan(tpid=0x88a8,vid=9,pcp=0),2",
    "clone(3),sample(sample=50.0%,actions(2)),hash(l4(0)),trunc(100),ct(commit,zone=5),ct_clear",
    "push_mpls(label=7,tc=0,ttl=64,bos=1,eth_type=0x8847),set(skb_mark(0x5)),set(icmp(type=3))",
]


@pytest.mark.parametrize("text", KEYS)
def test_key_round_trip(text):
    flow, mask = parse_key(text)
    assert format_key(flow, mask) == text


@pytest.mark.parametrize("text", VERBOSE)
def test_verbose_key_round_trip(text):
    flow, mask = parse_key(text, ports=PORTS)
    assert format_key(flow, mask, ports=PORTS, verbose=True) == text


@pytest.mark.parametrize("text", ACTIONS)
def test_actions_round_trip(text):
    assert format_actions(parse_actions(text)) == text


def test_action_tuples():
    acts = (("push_vlan", 0x8100, 0x1000 | 103), ("output", 2), ("pop_vlan",), ("output", 3))
    assert format_actions(acts) == "push_vlan(vid=103,pcp=0),2,pop_vlan,3"
    assert format_actions(()) == "drop"
    assert format_actions((("set", {"tp_src": 1, "tp_dst": 2}),),
                          flow={"dl_type": 0x0800, "nw_proto": 17}) == "set(udp(src=1,dst=2))"
    assert format_actions((("set_masked", {"nw_src": (0x0A000009, 0xFFFFFFFF)}, "ipv4"),
                           ("output", 2)), ports=PORTS) == "set(ipv4(src=10.0.0.9)),p2"


def test_megaflow_and_flow_lines():
    frame = bytes.fromhex("00000000000200000000000108004500002800004000400600000a000001"
                          "0a00020204d2005000000000000000005002200000000000")
    flow = extract(frame, 1)
    mask = {"recirc_id": 0xFFFFFFFF, "in_port": 0xFFFFFFFF, "packet_type": 0xFFFFFFFF,
            "dl_type": 0xFFFF, "nw_frag": 3}
    assert format_megaflow_match(flow, mask) == "recirc_id=0,eth,ip,in_port=1,nw_frag=no"
    assert format_key(flow, mask) == ("recirc_id(0),in_port(1),packet_type(ns=0,id=0),"
                                      "eth_type(0x0800),ipv4(frag=no)")
    assert format_flow(flow) == (
        "tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,"
        "nw_src=10.0.0.1,nw_dst=10.0.2.2,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,"
        "tp_src=1234,tp_dst=80,tcp_flags=syn")


def test_exact_key_of_extracted_flow_round_trips():
    frame = bytes.fromhex("0000000000020000000000018100a0650800450000280000400040060000"
                          "0a0000010a00020204d2005000000000000000005012200000000000")
    flow = extract(frame, 7)
    text = format_key(flow)
    assert "vlan(vid=101,pcp=5),encap(eth_type(0x0800)" in text and "tcp_flags(syn|ack)" in text
    flow2, _ = parse_key(text)
    nz = lambda d: {k: v for k, v in d.items() if v}  # noqa: E731
    assert nz(flow2) == nz(flow)
    assert nz(extract(frame_from_key(flow2), 7)) == nz(flow)


# --------------------------------------------------------------------- real OVS

COMPOSE = [
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x0800),ipv4(src=192.168.0.1,dst=192.168.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0)",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x0800),ipv4(src=10.1.0.1,dst=192.168.0.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=1,dst=80),tcp_flags(syn)",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x0800),ipv4(src=10.1.0.1,dst=192.168.0.2,proto=6,tos=4,ttl=9,frag=no),tcp(src=1,dst=80),tcp_flags(ack)",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x8100),vlan(vid=5,pcp=2),encap(eth_type(0x0800),ipv4(src=11.1.0.1,dst=192.168.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=80))",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x86dd),ipv6(src=2001::1,dst=::2,label=5,proto=58,tclass=0,hlimit=255,frag=no),icmpv6(type=135,code=0),nd(target=fe80::1,sll=00:11:22:33:44:55)",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x86dd),ipv6(src=3001::1,dst=::2,label=5,proto=17,tclass=0,hlimit=255,frag=no),udp(src=3,dst=4)",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),arp(sip=1.1.1.1,tip=2.2.2.2,op=1,sha=50:54:00:00:00:05,tha=00:00:00:00:00:00)",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=ff:ff:ff:ff:ff:ff),eth_type(0x8847),mpls(label=100,tc=0,ttl=64,bos=1)",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x0800),ipv4(src=10.1.0.1,dst=192.168.0.2,proto=17,tos=0,ttl=64,frag=first),udp(src=1,dst=2)",
    "in_port(1),eth(src=50:54:00:00:00:05,dst=50:54:00:00:00:07),eth_type(0x0800),ipv4(src=10.1.0.1,dst=192.168.0.2,proto=17,tos=0,ttl=64,frag=later)",
]
COMPOSE_LEN = [(COMPOSE[3], 100), (COMPOSE[1], 80), (COMPOSE[6], 60)]


def _read_pcap(path):
    data = open(path, "rb").read()
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


@pytest.fixture(scope="module")
def ovs():
    if not (shutil.which("ovs-vswitchd") and shutil.which("ovsdb-server")):
        pytest.skip("needs Open vSwitch")
    d = tempfile.mkdtemp(prefix="ovs", dir="/tmp")
    env = dict(os.environ, OVS_RUNDIR=d, OVS_DBDIR=d, OVS_LOGDIR=d, OVS_SYSCONFDIR=d)
    schema = next(p for p in ("/usr/share/openvswitch/vswitch.ovsschema",
                              "/usr/local/share/openvswitch/vswitch.ovsschema") if os.path.exists(p))
    run = lambda *a: subprocess.run(a, env=env, check=True, capture_output=True, text=True).stdout  # noqa: E731
    run("ovsdb-tool", "create", f"{d}/conf.db", schema)
    procs = [subprocess.Popen(["ovsdb-server", f"--remote=punix:{d}/db.sock", "--pidfile",
                               "--log-file", f"{d}/conf.db"], env=env)]
    try:
        for _ in range(100):
            if os.path.exists(f"{d}/db.sock"):
                break
            time.sleep(0.05)
        run("ovs-vsctl", f"--db=unix:{d}/db.sock", "--no-wait", "init")
        procs.append(subprocess.Popen(["ovs-vswitchd", "--enable-dummy", "--disable-system",
                                       "--pidfile", "--log-file", f"unix:{d}/db.sock"], env=env))
        run("ovs-vsctl", f"--db=unix:{d}/db.sock", "--timeout=10", "add-br", "br0", "--", "set",
            "bridge", "br0", "datapath_type=dummy", "fail-mode=secure")
        for i in (1, 2):
            run("ovs-vsctl", f"--db=unix:{d}/db.sock", "--timeout=10", "add-port", "br0", f"p{i}",
                "--", "set", "Interface", f"p{i}", "type=dummy", f"ofport_request={i}",
                f"options:tx_pcap={d}/p{i}.pcap")
        run("ovs-ofctl", "add-flow", "br0", "in_port=1,actions=output:2")
        yield d, run
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.needs_ovs
def test_frame_from_key_matches_ovs(ovs):
    d, run = ovs
    expected = []
    for text in COMPOSE:
        run("ovs-appctl", "netdev-dummy/receive", "p1", text)
        expected.append(frame_from_key(parse_key(text)[0]))
    for text, n in COMPOSE_LEN:
        run("ovs-appctl", "netdev-dummy/receive", "p1", text, "--len", str(n))
        expected.append(frame_from_key(parse_key(text)[0], packet_size=n))
    for _ in range(50):
        got = _read_pcap(f"{d}/p2.pcap")
        if len(got) >= len(expected):
            break
        time.sleep(0.05)
    assert [g.hex() for g in got] == [e.hex() for e in expected]


@pytest.mark.needs_ovs
def test_trace_flow_line_matches_ovs(ovs):
    d, run = ovs
    frame = frame_from_key(parse_key(COMPOSE[3])[0])
    out = run("ovs-appctl", "ofproto/trace", "br0", "in_port=1", frame.hex())
    line = next(ln for ln in out.splitlines() if ln.startswith("Flow: "))
    assert line == "Flow: " + format_flow(extract(frame, 1, vlan_limit=1))
