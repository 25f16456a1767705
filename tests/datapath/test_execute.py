"""Datapath actions on packet bytes; checksums verified with scapy."""

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from datapath.execute import execute

scapy_all = pytest.importorskip("scapy.all")
from scapy.all import (ARP, Dot1AD, Dot1Q, Ether, ICMP, IP, IPv6,  # noqa: E402
                       ICMPv6EchoRequest, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr,
                       IPv6ExtHdrFragment, Raw, SCTP, TCP, UDP)

MAC1, MAC2 = "00:00:00:00:00:01", "00:00:00:00:00:02"


def ip4(s):
    return int.from_bytes(bytes(map(int, s.split("."))), "big")


def only_output(res):
    assert len(res.outputs) == 1
    return res.outputs[0][1]


def checksums_ok(frame: bytes) -> bool:
    """Recompute every checksum scapy knows and compare with the frame's."""
    pkt = Ether(frame)
    fresh = pkt.copy()
    layers = []
    for layer_cls in (IP, TCP, UDP, ICMP, SCTP):
        if layer_cls in fresh:
            layers.append(layer_cls)
            del fresh[layer_cls].chksum
    for cls in (ICMPv6EchoRequest, ICMPv6ND_NS):
        if cls in fresh:
            layers.append(cls)
            del fresh[cls].cksum
    rebuilt = Ether(bytes(fresh))
    for cls in layers:
        field = "cksum" if cls in (ICMPv6EchoRequest, ICMPv6ND_NS) else "chksum"
        got, want = getattr(pkt[cls], field), getattr(rebuilt[cls], field)
        if cls is UDP and got == 0 and IP in pkt:
            continue            # "no checksum" stays legal
        if got != want:
            return False
    return True


# -- VLAN --------------------------------------------------------------------------
def test_push_pop_vlan_bytes():
    base = bytes(Ether(src=MAC1, dst=MAC2) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP())
    tagged = only_output(execute(base, (("push_vlan", 0x8100, 0x1000 | 103), ("output", 2))))
    # The key's 0x1000 "present" bit never reaches the wire (as Open vSwitch).
    assert tagged == base[:12] + b"\x81\x00\x00\x67" + base[12:]
    p = Ether(tagged)
    assert p[Dot1Q].vlan == 103 and p[Dot1Q].prio == 0 and IP in p
    assert only_output(execute(tagged, (("pop_vlan",), ("output", 1)))) == base
    # 802.1ad outer over 802.1Q inner (QinQ)
    qinq = only_output(execute(tagged, (("push_vlan", 0x88A8, 0x1000 | 7 | (5 << 13)),
                                        ("output", 1))))
    q = Ether(qinq)
    assert q[Dot1AD].vlan == 7 and q[Dot1AD].prio == 5 and q[Dot1Q].vlan == 103
    assert only_output(execute(qinq, (("pop_vlan",), ("pop_vlan",), ("output", 1)))) == base


def test_pop_vlan_on_untagged_is_ignored_and_mod_vlan():
    base = bytes(Ether(src=MAC1, dst=MAC2) / IP() / UDP())
    assert only_output(execute(base, (("pop_vlan",), ("output", 1)))) == base
    tagged = bytes(Ether(src=MAC1, dst=MAC2) / Dot1Q(vlan=10, prio=3) / IP() / UDP())
    out = only_output(execute(tagged, (("set_masked", {"vlan_tci": (0x1000 | 20, 0x1FFF)}),
                                       ("output", 1))))
    assert Ether(out)[Dot1Q].vlan == 20 and Ether(out)[Dot1Q].prio == 3


def test_outputs_snapshot_between_actions():
    base = bytes(Ether(src=MAC1, dst=MAC2) / IP() / UDP())
    res = execute(base, (("output", 1), ("push_vlan", 0x8100, 0x1000 | 5), ("output", 2),
                         ("pop_vlan",), ("output", 3)))
    assert [p for p, _ in res.outputs] == [1, 2, 3]
    assert res.outputs[0][1] == base == res.outputs[2][1]
    assert len(res.outputs[1][1]) == len(base) + 4


def test_drop_is_empty():
    assert execute(b"\x00" * 60, ()).outputs == []


# -- rewrites + checksums -------------------------------------------------------------
@pytest.mark.parametrize("l4", [TCP(sport=1234, dport=80, flags="S"),
                                UDP(sport=5, dport=53) / Raw(b"hello"),
                                ICMP(type=8)])
def test_ipv4_rewrites_keep_checksums(l4):
    frame = bytes(Ether(src=MAC1, dst=MAC2) / IP(src="10.0.0.1", dst="10.0.0.2", tos=0x10,
                                                 ttl=64) / l4)
    assert checksums_ok(frame)
    acts = (("set", {"dl_src": 0x0A0000000099, "dl_dst": 0x0A00000000AA,
                     "nw_src": ip4("192.168.1.7"), "nw_dst": ip4("172.16.9.250"),
                     "nw_ttl": 3}),
            ("set_masked", {"nw_tos": (0xB8, 0xFC)}),
            ("output", 4))
    out = only_output(execute(frame, acts))
    p = Ether(out)
    assert p.src == "0a:00:00:00:00:99" and p.dst == "0a:00:00:00:00:aa"
    assert p[IP].src == "192.168.1.7" and p[IP].dst == "172.16.9.250"
    assert p[IP].ttl == 3 and p[IP].tos == 0xB8
    assert checksums_ok(out)


@pytest.mark.parametrize("proto", ["tcp", "udp", "sctp"])
def test_l4_port_rewrites(proto):
    l4 = {"tcp": TCP(sport=1, dport=2), "udp": UDP(sport=1, dport=2),
          "sctp": SCTP(sport=1, dport=2)}[proto]
    frame = bytes(Ether() / IP(src="1.2.3.4", dst="5.6.7.8") / l4 / Raw(b"x" * 11))
    out = only_output(execute(frame, (("set", {"tp_src": 4000, "tp_dst": 443}), ("output", 1))))
    p = Ether(out)
    layer = p[{"tcp": TCP, "udp": UDP, "sctp": SCTP}[proto]]
    assert (layer.sport, layer.dport) == (4000, 443)
    if proto == "sctp":
        q = p.copy()
        del q[SCTP].chksum
        assert Ether(bytes(q))[SCTP].chksum == layer.chksum
    else:
        assert checksums_ok(out)


def test_udp_zero_checksum_stays_zero():
    pkt = Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=1, dport=2, chksum=0) / Raw(b"ab")
    out = only_output(execute(bytes(pkt), (("set", {"nw_src": ip4("9.9.9.9"), "tp_dst": 99}),
                                           ("output", 1))))
    assert Ether(out)[UDP].chksum == 0
    assert Ether(out)[IP].src == "9.9.9.9" and checksums_ok(out)


def test_ipv6_rewrites():
    for l4 in (TCP(sport=1, dport=2), UDP(sport=1, dport=2), ICMPv6EchoRequest()):
        frame = bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2", tc=0, hlim=9) / l4)
        acts = (("set", {"ipv6_src": int.from_bytes(bytes.fromhex("fe80" + "00" * 12 + "0007"), "big"),
                         "ipv6_dst": 1, "nw_ttl": 200, "ipv6_label": 0xABCDE}),
                ("set_masked", {"nw_tos": (0xA0, 0xFF)}),
                ("output", 1))
        out = only_output(execute(frame, acts))
        p = Ether(out)
        assert p[IPv6].src == "fe80::7" and p[IPv6].dst == "::1"
        assert p[IPv6].hlim == 200 and p[IPv6].tc == 0xA0 and p[IPv6].fl == 0xABCDE
        assert checksums_ok(out), l4


def test_nd_target_and_sll():
    frame = bytes(Ether() / IPv6(src="fe80::1", dst="ff02::1:ff00:2") /
                  ICMPv6ND_NS(tgt="fe80::2") / ICMPv6NDOptSrcLLAddr(lladdr=MAC1))
    out = only_output(execute(frame, (("set", {"nd_target": 5, "arp_sha": 0x020000000003}),
                                      ("output", 1))))
    p = Ether(out)
    assert p[ICMPv6ND_NS].tgt == "::5" and p[ICMPv6NDOptSrcLLAddr].lladdr == "02:00:00:00:00:03"
    assert checksums_ok(out)


def test_arp_rewrites():
    frame = bytes(Ether(src=MAC1, dst="ff:ff:ff:ff:ff:ff") /
                  ARP(op=1, hwsrc=MAC1, psrc="10.0.0.1", pdst="10.0.0.2"))
    out = only_output(execute(frame, (("set", {"nw_src": ip4("10.1.1.1"), "nw_dst": ip4("10.2.2.2"),
                                               "nw_proto": 2, "arp_sha": 0x020000000009,
                                               "arp_tha": 0x02000000000A}),
                                      ("output", 1))))
    a = Ether(out)[ARP]
    assert (a.op, a.psrc, a.pdst, a.hwsrc, a.hwdst) == (
        2, "10.1.1.1", "10.2.2.2", "02:00:00:00:00:09", "02:00:00:00:00:0a")


def test_set_on_missing_field_is_ignored():
    arp = bytes(Ether() / ARP())
    v6 = bytes(Ether() / IPv6() / UDP())
    later_frag = bytes(Ether() / IP(src="1.1.1.1", frag=10, proto=17) / Raw(b"\x00" * 16))
    for frame in (arp, v6, b"\x01\x02", b""):
        res = execute(frame, (("set", {"tp_src": 1, "nw_ttl": 1, "ipv6_src": 5}),
                              ("output", 1)))
        if frame in (arp,):
            assert res.outputs[0][1] == frame
    out = only_output(execute(later_frag, (("set", {"tp_dst": 9, "nw_src": ip4("2.2.2.2")}),
                                           ("output", 1))))
    assert out[34:] == later_frag[34:]                # no L4 header in a later fragment
    assert Ether(out)[IP].src == "2.2.2.2" and checksums_ok(out)
    v6frag = bytes(Ether() / IPv6() / IPv6ExtHdrFragment(offset=3, nh=17) / Raw(b"\x00" * 8))
    assert only_output(execute(v6frag, (("set", {"tp_dst": 7}), ("output", 1)))) == v6frag


# -- trunc, clone, sample, userspace, recirc --------------------------------------------
def test_trunc_applies_to_next_output_only():
    frame = bytes(range(100))
    res = execute(frame, (("trunc", 20), ("output", 1), ("output", 2)))
    assert res.outputs == [(1, frame[:20]), (2, frame)]


def test_clone_does_not_leak_changes():
    frame = bytes(Ether(src=MAC1, dst=MAC2) / IP() / UDP())
    res = execute(frame, (("clone", (("push_vlan", 0x8100, 0x1005), ("output", 1))),
                          ("output", 2)))
    assert res.outputs[1] == (2, frame) and len(res.outputs[0][1]) == len(frame) + 4


def test_sample_uses_injected_rng():
    frame = b"\x00" * 60
    acts = (("sample", 0.5, (("output", 9),)), ("output", 1))
    assert [p for p, _ in execute(frame, acts, rng=lambda: 0.4).outputs] == [9, 1]
    assert [p for p, _ in execute(frame, acts, rng=lambda: 0.6).outputs] == [1]
    always = (("sample", 0xFFFFFFFF, (("output", 9),)),)
    assert execute(frame, always, rng=lambda: 0.999).outputs == [(9, frame)]


def test_userspace_and_recirc_are_collected():
    frame = b"\x00" * 60
    res = execute(frame, (("userspace", {"pid": 0, "controller": {"reason": 1}}),
                          ("push_vlan", 0x8100, 0x1001), ("recirc", 7)))
    assert res.upcalls == [(frame, {"pid": 0, "controller": {"reason": 1}})]
    assert res.recircs == [(7, frame[:12] + b"\x81\x00\x00\x01" + frame[12:])]


# -- robustness ---------------------------------------------------------------------------
_MEMBERS = ("dl_src", "dl_dst", "vlan_tci", "nw_src", "nw_dst", "nw_tos", "nw_ttl",
            "nw_proto", "ipv6_src", "ipv6_dst", "ipv6_label", "tp_src", "tp_dst",
            "arp_sha", "arp_tha", "nd_target", "pkt_mark", "bogus")
_vals = st.integers(-5, (1 << 130))
_action = st.recursive(
    st.one_of(
        st.tuples(st.just("output"), st.integers(0, 5)),
        st.tuples(st.just("push_vlan"), st.sampled_from((0x8100, 0x88A8, 0x1234)), _vals),
        st.just(("pop_vlan",)),
        st.tuples(st.just("set"), st.dictionaries(st.sampled_from(_MEMBERS), _vals, max_size=4)),
        st.tuples(st.just("set_masked"),
                  st.dictionaries(st.sampled_from(_MEMBERS), st.tuples(_vals, _vals), max_size=4)),
        st.tuples(st.just("trunc"), st.integers(-3, 200)),
        st.tuples(st.just("userspace"), st.just({})),
        st.tuples(st.just("recirc"), st.integers(0, 9)),
        st.just(("nonsense", 1, 2)),
        st.just(()),
    ),
    lambda inner: st.one_of(
        st.tuples(st.just("clone"), st.lists(inner, max_size=3).map(tuple)),
        st.tuples(st.just("sample"), st.sampled_from((0, 0.5, 1, 0x7FFFFFFF)),
                  st.lists(inner, max_size=3).map(tuple))),
    max_leaves=8)


def _structured():
    hdrs = [bytes(Ether() / IP() / TCP()), bytes(Ether() / IP(ihl=7, options=b"\x01" * 8) / UDP()),
            bytes(Ether() / Dot1Q() / IPv6() / TCP()), bytes(Ether() / ARP()),
            bytes(Ether() / Dot1AD() / Dot1Q() / IP() / ICMP()),
            bytes(Ether() / IPv6() / IPv6ExtHdrFragment(nh=6) / TCP()),
            bytes(Ether() / IP() / SCTP())]
    return st.tuples(st.sampled_from(hdrs), st.integers(0, 90), st.binary(max_size=8)).map(
        lambda t: t[0][:t[1]] + t[2])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=120), _structured()), st.lists(_action, max_size=6))
def test_fuzz_never_raises(frame, actions):
    res = execute(frame, tuple(actions))
    for port, out in res.outputs:
        assert isinstance(out, bytes)


_ip = st.integers(0, 0xFFFFFFFF)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(("tcp", "udp", "icmp")), _ip, _ip, st.integers(0, 255),
       st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
       st.binary(max_size=21))
def test_ipv4_checksums_property(proto, src, dst, tos, ttl, sp, dp, payload):
    l4 = {"tcp": TCP(sport=7, dport=8), "udp": UDP(sport=7, dport=8), "icmp": ICMP()}[proto]
    frame = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / l4 / Raw(payload))
    acts = (("set", {"nw_src": src, "nw_dst": dst, "nw_ttl": ttl, "tp_src": sp & 0xFF,
                     "tp_dst": dp & 0xFF}),
            ("set_masked", {"nw_tos": (tos, 0xFC), "tp_src": (sp, 0xFFFF)}),
            ("output", 1))
    out = only_output(execute(frame, acts))
    assert checksums_ok(out)
