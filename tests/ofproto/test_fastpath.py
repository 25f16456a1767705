"""fastpath.flow_mod_spec gives what ofp.decode + decode_flow_mod give, or None.

Corpus: every FLOW_MOD / NXT_FLOW_MOD of the stored captures, ovs-ofctl's own
add-flows bytes for the benchmark's flows (data_fastpath.txt), flow_mods
encoded from flow text in OF1.0 (ofp_match and NXM) and OF1.3, and
mutations of all of those (match bytes flipped, match swapped between
messages with the same actions) sent after their template is known - so
the fast path's per-match work (TLV decode, prerequisite checks of the
actions) meets bad input.  The connection-level test checks that the error
replies are the bytes the general path sends.
"""
import os
import random
import struct

import pytest

import ofproto.ofp as ofp
from ofproto import fastpath
from ofproto import ofputil as U
from ofproto.ofp.errors import OFPError
from ofproto.ofp.parse import parse_flow

from .conftest import capture_messages
from .test_ofconn import Peer

HERE = os.path.dirname(__file__)


def _is_flow_mod(raw):
    return (raw[1] == 14) or (raw[1] == 4 and raw[8:16] == bytes.fromhex("000023200000000d"))


def _general(raw, ext):
    try:
        return U.decode_flow_mod(ofp.decode(raw), table_id_ext=ext)
    except OFPError as e:
        return ("error", e.name if hasattr(e, "name") else str(e))


FLOWS = [
    "priority=10,in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:01:00:00:00:01,actions=output:2",
    "priority=20,ip,nw_src=10.0.0.1,nw_dst=172.0.0.0/24,actions=output:2",
    "priority=30,tcp,nw_dst=10.0.0.2,tp_dst=3,actions=mod_tp_dst:80,output:3",
    "table=1,priority=40,udp,nw_src=10.0.0.3,tp_src=4,tp_dst=53,"
    "actions=mod_dl_dst:02:00:00:00:00:01,output:1",
    "table=2,priority=50,ipv6,ipv6_src=2001:db8::1,actions=output:4",
    "table=3,priority=60,metadata=0x5,reg0=0x5,actions=output:1",
    "priority=5,dl_vlan=10,actions=strip_vlan,output:1",
    "priority=5,vlan_tci=0x1000/0x1000,actions=pop_vlan,output:1",
    "ip,actions=mod_nw_src:1.2.3.4,output:1",
    "tcp,tp_src=80,actions=mod_tp_src:8080,normal",
    "arp,arp_spa=10.0.0.1,actions=controller",
    "icmp6,icmp_type=135,nd_target=fe80::1,actions=drop",
    "ct_state=+trk,ip,actions=output:2",
    "send_flow_rem,idle_timeout=5,hard_timeout=10,cookie=0x7,actions=output:1",
    "check_overlap,priority=7,in_port=2,actions=output:1",
    "actions=set_field:10.0.0.9->ip_dst,output:1",
]


def _encoded_corpus():
    out = []
    for text in FLOWS:
        for v in (1, 4):
            try:
                pf = parse_flow(text, v)
                spec = U.decode_flow_mod(pf.to_flow_mod() if hasattr(pf, "to_flow_mod")
                                         else _msg_from_parsed(pf, v))
            except Exception:
                continue
            for cmd in ("add", "modify", "delete_strict"):
                s2 = object.__new__(U.FlowModSpec)
                s2.__dict__.update(spec.__dict__, command=cmd)
                try:
                    out.append(U.flow_mod_from_spec(s2, v).encode())
                except Exception:
                    pass
    return out


def _msg_from_parsed(pf, v):
    from ofproto.ofp import messages as M
    from ofproto.ofp.match import Match10, OxmMatch
    kw = dict(version=v, xid=1, priority=pf.priority, cookie=pf.cookie, table_id=pf.table_id,
              idle_timeout=pf.idle_timeout, hard_timeout=pf.hard_timeout, flags=pf.flags)
    if v == 1:
        return M.FlowMod(match=Match10.from_flow(pf.match), actions=pf.actions, **kw)
    return M.FlowMod(match=OxmMatch.from_flow(pf.match), instructions=pf.instructions,
                     out_port=0xFFFFFFFF, out_group=0xFFFFFFFF, buffer_id=0xFFFFFFFF, **kw)


def _corpus():
    raws = [bytes.fromhex(h) for _, h in capture_messages()]
    with open(os.path.join(HERE, "data_fastpath.txt")) as f:
        raws += [bytes.fromhex(line.strip()) for line in f if line.strip() and line[0] != "#"]
    raws += _encoded_corpus()
    return [r for r in raws if len(r) >= 16 and _is_flow_mod(r)]


CORPUS = _corpus()


def _match_span(raw):
    """(start, end) of the match bytes that vary per message, or None."""
    if raw[1] == 4:
        mlen, = struct.unpack_from("!H", raw, 40)
        return 48, 48 + mlen
    if raw[0] == 1:
        return 8, 48
    if len(raw) < 56:
        return None
    return 52, 48 + struct.unpack_from("!H", raw, 50)[0]


def _check(raw, ext):
    want = _general(raw, ext)
    got = fastpath.flow_mod_spec(raw, ext)
    if isinstance(want, tuple):
        assert got is None, (raw.hex(), want)
    elif got is not None:
        assert got == want, raw.hex()
        assert got.__dict__ == want.__dict__
    return got


def test_corpus_size():
    assert len(CORPUS) > 150


@pytest.mark.parametrize("ext", [False, True])
def test_fast_equals_general(ext):
    fastpath._TEMPLATES.clear()
    hits = 0
    for raw in CORPUS:
        _check(raw, ext)                       # learns the template
        hits += _check(raw, ext) is not None   # uses it
    assert hits > len(CORPUS) // 2


@pytest.mark.parametrize("ext", [False, True])
def test_mutated_matches(ext):
    """Template known, match bytes damaged or swapped: same spec or fallback."""
    rnd = random.Random(4)
    fastpath._TEMPLATES.clear()
    by_template = {}
    for raw in CORPUS:
        span = _match_span(raw)
        if span is None or span[1] > len(raw):
            continue
        _check(raw, ext)
        by_template.setdefault((raw[:2], raw[span[1]:]), []).append((raw, span))
        for _ in range(30):
            b = bytearray(raw)
            for _ in range(rnd.randint(1, 3)):
                i = rnd.randrange(span[0], max(span[0] + 1, span[1]))
                if i < len(b):
                    b[i] ^= 1 << rnd.randrange(8)
            _check(bytes(b), ext)
    # The same actions after another message's match (prerequisites of set_field etc.).
    raws = [(r, s) for group in by_template.values() for r, s in group]
    for raw, span in raws:
        for other, ospan in rnd.sample(raws, min(20, len(raws))):
            if (other[1] == 4) != (raw[1] == 4) or other[0] != raw[0] or raw[0] == 1 and raw[1] == 14:
                continue
            m = other[ospan[0]:ospan[1]]
            if raw[1] == 4:
                body = raw[:40] + struct.pack("!H", len(m)) + raw[42:48] + m + bytes((-len(m)) & 7) \
                    + raw[48 + ((span[1] - 48 + 7) & ~7):]
            else:
                n = 4 + len(m)
                body = raw[:48] + struct.pack("!HH", 1, n) + m + bytes((-n) & 7) \
                    + raw[48 + ((span[1] - 48 + 7) & ~7):]
            body = body[:2] + struct.pack("!H", len(body)) + body[4:]
            _check(body, ext)


def test_benchmark_shapes_take_the_fast_path():
    fastpath._TEMPLATES.clear()
    with open(os.path.join(HERE, "data_fastpath.txt")) as f:
        raws = [bytes.fromhex(line.strip()) for line in f if line.strip() and line[0] != "#"]
    for raw in raws:
        fastpath.flow_mod_spec(raw, True)
    for raw in raws:
        assert _check(raw, True) is not None, raw.hex()


@pytest.mark.parametrize("version", [1, 4])
def test_errors_identical_through_the_connection(version):
    """A bad flow_mod after its template is known: the same error bytes as a
    connection that never saw the template (general path)."""
    good = {1: "ip,actions=mod_nw_src:1.2.3.4,output:1", 4: "ip,actions=mod_nw_src:1.2.3.4,output:1"}
    pf = parse_flow(good[version], version)
    raw = _msg_from_parsed(pf, version).encode()
    bad_variants = []
    span = _match_span(raw)
    for i in range(span[0], span[1]):
        for bit in (0, 3, 7):
            b = bytearray(raw)
            b[i] ^= 1 << bit
            bad_variants.append(bytes(b))
    fastpath._TEMPLATES.clear()
    warm = Peer(version=version)
    cold_replies = []
    warm.send(raw)
    assert warm.take() == []
    for b in bad_variants:
        fastpath._TEMPLATES.clear()
        cold = Peer(version=version)
        cold_replies.append(cold.ask(b))
        fastpath._TEMPLATES.clear()
        warm = Peer(version=version)
        warm.send(raw)
        warm.take()
        assert warm.ask(b) == cold_replies[-1], b.hex()
    if version == 4:
        assert any(r for r in cold_replies)      # some variants are errors


def test_unknown_version_message_is_still_an_error():
    """The polling hint must not trip over versions without a barrier number."""
    p = Peer(version=4)
    out = p.ask(bytes((7, 20, 0, 8, 0, 0, 0, 9)))
    assert len(out) == 1 and out[0].type == 1       # OFPET_BAD_REQUEST
