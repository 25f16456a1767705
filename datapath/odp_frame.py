"""Compose the frame Open vSwitch's ``flow_compose`` builds from a flow key.

Theory of operation
-------------------
:func:`frame_from_key` builds the frame Open vSwitch's ``flow_compose``
builds from a parsed key (what ``netdev-dummy/receive`` injects): 64 bytes
of 0,1,2,... payload where OVS puts one, checksums filled, IP id 0.  Pure:
bytes out of a flow dict.
"""

from __future__ import annotations

import struct

from .flow import (DL_TYPE_NONE, ETH_ARP, ETH_IP, ETH_IPV6, ETH_MPLS, ETH_MPLS_MCAST,
                   ETH_RARP, FRAG_ANY, FRAG_LATER, MAX_MPLS, TPID_8021Q, VLAN_CFI)
from .odp_keys import _lse, parse_key

__all__ = ["frame_from_key"]


def _csum(data: bytes, initial: int = 0) -> int:
    if len(data) % 2:
        data += b"\0"
    s = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _finish(s: int) -> int:
    return ~s & 0xFFFF


def _l7(n: int) -> bytes:
    return bytes(i & 0xFF for i in range(n))


def _compose_l4(flow, l7_len) -> bytes:
    g = flow.get
    frag = g("nw_frag", 0)
    if frag & FRAG_ANY and frag & FRAG_LATER:
        return b""
    proto = g("nw_proto", 0)
    if proto == 6:
        flags = g("tcp_flags", 0) & 0xFFF
        hdr = struct.pack("!HHIIHHH", g("tp_src", 0), g("tp_dst", 0), 0, 0,
                          5 << 12 | flags, 0, 0) + b"\0\0"
        return hdr + (b"" if flags & 0x007 else _l7(l7_len))
    if proto == 17:
        return struct.pack("!HHHH", g("tp_src", 0), g("tp_dst", 0), 8 + l7_len, 0) + _l7(l7_len)
    if proto == 132:
        return struct.pack("!HHII", g("tp_src", 0), g("tp_dst", 0), 0, 0)
    dl_type = g("dl_type", 0)
    if proto == 1:
        t, c = g("tp_src", 0) & 0xFF, g("tp_dst", 0) & 0xFF
        body = bytes([t, c]) + bytes(6)
        return body + (_l7(l7_len) if t in (0, 8) and c == 0 else b"")
    if proto == 2:
        return struct.pack("!BBHI", g("tp_src", 0) & 0xFF, g("tp_dst", 0) & 0xFF, 0,
                           g("igmp_group_ip4", 0))
    if proto == 58:
        t, c = g("tp_src", 0) & 0xFF, g("tp_dst", 0) & 0xFF
        out = struct.pack("!BBHI", t, c, 0, g("nd_reserved", 0))
        if c == 0 and t in (135, 136):
            out += g("nd_target", 0).to_bytes(16, "big")
            if g("arp_sha", 0):
                out += b"\x01\x01" + g("arp_sha").to_bytes(6, "big")
            if g("arp_tha", 0):
                out += b"\x02\x01" + g("arp_tha").to_bytes(6, "big")
        elif c == 0 and t in (128, 129):
            out += _l7(l7_len)
        return out
    del dl_type
    return b""


def _l4_csum(flow, l4: bytearray, pseudo: int) -> None:
    g = flow.get
    frag = g("nw_frag", 0)
    if frag & FRAG_ANY and frag & FRAG_LATER:
        return
    proto = g("nw_proto", 0)
    if proto == 6 and len(l4) >= 20:
        l4[16:18] = b"\0\0"
        l4[16:18] = struct.pack("!H", _finish(_csum(bytes(l4), pseudo)))
    elif proto == 17 and len(l4) >= 8:
        l4[6:8] = b"\0\0"
        c = _finish(_csum(bytes(l4), pseudo)) or 0xFFFF
        l4[6:8] = struct.pack("!H", c)
    elif proto in (1, 2) and len(l4) >= 4:
        l4[2:4] = b"\0\0"
        l4[2:4] = struct.pack("!H", _finish(_csum(bytes(l4))))
    elif proto == 58 and len(l4) >= 4:
        l4[2:4] = b"\0\0"
        l4[2:4] = struct.pack("!H", _finish(_csum(bytes(l4), pseudo)))


def _pseudo4(src, dst, proto, length) -> int:
    return _csum(struct.pack("!IIBBH", src, dst, 0, proto, length))


def _pseudo6(src, dst, proto, length) -> int:
    return _csum(src.to_bytes(16, "big") + dst.to_bytes(16, "big")
                 + struct.pack("!IxxxB", length, proto))


def frame_from_key(flow, packet_size: int = 0, l7_len: int = 64) -> bytes:
    """The frame ``ovs-appctl netdev-dummy/receive PORT [--len SIZE] FLOW``
    injects for ``flow`` (OVS ``flow_compose`` + ``packet_expand``).

    ``packet_size`` 0 composes with an ``l7_len``-byte payload where the
    protocol takes one (UDP, TCP without SYN/FIN/RST, ICMP/ICMPv6 echo);
    otherwise the frame is composed without payload and padded with zeros
    to ``packet_size`` (lengths and checksums fixed); a frame longer than
    ``packet_size`` gives ``ValueError`` as OVS refuses it.
    ``flow`` may also be the key text (parsed with :func:`parse_key`; bad
    syntax raises :class:`OdpParseError`, a ``ValueError``).
    """
    if isinstance(flow, str):
        flow = parse_key(flow)[0]
    g = flow.get
    if packet_size:
        l7_len = 0
    dl_type = g("dl_type", 0)
    eth = g("dl_dst", 0).to_bytes(6, "big") + g("dl_src", 0).to_bytes(6, "big")
    if dl_type == DL_TYPE_NONE:
        frame = eth + struct.pack("!H", 14)
        return _expand(flow, frame, 14, 14, packet_size)
    for tci_m, tpid_m in (("vlan_tci", "vlan_tpid"), ("vlan_tci1", "vlan_tpid1")):
        tci = g(tci_m, 0)
        if tci & VLAN_CFI:
            eth += struct.pack("!HH", g(tpid_m, 0) or TPID_8021Q, tci & ~VLAN_CFI & 0xFFFF)
    l3 = b""
    l4_off = None
    if dl_type == ETH_IP:
        frag = g("nw_frag", 0)
        frag_off = 0
        if frag & FRAG_ANY:
            frag_off = 0x2000 | (100 if frag & FRAG_LATER else 0)
        l4 = bytearray(_compose_l4(flow, l7_len))
        src, dst, proto = g("nw_src", 0), g("nw_dst", 0), g("nw_proto", 0) & 0xFF
        hdr = bytearray(struct.pack("!BBHHHBBHII", 0x45, g("nw_tos", 0) & 0xFF, 20 + len(l4),
                                    0, frag_off, g("nw_ttl", 0) & 0xFF, proto, 0, src, dst))
        hdr[10:12] = struct.pack("!H", _finish(_csum(bytes(hdr))))
        _l4_csum(flow, l4, _pseudo4(src, dst, proto, len(l4)))
        l3 = bytes(hdr) + bytes(l4)
        l4_off = 20
    elif dl_type == ETH_IPV6:
        l4 = bytearray(_compose_l4(flow, l7_len))
        src, dst, proto = g("ipv6_src", 0), g("ipv6_dst", 0), g("nw_proto", 0) & 0xFF
        vtcfl = 6 << 28 | (g("nw_tos", 0) & 0xFF) << 20 | (g("ipv6_label", 0) & 0xFFFFF)
        hdr = struct.pack("!IHBB", vtcfl, len(l4), proto, g("nw_ttl", 0) & 0xFF)
        hdr += src.to_bytes(16, "big") + dst.to_bytes(16, "big")
        _l4_csum(flow, l4, _pseudo6(src, dst, proto, len(l4)))
        l3 = hdr + bytes(l4)
        l4_off = 40
    elif dl_type in (ETH_ARP, ETH_RARP):
        op = g("nw_proto", 0)
        if op in (1, 2):
            l3 = struct.pack("!HHBBH", 1, ETH_IP, 6, 4, op) + g("arp_sha", 0).to_bytes(6, "big") \
                + struct.pack("!I", g("nw_src", 0)) + g("arp_tha", 0).to_bytes(6, "big") \
                + struct.pack("!I", g("nw_dst", 0))
        else:
            l3 = struct.pack("!HHBBH", 1, ETH_IP, 6, 4, op) + bytes(20)
    elif dl_type in (ETH_MPLS, ETH_MPLS_MCAST):
        n = 1
        while n < MAX_MPLS and not _lse(flow, n - 1) & 0x100:
            n += 1
        l3 = b"".join(struct.pack("!I", _lse(flow, i)) for i in range(n))
    frame = eth + struct.pack("!H", dl_type) + l3
    l3_off = len(eth) + 2
    return _expand(flow, frame, l3_off, None if l4_off is None else l3_off + l4_off,
                   packet_size)


def _expand(flow, frame: bytes, l3_off, l4_off, packet_size) -> bytes:
    """OVS ``packet_expand``: pad with zeros to ``packet_size``, fix lengths."""
    if not packet_size:
        return frame
    if len(frame) > packet_size:
        raise ValueError(f"composed frame is {len(frame)} bytes, more than {packet_size}")
    if len(frame) == packet_size:
        return frame
    extra = packet_size - len(frame)
    b = bytearray(frame + bytes(extra))
    g = flow.get
    dl_type = g("dl_type", 0)
    if dl_type == DL_TYPE_NONE:
        b[12:14] = struct.pack("!H", len(b))
    elif dl_type in (ETH_IP, ETH_IPV6) and l4_off is not None:
        l4_len = len(b) - l4_off
        proto = g("nw_proto", 0) & 0xFF
        if dl_type == ETH_IP:
            b[l3_off + 2:l3_off + 4] = struct.pack("!H", l4_off - l3_off + l4_len)
            b[l3_off + 10:l3_off + 12] = b"\0\0"
            b[l3_off + 10:l3_off + 12] = struct.pack(
                "!H", _finish(_csum(bytes(b[l3_off:l3_off + 20]))))
            pseudo = _pseudo4(g("nw_src", 0), g("nw_dst", 0), proto, l4_len)
        else:
            b[l3_off + 4:l3_off + 6] = struct.pack("!H", l4_len)
            pseudo = _pseudo6(g("ipv6_src", 0), g("ipv6_dst", 0), proto, l4_len)
        frag = g("nw_frag", 0)
        if not (frag & FRAG_ANY and frag & FRAG_LATER) and proto == 17:
            b[l4_off + 4:l4_off + 6] = struct.pack("!H", (l4_len + extra) & 0xFFFF)
        l4 = bytearray(b[l4_off:])
        _l4_csum(flow, l4, pseudo)
        b[l4_off:] = l4
    return bytes(b)
