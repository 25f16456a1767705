"""Packet parsing: agreement with Open vSwitch, totality, the fast path, masked keys."""

import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings, strategies as st
from scapy.all import (ARP, ICMP, IP, SCTP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6EchoRequest,
                       ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr,
                       IPOption_NOP, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, LLC, SNAP, Raw)
from scapy.layers.igmp import IGMP
from scapy.contrib.mpls import MPLS

from datapath.flow import compile_masked_key, extract, masked_key
from datapath.odp import format_flow

A, B = "00:00:00:00:00:01", "00:00:00:00:00:02"


def _frames():
    e = Ether(src=A, dst=B)
    fs = [
        e / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80, flags="SA"),
        e / IP(tos=0x1F, ttl=3) / UDP(sport=5, dport=6) / Raw(b"x" * 30),
        e / Dot1Q(vlan=5, prio=3) / IP() / TCP(flags="FPU"),
        e / Dot1Q(vlan=5, prio=3) / Dot1Q(vlan=7) / IP() / UDP(),
        Ether(src=A, dst=B, type=0x88A8) / Dot1Q(vlan=5) / Dot1Q(vlan=7) / IP() / UDP(),
        e / Dot1AD(vlan=9) / Dot1Q(vlan=7) / Dot1Q(vlan=8) / IP() / UDP(),   # third tag = payload
        e / IP(options=[IPOption_NOP()] * 8) / TCP(dport=22, options=[("MSS", 1460)]),
        e / IP(flags="MF", frag=0) / UDP(),
        e / IP(frag=20) / TCP(),
        e / IP() / ICMP(type=3, code=1) / IP() / UDP(),
        e / IP() / ICMP(type=8) / Raw(b"a" * 10),
        e / IP() / IGMP(type=0x16, gaddr="224.1.2.3"),
        e / IP() / SCTP(sport=7, dport=9),
        e / IP(proto=99) / Raw(b"abcdefgh"),
        e / IPv6(fl=0x12345, tc=0xB8, hlim=9) / TCP(sport=1, dport=2),
        e / IPv6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / UDP(),
        e / IPv6() / IPv6ExtHdrFragment(offset=0, m=1) / UDP(sport=4, dport=5),
        e / IPv6() / IPv6ExtHdrFragment(offset=5) / UDP(),
        e / IPv6() / ICMPv6EchoRequest(),
        e / IPv6() / ICMPv6ND_NS(tgt="fe80::1") / ICMPv6NDOptSrcLLAddr(lladdr="00:11:22:33:44:55"),
        e / IPv6() / ICMPv6ND_NA(tgt="fe80::2", R=1, S=1) / ICMPv6NDOptDstLLAddr(lladdr="00:11:22:33:44:66"),
        e / IPv6() / ICMPv6ND_NS(tgt="fe80::1") / ICMPv6NDOptSrcLLAddr(lladdr="00:11:22:33:44:55")
        / ICMPv6NDOptSrcLLAddr(lladdr="00:11:22:33:44:77"),             # repeated option
        e / ARP(op=1, psrc="1.2.3.4", pdst="5.6.7.8", hwsrc=A),
        e / ARP(op=0x1234),
        e / ARP(hwtype=6),
        e / MPLS(label=100, ttl=3, s=0) / MPLS(label=200, s=0) / MPLS(label=3, s=0)
        / MPLS(label=4, s=1) / IP(),
        Ether(src=A, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x02\x07\x04" + bytes(20)),
        Ether(src=A, dst=B, type=60) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800) / IP() / UDP(),
        Ether(src=A, dst=B, type=60) / LLC(dsap=0x42, ssap=0x42, ctrl=3) / Raw(bytes(40)),
    ]
    out = [bytes(f) for f in fs]
    # Malformed IPv4: bad IHL, total length too big / too small, trailing padding.
    ip = bytes(e / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=1, dport=2))
    out.append(ip[:14] + b"\x44" + ip[15:])
    out.append(ip[:14] + b"\x4f" + ip[15:])
    out.append(ip[:16] + struct.pack("!H", 200) + ip[18:])
    out.append(ip[:16] + struct.pack("!H", 19) + ip[18:])
    out.append(ip[:16] + struct.pack("!H", 24) + ip[18:])          # UDP cut by tot_len
    out.append(ip + bytes(20))                                      # trailing padding
    v6 = bytes(e / IPv6() / UDP())
    out.append(v6[:18] + struct.pack("!H", 100) + v6[20:])          # bad payload length
    nd = bytes(e / IPv6() / ICMPv6ND_NS(tgt="fe80::1") / ICMPv6NDOptSrcLLAddr(lladdr=A))
    out.append(nd[:-7] + b"\x00" + nd[-6:])                         # zero-length option
    tcp = bytes(e / IP() / TCP())
    out.append(tcp[:46] + b"\x40" + tcp[47:])                       # TCP data offset 4
    # Truncation at every byte of a few frames.
    for f in (fs[0], fs[3], fs[15], fs[19], fs[22], fs[25]):
        b = bytes(f)
        out.extend(b[:n] for n in range(len(b)))
    return out


def _write_pcap(path, frames):
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for f in frames:
            fh.write(struct.pack("<IIII", 0, 0, len(f), len(f)) + f)


@pytest.mark.needs_ovs
@pytest.mark.skipif(not shutil.which("ovs-ofctl"), reason="needs ovs-ofctl")
def test_keys_agree_with_ovs_parse_pcap(tmp_path):
    frames = [f for f in _frames() if len(f) >= 14]
    _write_pcap(tmp_path / "c.pcap", frames)
    ref = subprocess.run(["ovs-ofctl", "parse-pcap", str(tmp_path / "c.pcap")],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(ref) == len(frames)
    bad = []
    for f, r in zip(frames, ref):
        ours = format_flow(extract(f, 0xFFFF, vlan_limit=2))
        if ours != r:
            bad.append((f.hex(), ours, r))
    assert not bad, "\n".join(f"{h}\n ours {o}\n ovs  {r}" for h, o, r in bad[:6])


def test_short_frames_give_metadata_only():
    for n in range(14):
        assert extract(bytes(n), 3, recirc_id=5) == {"in_port": 3, "recirc_id": 5}


def test_vlan_limit():
    f = bytes(Ether() / Dot1Q(vlan=5) / Dot1Q(vlan=7) / IP() / UDP())
    one = extract(f, 1, vlan_limit=1)
    assert one["vlan_tci"] == 0x1005 and one["dl_type"] == 0x8100 and "vlan_tci1" not in one
    two = extract(f, 1)
    assert two["vlan_tci1"] == 0x1007 and two["dl_type"] == 0x0800 and two["tp_dst"] == 53


def _nz(d):
    return {k: v for k, v in d.items() if v}


def _check(frame):
    f = extract(frame, 1)
    slow = extract(frame, 1, skb_priority=0)      # metadata bypasses the fast path
    assert _nz(f) == _nz(slow)
    from datapath.flow import WIDTHS
    for k, v in f.items():
        assert 0 <= v < 1 << WIDTHS[k], (k, v)
    format_flow(f)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data):
    _check(data)
    _check(bytes.fromhex("00000000000200000000000108004500") + data)
    _check(bytes.fromhex("00000000000200000000000186dd6000000000") + data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_frames()), st.integers(0, 120), st.integers(0, 255), st.binary(max_size=40))
def test_mutated_frames_never_raise(frame, pos, byte, tail):
    b = bytearray(frame)
    if b:
        b[pos % len(b)] = byte
    _check(bytes(b))
    _check(bytes(b) + tail)


def test_fast_path_common_shapes():
    for frame in (bytes(Ether() / IP() / TCP()), bytes(Ether() / IP() / UDP() / Raw(b"1" * 18))):
        f = extract(frame, 4)
        assert f["nw_proto"] in (6, 17) and f["tp_dst"] in (53, 80) and f["in_port"] == 4


def test_masked_key_compiled_equals_generic():
    f = extract(bytes(Ether() / Dot1Q(vlan=9) / IP(src="10.1.2.3") / TCP(dport=443)), 2)
    spec = (("in_port", 0xFFFFFFFF), ("vlan_tci", 0x1FFF), ("nw_src", 0xFFFF0000),
            ("tp_dst", 0xFFFF), ("ipv6_src", 0))
    key = compile_masked_key(spec)
    assert key(f) == masked_key(f, spec) == (2, 0x1009, 0x0A010000, 443, 0)
    assert compile_masked_key(spec) is key
    assert compile_masked_key(()) ({}) == ()
