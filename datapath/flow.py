"""Packet parsing: an Ethernet frame to a flow key, as Open vSwitch's miniflow_extract.

Theory of operation
-------------------
:func:`extract` turns the bytes of one frame into the *flow key* every layer
of the switch works with: a plain ``dict member -> int``, members named like
the OpenFlow codec's (:data:`ofproto.ofp.fields.MEMBERS`, i.e. Open vSwitch's
``struct flow``).  A member that is absent is 0, exactly as a zeroed
``struct flow``: the classifier and the megaflow cache read ``flow.get(m, 0)``.
Zero-valued members may be present or absent (the fast path leaves out
``nw_frag`` 0): never test a member for presence.
Values are unsigned big-endian integers (MACs 48 bits, IPv6 addresses 128).

The parse follows ``lib/flow.c`` step by step, so keys agree with Open
vSwitch's for every input, malformed ones included:

* Fewer than 14 bytes: only the metadata (``in_port`` ...).
* Up to ``vlan_limit`` tags of TPID 0x8100 or 0x88a8 (OVS: ``vlans[]``;
  ``ovs-ofctl`` parses 2, ``ovs-vswitchd`` 1 unless ``other_config:vlan-limit``
  says otherwise).  The outer tag is ``vlan_tci`` / ``vlan_tpid``, the inner one
  ``vlan_tci1`` / ``vlan_tpid1``; a present tag always has the CFI bit 0x1000.
  A tag is parsed only if 6 bytes (tag and next type) remain.
* 802.3 length + LLC/SNAP with OUI 0: the SNAP type; other 802.3 frames
  ``dl_type`` 0x05ff (``FLOW_DL_TYPE_NONE``).
* MPLS: the label stack up to bottom-of-stack; the first three entries as
  ``mpls_lse0..2`` (raw 32-bit LSEs) and the top one also split into the
  codec's ``mpls_label``/``mpls_tc``/``mpls_ttl``/``mpls_bos``.  Parsing stops
  after MPLS, as in OVS.
* IPv4: header length, IHL >= 5, ``total length`` between IHL*4 and the
  bytes present, else the key ends after L2.  Trailing Ethernet padding is
  never parsed (the layer-4 size is bounded by the total length).
  ``nw_frag``: 1 = fragment, 2|1 = later fragment (no L4 then).
* IPv6: payload length checked; extension headers hop-by-hop, routing,
  destination options, AH and fragment are walked (each must be present in
  full); a malformed chain keeps the addresses but nothing after them, as
  OVS does.  ``nw_tos`` is the traffic class, ``nw_ttl`` the hop limit.
* ARP/RARP (Ethernet/IPv4 only): ``nw_src``/``nw_dst`` = SPA/TPA, ``nw_proto``
  = opcode if <= 255, ``arp_sha``/``arp_tha``.
* TCP (``tcp_flags`` = the 12 flag bits, data offset checked), UDP, SCTP,
  ICMP and IGMP (type/code in ``tp_src``/``tp_dst``, IGMP group in
  ``igmp_group_ip4``), ICMPv6 and Neighbor Discovery (NS/NA with code 0:
  ``nd_target``, SLL/TLL options in ``arp_sha``/``arp_tha``, ``nd_reserved``,
  ``nd_options_type``; zero-length or overlong options end the walk, a
  repeated option voids target and addresses).

Nothing here raises on any ``bytes``: every read is preceded by a length
check (the fuzz tests feed random and truncated frames).

Masked keys for the megaflow cache
----------------------------------
The cache keeps one dict per mask.  :func:`masked_key` builds the tuple for
one ``(member, mask)`` sequence; :func:`compile_masked_key` returns a
function specialised for one mask (full-width masks skip the ``&``), which
is what a subtable should keep and call per packet.

Cost (``bench/bench_flow.py``): see ``bench/RESULTS.md`` "Flow extraction".
"""

from __future__ import annotations

from struct import Struct

__all__ = ["extract", "masked_key", "compile_masked_key", "KEY_ORDER", "WIDTHS",
           "FRAG_ANY", "FRAG_LATER", "VLAN_CFI", "DL_TYPE_NONE"]

FRAG_ANY = 1            # FLOW_NW_FRAG_ANY: the packet is a fragment
FRAG_LATER = 2          # FLOW_NW_FRAG_LATER: ... and not the first one
VLAN_CFI = 0x1000       # set in vlan_tci when a tag is present
DL_TYPE_NONE = 0x05FF   # FLOW_DL_TYPE_NONE: 802.3 frame without SNAP type
MAX_MPLS = 3            # FLOW_MAX_MPLS_LABELS
MAX_VLANS = 2           # FLOW_MAX_VLAN_HEADERS

ETH_IP, ETH_IPV6, ETH_ARP, ETH_RARP = 0x0800, 0x86DD, 0x0806, 0x8035
ETH_MPLS, ETH_MPLS_MCAST = 0x8847, 0x8848
TPID_8021Q, TPID_8021AD = 0x8100, 0x88A8
PROTO_ICMP, PROTO_IGMP, PROTO_TCP, PROTO_UDP = 1, 2, 6, 17
PROTO_ICMPV6, PROTO_SCTP = 58, 132
# IPv6 extension headers walked (OVS parse_ipv6_ext_hdrs__).
IP6_HOPOPTS, IP6_ROUTING, IP6_FRAGMENT, IP6_AH, IP6_DSTOPTS = 0, 43, 44, 51, 60
ND_NS, ND_NA = 135, 136
ND_OPT_SLL, ND_OPT_TLL = 1, 2

# Member -> width in bits, for every member extract() may produce.
WIDTHS: dict[str, int] = dict(
    in_port=32, recirc_id=32, dp_hash=32, pkt_mark=32, skb_priority=32,
    ct_state=32, ct_zone=16, ct_mark=32, ct_label=128, packet_type=32,
    tun_id=64, tun_src=32, tun_dst=32,
    dl_dst=48, dl_src=48, dl_type=16,
    vlan_tci=16, vlan_tpid=16, vlan_tci1=16, vlan_tpid1=16,
    mpls_lse0=32, mpls_lse1=32, mpls_lse2=32,
    mpls_label=32, mpls_tc=8, mpls_ttl=8, mpls_bos=8,
    nw_src=32, nw_dst=32, ipv6_src=128, ipv6_dst=128, ipv6_label=32,
    nw_frag=8, nw_tos=8, nw_ttl=8, nw_proto=8,
    nd_target=128, arp_sha=48, arp_tha=48, tcp_flags=16,
    nd_reserved=32, nd_options_type=8,
    tp_src=16, tp_dst=16, igmp_group_ip4=32,
)
# Canonical member order (struct flow order): use it to build keys whose
# layout does not depend on dict insertion order.
KEY_ORDER: tuple[str, ...] = tuple(WIDTHS)

_ETH = Struct("!HIHIH")            # dst hi/lo, src hi/lo, type
_U16 = Struct("!H")
_U32 = Struct("!I")
_U16U16 = Struct("!HH")
_TAG = Struct("!HH")               # tci, next type
_IP4 = Struct("!BBHxxHBBxxII")     # ver/ihl, tos, tot_len, frag_off, ttl, proto, src, dst
_IP6 = Struct("!IHBB16s16s")       # ver/tc/label, plen, nxt, hlim, src, dst
_TCP = Struct("!HH8xH")            # src, dst, data offset + flags
_ARP = Struct("!HHBBHHII6sI")      # hrd pro hln pln op sha(hi,lo) spa tha tpa
_ICMP6 = Struct("!BBxxI")          # type, code, reserved / RSO flags
_ND_OPT = Struct("!BB")

_eth = _ETH.unpack_from
_fast = Struct("!HIHIHBBHxxHBBxxIIHH8xH").unpack_from
_u16 = _U16.unpack_from
_u32 = _U32.unpack_from
_u16u16 = _U16U16.unpack_from
_tag = _TAG.unpack_from
_ip4 = _IP4.unpack_from
_ip6 = _IP6.unpack_from
_tcp = _TCP.unpack_from
_icmp6 = _ICMP6.unpack_from
_from_bytes = int.from_bytes


def extract(frame: bytes, in_port: int = 0, vlan_limit: int = 1 << 30,
            **metadata) -> dict:
    """The flow key of ``frame`` received on ``in_port``.

    ``metadata`` adds packet metadata members verbatim (``recirc_id``,
    ``dp_hash``, ``pkt_mark``, ``ct_state``, ``tun_id``...).  ``vlan_limit``
    caps the VLAN tags parsed (min with 2, as OVS's ``flow_limit_vlans``;
    pass 1 for ovs-vswitchd's default ``vlan-limit``).  Never raises for
    any ``bytes``-like ``frame``.
    """
    size = len(frame)
    if size >= 48 and not metadata:
        # Fast path: untagged IPv4, IHL 5, TCP or UDP, not a fragment; one
        # unpack covers Ethernet, IPv4 and the first 14 bytes of layer 4.
        (dh, dl, sh, sl, dl_type, vihl, tos, tot, frag_off, ttl, proto, src, dst,
         sp, dp, ctl) = _fast(frame)
        if (dl_type == 0x0800 and vihl == 0x45 and 20 <= tot <= size - 14 <= tot + 0xFFFF
                and not frag_off & 0x3FFF):
            if proto == 6:
                if tot >= 40 and ctl >= 0x5000 and (ctl >> 12) * 4 <= tot - 20:
                    return {"in_port": in_port, "dl_dst": dh << 32 | dl,
                            "dl_src": sh << 32 | sl, "dl_type": 0x0800,
                            "nw_src": src, "nw_dst": dst, "nw_proto": 6,
                            "nw_tos": tos, "nw_ttl": ttl, "tp_src": sp,
                            "tp_dst": dp, "tcp_flags": ctl & 0x0FFF}
            elif proto == 17:
                if tot >= 28:
                    return {"in_port": in_port, "dl_dst": dh << 32 | dl,
                            "dl_src": sh << 32 | sl, "dl_type": 0x0800,
                            "nw_src": src, "nw_dst": dst, "nw_proto": 17,
                            "nw_tos": tos, "nw_ttl": ttl, "tp_src": sp,
                            "tp_dst": dp}
    elif size < 14:
        f = {"in_port": in_port}
        if metadata:
            f.update(metadata)
        return f
    dh, dl, sh, sl, dl_type = _eth(frame, 0)
    return _extract_slow(frame, size, in_port, vlan_limit, metadata,
                         dh << 32 | dl, sh << 32 | sl, dl_type)


def _extract_slow(frame, size, in_port, vlan_limit, metadata, dl_dst, dl_src,
                  dl_type) -> dict:
    f = {"in_port": in_port}
    if metadata:
        f.update(metadata)
    f["dl_dst"] = dl_dst
    f["dl_src"] = dl_src
    off = 12
    # VLAN tags: a tag is taken only with its 4 bytes and the next type present.
    n = 0
    limit = vlan_limit if 0 < vlan_limit < MAX_VLANS else MAX_VLANS
    while (dl_type == TPID_8021Q or dl_type == TPID_8021AD) and n < limit:
        if size - off < 6:
            break
        tci, nxt = _tag(frame, off + 2)
        if n == 0:
            f["vlan_tci"] = tci | VLAN_CFI
            f["vlan_tpid"] = dl_type
        else:
            f["vlan_tci1"] = tci | VLAN_CFI
            f["vlan_tpid1"] = dl_type
        n += 1
        off += 4
        dl_type = nxt
    off += 2                                    # past the type / length
    if dl_type < 0x0600:
        dl_type = DL_TYPE_NONE
        if (size - off >= 8 and frame[off] == 0xAA and frame[off + 1] == 0xAA
                and frame[off + 2] == 0x03 and frame[off + 3:off + 6] == b"\0\0\0"):
            snap_type = _u16(frame, off + 6)[0]
            off += 8
            if snap_type >= 0x0600:
                dl_type = snap_type
    f["dl_type"] = dl_type
    rem = size - off                            # bytes left after L2

    if dl_type == ETH_IP:
        if rem < 20:
            return f
        vihl, tos, tot, frag_off, ttl, proto, src, dst = _ip4(frame, off)
        ihl = (vihl & 0x0F) * 4
        if ihl < 20 or rem < ihl or tot > rem or ihl > tot or rem - tot > 0xFFFF:
            return f
        f["nw_src"] = src
        f["nw_dst"] = dst
        frag = 0
        if frag_off & 0x3FFF:
            frag = FRAG_ANY | FRAG_LATER if frag_off & 0x1FFF else FRAG_ANY
        l4 = off + ihl
        end = off + tot                         # never parse padding
    elif dl_type == ETH_IPV6:
        if rem < 40:
            return f
        vtcfl, plen, proto, ttl, src, dst = _ip6(frame, off)
        if plen + 40 > rem or rem - (plen + 40) > 0xFFFF:
            return f
        f["ipv6_src"] = _from_bytes(src, "big")
        f["ipv6_dst"] = _from_bytes(dst, "big")
        tos = (vtcfl >> 20) & 0xFF
        l4 = off + 40
        end = l4 + plen
        frag = 0
        # Extension headers (parse_ipv6_ext_hdrs__).
        while proto in (IP6_HOPOPTS, IP6_ROUTING, IP6_DSTOPTS, IP6_AH, IP6_FRAGMENT):
            if end - l4 < 8:
                return f
            if proto == IP6_FRAGMENT:
                proto = frame[l4]
                offlg = _u16(frame, l4 + 2)[0]
                l4 += 8
                if offlg:
                    frag = FRAG_ANY
                    if offlg & 0xFFF8:
                        frag = FRAG_ANY | FRAG_LATER
                        proto = IP6_FRAGMENT
                        break
                continue
            hlen = (frame[l4 + 1] + 2) * 4 if proto == IP6_AH else (frame[l4 + 1] + 1) * 8
            proto = frame[l4]
            if end - l4 < hlen:
                return f
            l4 += hlen
        f["ipv6_label"] = vtcfl & 0xFFFFF
    elif dl_type == ETH_ARP or dl_type == ETH_RARP:
        if rem >= 28:
            hrd, pro, hln, pln, op, sha_hi, sha_lo, spa, tha, tpa = \
                _ARP.unpack_from(frame, off)
            if hrd == 1 and pro == ETH_IP and hln == 6 and pln == 4:
                f["nw_src"] = spa
                f["nw_dst"] = tpa
                if op <= 0xFF:
                    f["nw_proto"] = op
                f["arp_sha"] = sha_hi << 32 | sha_lo
                f["arp_tha"] = _from_bytes(tha, "big")
        return f
    elif dl_type == ETH_MPLS or dl_type == ETH_MPLS_MCAST:
        i = 0
        while size - off >= 4:
            lse = _u32(frame, off)[0]
            off += 4
            if i < MAX_MPLS:
                if i == 0:
                    f["mpls_label"] = lse >> 12
                    f["mpls_tc"] = (lse >> 9) & 7
                    f["mpls_bos"] = (lse >> 8) & 1
                    f["mpls_ttl"] = lse & 0xFF
                f[_MPLS_NAMES[i]] = lse
            i += 1
            if lse & 0x100:
                break
        return f
    else:
        return f

    # Common IPv4 / IPv6 tail: L3 scalars, then L4 unless a later fragment.
    if frag:
        f["nw_frag"] = frag
    f["nw_tos"] = tos
    f["nw_ttl"] = ttl
    f["nw_proto"] = proto
    if frag & FRAG_LATER:
        return f
    left = end - l4
    if proto == PROTO_TCP:
        if left >= 20:
            sp, dp, ctl = _tcp(frame, l4)
            hl = (ctl >> 12) * 4
            if hl >= 20 and left >= hl:
                f["tcp_flags"] = ctl & 0x0FFF
                f["tp_src"] = sp
                f["tp_dst"] = dp
    elif proto == PROTO_UDP:
        if left >= 8:
            f["tp_src"], f["tp_dst"] = _u16u16(frame, l4)
    elif proto == PROTO_SCTP:
        if left >= 12:
            f["tp_src"], f["tp_dst"] = _u16u16(frame, l4)
    elif proto == PROTO_ICMP:
        if left >= 8:
            f["tp_src"] = frame[l4]
            f["tp_dst"] = frame[l4 + 1]
    elif proto == PROTO_IGMP:
        if left >= 8:
            f["tp_src"] = frame[l4]
            f["tp_dst"] = frame[l4 + 1]
            f["igmp_group_ip4"] = _u32(frame, l4 + 4)[0]
    elif proto == PROTO_ICMPV6:
        if left >= 8:
            _icmpv6(frame, l4, end, f)
    return f


_MPLS_NAMES = ("mpls_lse0", "mpls_lse1", "mpls_lse2")


def _icmpv6(frame, l4, end, f) -> None:
    """ICMPv6 and Neighbor Discovery (parse_icmpv6)."""
    typ, code, rso = _icmp6(frame, l4)
    f["tp_src"] = typ
    f["tp_dst"] = code
    if code != 0 or (typ != ND_NS and typ != ND_NA):
        return
    f["nd_reserved"] = rso
    p = l4 + 8
    if end - p < 16:
        return                                  # ND without a target
    target = _from_bytes(frame[p:p + 16], "big")
    p += 16
    sll = tll = 0
    opt_type = 0
    valid = True
    while end - p >= 8:
        otype, olen = _ND_OPT.unpack_from(frame, p)
        olen *= 8
        if not olen or olen > end - p:
            break
        if olen == 8 and otype in (ND_OPT_SLL, ND_OPT_TLL):
            mac = _from_bytes(frame[p + 2:p + 8], "big")
            if otype == ND_OPT_SLL:
                if sll:
                    valid = False
                    break
                sll = mac
            else:
                if tll:
                    valid = False
                    break
                tll = mac
            if not opt_type:
                opt_type = otype
        p += olen
    if valid:
        f["nd_target"] = target
        f["arp_sha"] = sll
        f["arp_tha"] = tll
    if opt_type:
        f["nd_options_type"] = opt_type


# ---------------------------------------------------------------------------
# Masked keys


def masked_key(flow: dict, mask_items) -> tuple:
    """``(flow[m] & mask, ...)`` for ``mask_items`` = ``((member, mask), ...)``.

    Generic and slower than :func:`compile_masked_key`; both give equal tuples.
    """
    g = flow.get
    return tuple([g(m, 0) & mk for m, mk in mask_items])


_COMPILED: dict[tuple, object] = {}


def compile_masked_key(mask_items) -> "callable":
    """A function ``flow -> tuple`` equal to ``masked_key(flow, mask_items)``,
    compiled once per mask (cached).  Members whose mask covers their whole
    width are read without ``&`` (extracted values always fit their width)."""
    spec = tuple((m, int(mk)) for m, mk in mask_items)
    fn = _COMPILED.get(spec)
    if fn is None:
        parts = []
        for m, mk in spec:
            if not m.isidentifier():
                raise ValueError(f"bad member name {m!r}")
            w = WIDTHS.get(m)
            get = f"g({m!r}, 0)"
            parts.append(get if w and mk == (1 << w) - 1 else f"{get} & {mk}")
        body = f"({', '.join(parts)},)" if parts else "()"
        ns: dict = {}
        exec(f"def masked_key(flow):\n    g = flow.get\n    return {body}\n", ns)  # noqa: S102
        fn = _COMPILED[spec] = ns["masked_key"]
    return fn
