"""The dpif object: ports, receive (hit/miss/upcall), flows, stats, text."""

import errno
import struct

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from datapath.dpif import (ACTION, MISS, Datapath, FlowPutError, format_stats,
                           format_tcp_flags)
from tests.datapath.test_megaflow import slow_path, sort_rules

MAC1, MAC2 = 0x000000000001, 0x000000000002


def udp_frame(src=0x0A000001, dst=0x0A000002, sport=1000, dport=53, payload=b"x" * 18,
              dl_src=MAC1, dl_dst=MAC2):
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + 8 + len(payload), 0, 0, 64, 17, 0, src, dst)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return (dl_dst.to_bytes(6, "big") + dl_src.to_bytes(6, "big") + b"\x08\x00" + ip + udp
            + payload)


def tcp_frame(sport=1000, dport=80, flags=0x02, dst=0x0A000002):
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 40, 0, 0, 64, 6, 0, 0x0A000001, dst)
    tcp = struct.pack("!HHIIHHHH", sport, dport, 0, 0, (5 << 12) | flags, 0, 0, 0)
    return MAC2.to_bytes(6, "big") + MAC1.to_bytes(6, "big") + b"\x08\x00" + ip + tcp


def vlan_frame(vid=10):
    f = udp_frame()
    return f[:12] + struct.pack("!HH", 0x8100, vid) + f[12:]


# -- ports ---------------------------------------------------------------------------
def test_dummy_port_numbering_as_dpif_netdev():
    dp = Datapath("ovs-dummy", "dummy")
    assert [(p.port_no, p.name, p.type) for p in dp.port_list()] == [(0, "ovs-dummy", "dummy-internal")]
    assert [dp.port_add(n) for n in ("p1", "p2", "p3", "b1", "b2")] == [1, 2, 3, 4, 5]
    assert dp.port_add("br0", "internal") == 100
    assert dp.port_by_name("br0").type == "dummy-internal"
    with pytest.raises(FlowPutError) as e:
        dp.port_add("p1")
    assert e.value.errno == errno.EEXIST
    dp.port_del(2)
    assert dp.port_add("x") == 2
    with pytest.raises(FlowPutError):
        dp.port_del(0)


def test_netdev_port_numbering_is_sequential():
    dp = Datapath("ovs-netdev", "netdev")
    assert dp.port_list()[0].type == "tap"
    assert dp.port_add("veth7", "system") == 1
    assert dp.port_add("br0", "internal") == 2


# -- receive -----------------------------------------------------------------------------
def make_dp(**kw):
    dp = Datapath("ovs-dummy", "dummy", **kw)
    for n in ("p1", "p2", "p3"):
        dp.port_add(n)
    return dp


def test_miss_upcall_then_install_then_hit():
    dp = make_dp()
    f = udp_frame()
    res = dp.receive(1, f, now=100)
    assert res.outputs == [] and len(res.upcalls) == 1
    up = res.upcalls[0]
    assert up.kind == MISS and up.port == 1 and up.packet == f
    assert up.flow["in_port"] == 1 and up.flow["tp_dst"] == 53
    res = dp.handle_upcall_result(up, (("output", 2),), {"dl_dst": (1 << 48) - 1}, now=100)
    assert res.outputs == [(2, f)]
    res = dp.receive_batch(1, [f, udp_frame(sport=7), udp_frame(dl_dst=9)], now=200)
    assert res.outputs == [(2, f), (2, udp_frame(sport=7))]
    assert len(res.upcalls) == 1
    assert dp.show_header() == "dummy@ovs-dummy: hit:2 missed:2"
    (mf,) = dp.flow_dump()
    # the upcall's own packet is not counted (OVS: packets:N-1)
    assert (mf.packets, mf.bytes, mf.used) == (2, 2 * len(f), 200)
    # the same answer again (a racing duplicate) is EEXIST inside: still executes
    res = dp.handle_upcall_result(up, (("output", 2),), {"dl_dst": (1 << 48) - 1}, now=300)
    assert res.outputs == [(2, f)] and len(dp.flow_dump()) == 1


def test_sync_handler_installs_and_next_frame_hits():
    calls = []

    def handler(up):
        calls.append(up)
        return (("output", 3),), {"tp_dst": 0xFFFF}

    dp = make_dp(upcall_handler=handler)
    frames = [udp_frame(sport=s) for s in range(10)]
    res = dp.receive_batch(1, frames, now=0)
    assert len(calls) == 1 and res.upcalls == []
    assert res.outputs == [(3, fr) for fr in frames]
    assert dp.stats["hit"] == 9 and dp.stats["missed"] == 1
    assert res.by_port() == {3: frames}


def test_emc_front_hits_and_follows_revalidation_and_deletion():
    dp = make_dp(upcall_handler=lambda up: ((("output", 2),), {"tp_dst": 0xFFFF}))
    f = tcp_frame(flags=0x12)
    dp.receive(1, f, 0)
    dp.receive(1, f, 1)                 # masked hit, populates the exact front
    assert len(dp.cache.emc) == 1
    assert dp.receive(1, f, 2).outputs == [(2, f)]      # exact-front hit
    (mf,) = dp.flow_dump()
    assert mf.packets == 2 and mf.tcp_flags == 0x12
    dp.revalidate(lambda mf: (("output", 3),))
    assert dp.receive(1, f, 3).outputs == [(3, f)]
    dp.flow_del(ufid=mf.ufid)
    dp.upcall_handler = None
    res = dp.receive(1, f, 4)
    assert res.outputs == [] and len(res.upcalls) == 1


def test_non_output_actions_and_unknown_port():
    dp = make_dp(upcall_handler=lambda up: (
        (("push_vlan", 0x8100, 0x1000 | 5), ("output", 2), ("userspace", {"pid": 1})), {}))
    f = udp_frame()
    res = dp.receive_batch(1, [f, f], 0)
    tagged = f[:12] + b"\x81\x00\x00\x05" + f[12:]
    assert res.outputs == [(2, tagged), (2, tagged)]
    assert [u.kind for u in res.upcalls] == [ACTION, ACTION]
    assert res.upcalls[0].userdata == {"pid": 1} and res.upcalls[0].port == 1
    assert dp.receive(42, f, 0).outputs == [] and dp.stats["lost"] == 1


def test_recirculation_looks_up_again_with_recirc_id():
    def handler(up):
        if up.flow.get("recirc_id", 0) == 0:
            return (("pop_vlan",), ("recirc", 5)), {"vlan_tci": 0xFFFF}
        return (("output", 3),), {"recirc_id": 0xFFFFFFFF}

    dp = make_dp(upcall_handler=handler)
    f = vlan_frame()
    res = dp.receive(1, f, 0)
    assert res.outputs == [(3, udp_frame())]
    res = dp.receive(1, f, 1)
    assert res.outputs == [(3, udp_frame())]
    assert dp.stats["flows"] == 2 and dp.stats["hit"] == 2


def test_flow_limit_executes_without_installing():
    dp = make_dp(flow_limit=2, upcall_handler=lambda up: ((("output", 2),), {"tp_src": 0xFFFF}))
    res = dp.receive_batch(1, [udp_frame(sport=s) for s in (1, 2, 3, 3)], 0)
    assert len(res.outputs) == 4 and len(dp.flow_dump()) == 2
    assert dp.stats["missed"] == 4


def test_flow_api_and_expiry():
    dp = make_dp(max_idle=10_000)
    flow = {"in_port": 1, "dl_type": 0x800, "nw_dst": 7}
    mf = dp.flow_put(flow, {"nw_dst": 0xFFFFFFFF, "dl_type": 0xFFFF}, [("output", 2)], now=0)
    assert dp.flow_get(ufid=mf.ufid) is mf
    assert dp.flow_get(flow=dict(flow, tp_dst=1)) is mf
    assert dp.flow_get(flow=flow, mask={"nw_dst": 0xFFFFFFFF, "dl_type": 0xFFFF}) is mf
    assert dp.execute(b"abc", mf.actions).outputs == [(2, b"abc")]
    assert dp.run(5_000) == [] and dp.run(10_001) == [mf]
    with pytest.raises(FlowPutError) as e:
        dp.flow_del(ufid=mf.ufid)
    assert e.value.errno == errno.ENOENT
    dp.flow_put(flow, {}, (), now=0)
    assert len(dp.flow_flush()) == 1 and dp.flow_dump() == []


def test_stats_text():
    dp = make_dp()
    mf = dp.flow_put({"in_port": 1}, {}, (("output", 2),), now=0)
    assert format_stats(mf, 1000) == "packets:0, bytes:0, used:never"
    mf.packets, mf.bytes, mf.used, mf.tcp_flags = 1, 106, 485, 0x12
    assert format_stats(mf, 1000) == "packets:1, bytes:106, used:0.515s, flags:S."
    assert format_tcp_flags(0) == "none" and format_tcp_flags(0x3F) == "SFPRU."


def test_dump_flows_text():
    odp = pytest.importorskip("datapath.odp")
    dp = make_dp()
    mf = dp.flow_put({"in_port": 1, "dl_type": 0x800}, {"dl_type": 0xFFFF}, (("output", 2),), 0)
    mf.packets, mf.bytes, mf.used = 1, 106, 485
    text = dp.format_dump_flows(1000)
    lines = text.splitlines()
    assert lines[0] == "flow-dump from the main thread:"
    assert lines[1] == (odp.format_key(mf.key, mf.mask) +
                        ", packets:1, bytes:106, used:0.515s, actions:" +
                        odp.format_actions(mf.actions))
    assert dp.format_dump_flows(1000, main_thread_header=False) == lines[1] + "\n"
    assert dp.format_dump_flows(1000, verbose=True).splitlines()[1].startswith(f"ufid:{mf.ufid}, ")


def test_no_trio_in_core_modules():
    import importlib
    for m in ("datapath.megaflow", "datapath.execute", "datapath.dpif"):
        mod = importlib.import_module(m)
        assert "trio" not in vars(mod)
    src = "".join(open(importlib.import_module(m).__file__).read()
                  for m in ("datapath.megaflow", "datapath.execute", "datapath.dpif"))
    assert "import trio" not in src


# -- the megaflow contract through the whole receive path (real flow.extract) ----------
_FIELDS = {"nw_src": 32, "nw_dst": 32, "tp_src": 16, "tp_dst": 16, "nw_proto": 8,
           "dl_dst": 48, "in_port": 32}
_SMALL = {"nw_src": (0x0A000000, 3), "nw_dst": (0x0A000000, 3), "tp_src": (0, 3),
          "tp_dst": (0, 3), "dl_dst": (0, 2)}


@st.composite
def dp_rules(draw):
    out = []
    for i in range(draw(st.integers(0, 6))):
        members = draw(st.lists(st.sampled_from(sorted(_FIELDS)), max_size=3, unique=True))
        match = {}
        for m in members:
            if m == "nw_proto":
                match[m] = (draw(st.sampled_from((6, 17))), 0xFF)
            elif m == "in_port":
                match[m] = (draw(st.integers(1, 2)), 0xFFFFFFFF)
            else:
                base, bits = _SMALL[m]
                match[m] = (base | draw(st.integers(0, (1 << bits) - 1)),
                            ((1 << _FIELDS[m]) - 1) ^ draw(st.integers(0, (1 << bits) - 1)))
        out.append((draw(st.integers(0, 4)), match, (("output", 10 + i),)))
    return sort_rules(out)


_pkt = st.tuples(st.integers(1, 2), st.sampled_from(("tcp", "udp", "vlan")),
                 st.integers(0, 7), st.integers(0, 7), st.integers(0, 7), st.integers(0, 7),
                 st.integers(0, 3))


def build(p):
    port, kind, s, d, sp, dpt, mac = p
    if kind == "tcp":
        return port, tcp_frame(sport=sp, dport=dpt, dst=0x0A000000 | d)
    f = udp_frame(src=0x0A000000 | s, dst=0x0A000000 | d, sport=sp, dport=dpt, dl_dst=mac)
    if kind == "vlan":
        f = f[:12] + struct.pack("!HH", 0x8100, 7) + f[12:]
    return port, f


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dp_rules(), dp_rules(), st.lists(_pkt, min_size=1, max_size=25),
       st.lists(_pkt, min_size=1, max_size=25), st.booleans())
def test_contract_through_receive(rules1, rules2, pkts1, pkts2, use_emc):
    from datapath.flow import extract
    current = [rules1]
    dp = make_dp(emc=use_emc,
                 upcall_handler=lambda up: slow_path(current[0], up.flow))
    for p in pkts1 + pkts1:
        port, f = build(p)
        res = dp.receive(port, f, 0)
        want = slow_path(current[0], extract(f, port))[0]
        assert res.outputs == [(a[1], f) for a in want]
    current[0] = rules2
    dp.revalidate(lambda mf: slow_path(rules2, mf.key))
    for p in pkts1 + pkts2 + pkts2:
        port, f = build(p)
        res = dp.receive(port, f, 0)
        want = slow_path(rules2, extract(f, port))[0]
        assert res.outputs == [(a[1], f) for a in want]


def _arp_frame():
    arp = struct.pack("!HHBBH6sI6sI", 1, 0x0800, 6, 4, 1, MAC1.to_bytes(6, "big"), 0x0A000001,
                      b"\0" * 6, 0x0A000002)
    return b"\xff" * 6 + MAC1.to_bytes(6, "big") + b"\x08\x06" + arp


def _icmp_frame():
    f = bytearray(udp_frame())
    f[23] = 1
    return bytes(f)


@pytest.mark.parametrize("frame", [udp_frame(), tcp_frame(flags=0x18), _icmp_frame(),
                                   _arp_frame(), udp_frame(payload=b"")],
                         ids=["udp", "tcp", "icmp", "arp", "udp-nopayload"])
def test_exact_front_key_covers_everything_extract_reads(frame):
    """Flip every bit of the frame (and cut it short): whenever the flow key
    changes, the exact front must not answer with the old megaflow."""
    from datapath.flow import WIDTHS, extract

    def port_for(flow):     # absent members read 0, as everywhere
        return hash(tuple(flow.get(m, 0) for m in sorted(WIDTHS))) % 1_000_000 + 1

    def handler(up):        # exact over every member (absent ones read 0)
        return (("output", port_for(up.flow)),), {m: -1 for m in WIDTHS}

    dp = make_dp(upcall_handler=handler)
    dp.receive(1, frame, 0)
    dp.receive(1, frame, 0)
    assert len(dp.cache.emc) == 1
    variants = [frame[:n] for n in range(len(frame) - 1, 30, -1)]
    variants.append(frame + b"\0" * 4)
    for i in range(len(frame)):
        for bit in range(8):
            b = bytearray(frame)
            b[i] ^= 1 << bit
            variants.append(bytes(b))
    for v in variants:
        dp.receive(1, frame, 0)             # keep the original's entry hot
        res = dp.receive(1, v, 0)
        assert res.outputs == [(port_for(extract(v, 1)), v)], v.hex()
