"""Datapath ("ODP") flow keys and masks as text: format and parse.

Theory of operation
-------------------
Text in and text out, for people and for comparisons with Open vSwitch
(``ovs-appctl dpctl/dump-flows``, ``ofproto/trace``, ``ovs-ofctl
parse-pcap``, ``netdev-dummy/receive``).  Flows are the flow keys of
:mod:`datapath.flow` (``dict member -> int``, absent = 0); masks are
``dict member -> mask`` (absent = wildcarded), as the classifier reports
them.  Pure functions, no state: safe to call from anywhere.

Flow keys and masks
~~~~~~~~~~~~~~~~~~~
* :func:`format_key` renders a datapath flow like ``dpctl/dump-flows``:
  ``recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(...),eth_type(0x0800),
  ipv4(src=10.0.0.0/255.0.0.0,frag=no),tcp(dst=80)``.  Non-verbose omits every
  attribute whose mask is empty and every field whose mask is zero; verbose
  (``-m``) prints them all with ``/mask``.  recirc_id, in_port and packet_type
  are exact in every datapath flow (dpif-netdev): missing from ``mask`` they
  are taken as exact.  Values are printed unmasked, as OVS prints the key of
  the packet that created the flow.
* :func:`format_megaflow_match` renders the ``Megaflow:`` line of
  ``ofproto/trace`` (``recirc_id=0,eth,ip,in_port=1,nw_frag=no``) and
  :func:`format_flow` the ``Flow:`` line / ``ovs-ofctl parse-pcap`` (OVS's
  ``flow_format``: every field a packet of that type has).
* :func:`parse_key` reads the key syntax (what ``netdev-dummy/receive`` takes);
  :func:`datapath.odp_frame.frame_from_key` builds the frame from the result.

Frames built from keys (``frame_from_key``) live in :mod:`datapath.odp_frame`,
datapath actions in :mod:`datapath.odp_actions`; :mod:`datapath.odp` re-exports
all three under their historical names.
"""

from __future__ import annotations

import ipaddress
import re

from .flow import (DL_TYPE_NONE, ETH_ARP, ETH_IP, ETH_IPV6, ETH_MPLS, ETH_MPLS_MCAST,
                   ETH_RARP, FRAG_ANY, FRAG_LATER, MAX_MPLS, TPID_8021AD, TPID_8021Q,
                   VLAN_CFI, WIDTHS)

__all__ = ["format_key", "format_megaflow_match", "format_flow", "parse_key", "OdpParseError"]


class OdpParseError(ValueError):
    """Text that is not valid datapath key or action syntax."""


# ---------------------------------------------------------------------------
# Scalars

def _mac(v: int) -> str:
    return ":".join(f"{b:02x}" for b in (v & 0xFFFFFFFFFFFF).to_bytes(6, "big"))


def _ip4(v: int) -> str:
    return f"{v >> 24 & 255}.{v >> 16 & 255}.{v >> 8 & 255}.{v & 255}"


def _ip6(v: int) -> str:
    return str(ipaddress.IPv6Address(v & ((1 << 128) - 1)))


def _hex0(v: int) -> str:
    """C's ``%#x``: ``0`` for zero, else ``0x..``."""
    return f"{v:#x}" if v else "0"


def _full(member: str) -> int:
    return (1 << WIDTHS.get(member, 64)) - 1


_OFP_PORTS = {0xFFF8: "IN_PORT", 0xFFF9: "TABLE", 0xFFFA: "NORMAL", 0xFFFB: "FLOOD",
              0xFFFC: "ALL", 0xFFFD: "CONTROLLER", 0xFFFE: "LOCAL", 0xFFFF: "ANY"}


def _ofp_port(p: int, ports=None) -> str:
    if ports and p in ports:
        return ports[p]
    return _OFP_PORTS.get(p, str(p))


def _odp_port(p: int, ports=None) -> str:
    if ports and p in ports:
        return ports[p]
    return str(p)


TCP_FLAG_NAMES = {0x001: "fin", 0x002: "syn", 0x004: "rst", 0x008: "psh", 0x010: "ack",
                  0x020: "urg", 0x040: "ece", 0x080: "cwr", 0x100: "ns", 0x200: "[200]",
                  0x400: "[400]", 0x800: "[800]"}
CT_STATE_NAMES = {0x01: "new", 0x02: "est", 0x04: "rel", 0x08: "rpl", 0x10: "inv",
                  0x20: "trk", 0x40: "snat", 0x80: "dnat"}
SLOW_PATH_REASONS = ("cfm", "bfd", "lacp", "stp", "lldp", "action", "match")


def _flags(v: int, names: dict, sep: str = "|") -> str:
    if not v:
        return "0"
    out = []
    bit = 1
    while v:
        if v & bit:
            out.append(names.get(bit, f"{bit:#x}"))
            v &= ~bit
        bit <<= 1
    return sep.join(out)


def _flags_masked(v: int, m: int, names: dict, full: int) -> str:
    if m == full:
        return _flags(v, names)
    if not m:
        return "0/0"
    out = []
    bit = 1
    while m:
        if m & bit:
            out.append(("+" if v & bit else "-") + names.get(bit, "[Unknown]"))
            m &= ~bit
        bit <<= 1
    return "".join(out)


# ---------------------------------------------------------------------------
# OpenFlow-style flows and matches (lib/match.c match_format)


def _cidr(m: int, width: int):
    inv = ~m & ((1 << width) - 1)
    return width - inv.bit_length() if inv & (inv + 1) == 0 else None


def _ip_netmask(name, v, m):
    if not m:
        return None
    if m == 0xFFFFFFFF:
        return f"{name}={_ip4(v)}"
    n = _cidr(m, 32)
    return f"{name}={_ip4(v & m)}/{n}" if n is not None else f"{name}={_ip4(v & m)}/{_ip4(m)}"


def _ip6_netmask(name, v, m):
    if not m:
        return None
    full = (1 << 128) - 1
    if m == full:
        return f"{name}={_ip6(v)}"
    n = _cidr(m, 128)
    return f"{name}={_ip6(v & m)}/{n}" if n is not None else f"{name}={_ip6(v & m)}/{_ip6(m)}"


def _eth_masked(name, v, m):
    if not m:
        return None
    return f"{name}={_mac(v)}" if m == 0xFFFFFFFFFFFF else f"{name}={_mac(v & m)}/{_mac(m)}"


def _u32_masked(name, v, m):
    if not m:
        return None
    return f"{name}={_hex0(v)}" if m == 0xFFFFFFFF else f"{name}={_hex0(v & m)}/{_hex0(m)}"


def _be32_masked(name, v, m):
    if not m:
        return None
    return f"{name}={v}" if m == 0xFFFFFFFF else f"{name}=0x{v & m:08x}/0x{m:08x}"


def _be16_masked(name, v, m):
    if not m:
        return None
    return f"{name}={v}" if m == 0xFFFF else f"{name}={v & m:#x}/{m:#x}"


def _is_nd(flow) -> bool:
    return (flow.get("dl_type", 0) == ETH_IPV6 and flow.get("nw_proto", 0) == 58
            and flow.get("tp_src", 0) in (135, 136) and flow.get("tp_dst", 0) == 0)


def _mpls_count(flow) -> int:
    for i in range(MAX_MPLS):
        if _lse(flow, i) & 0x100:
            return i + 1
    return MAX_MPLS


def _lse(flow, i) -> int:
    """LSE ``i`` of ``flow``: mpls_lse<i>, or for the top one the codec's split members."""
    v = flow.get(f"mpls_lse{i}")
    if v is None and i == 0 and ("mpls_label" in flow or "mpls_ttl" in flow
                                 or "mpls_tc" in flow or "mpls_bos" in flow):
        g = flow.get
        v = ((g("mpls_label", 0) & 0xFFFFF) << 12 | (g("mpls_tc", 0) & 7) << 9
             | (g("mpls_bos", 0) & 1) << 8 | g("mpls_ttl", 0) & 0xFF)
    return v or 0


def _lse_mask(mask, i) -> int:
    m = mask.get(f"mpls_lse{i}", 0)
    if i == 0:
        g = mask.get
        m |= ((g("mpls_label", 0) & 0xFFFFF) << 12 | (g("mpls_tc", 0) & 7) << 9
              | (g("mpls_bos", 0) & 1) << 8 | g("mpls_ttl", 0) & 0xFF)
    return m


def packet_wildcards(flow) -> dict:
    """OVS's ``flow_wildcards_init_for_packet``: a mask of every member a packet
    of ``flow``'s type has (what an exact-match megaflow would match)."""
    m = {k: _full(k) for k in ("skb_priority", "pkt_mark", "ct_state", "ct_zone", "ct_mark",
                               "ct_label", "recirc_id", "dp_hash", "in_port", "packet_type")}
    if flow.get("tun_id"):
        m["tun_id"] = _full("tun_id")
    g = flow.get
    if g("packet_type", 0) == 0:
        m["dl_dst"] = m["dl_src"] = 0xFFFFFFFFFFFF
        m["dl_type"] = 0xFFFF
        m["vlan_tci"] = 0xFFFF
        if g("vlan_tci", 0):
            m["vlan_tci1"] = 0xFFFF
        dl_type = g("dl_type", 0)
    else:
        dl_type = g("packet_type", 0) & 0xFFFF
    if dl_type == ETH_IP:
        m["nw_src"] = m["nw_dst"] = 0xFFFFFFFF
    elif dl_type == ETH_IPV6:
        m["ipv6_src"] = m["ipv6_dst"] = (1 << 128) - 1
        m["ipv6_label"] = 0xFFFFFFFF
        if _is_nd(flow):
            m["arp_sha"] = m["arp_tha"] = 0xFFFFFFFFFFFF
            m["nd_target"] = (1 << 128) - 1
    elif dl_type in (ETH_ARP, ETH_RARP):
        m["nw_src"] = m["nw_dst"] = 0xFFFFFFFF
        m["nw_proto"] = 0xFF
        m["arp_sha"] = m["arp_tha"] = 0xFFFFFFFFFFFF
        return m
    elif dl_type in (ETH_MPLS, ETH_MPLS_MCAST):
        for i in range(_mpls_count(flow)):
            m[f"mpls_lse{i}"] = 0xFFFFFFFF
        return m
    else:
        return m
    m["nw_frag"] = FRAG_ANY | FRAG_LATER
    m["nw_tos"] = m["nw_ttl"] = m["nw_proto"] = 0xFF
    proto = g("nw_proto", 0)
    if not g("nw_frag", 0) & FRAG_LATER and proto in (1, 58, 6, 17, 132, 2):
        m["tp_src"] = m["tp_dst"] = 0xFFFF
        if proto == 6:
            m["tcp_flags"] = 0xFFFF
        elif proto == 2:
            m["igmp_group_ip4"] = 0xFFFFFFFF
    return m


_CONTEXT = ("in_port", "skb_priority", "pkt_mark", "recirc_id", "dp_hash", "ct_state",
            "ct_zone", "ct_mark", "ct_label", "metadata", *(f"reg{i}" for i in range(16)))


def format_flow(flow, ports=None) -> str:
    """A packet's flow as OVS's ``flow_format`` prints it (``ofproto/trace``
    "Flow:" line, ``ovs-ofctl parse-pcap``): every field of the packet's type,
    metadata only when not zero."""
    mask = packet_wildcards(flow)
    for k in _CONTEXT:
        if not flow.get(k, 0):
            mask.pop(k, None)
    return match_format(flow, mask, ports)


def format_megaflow_match(flow, mask, ports=None) -> str:
    """The ``Megaflow:`` line of ``ofproto/trace`` for a flow and its mask."""
    return match_format(flow, mask, ports)


_SHORT4 = {1: "icmp", 6: "tcp", 17: "udp", 132: "sctp"}
_SHORT6 = {58: "icmp6", 6: "tcp6", 17: "udp6", 132: "sctp6"}
_TYPE_SHORT = {ETH_ARP: "arp", ETH_RARP: "rarp", ETH_MPLS: "mpls", ETH_MPLS_MCAST: "mplsm"}


def match_format(flow, mask, ports=None) -> str:
    """OVS ``match_format`` of ``flow`` under ``mask`` (default priority)."""
    g = flow.get
    mg = mask.get
    out = []
    add = out.append

    def put(s):
        if s:
            add(s)

    put(_u32_masked("pkt_mark", g("pkt_mark", 0), mg("pkt_mark", 0)))
    megaflow = bool(mg("recirc_id", 0))
    if megaflow:
        put(_u32_masked("recirc_id", g("recirc_id", 0), mg("recirc_id", 0)))
    put(_u32_masked("dp_hash", g("dp_hash", 0), mg("dp_hash", 0)))
    if mg("skb_priority", 0):
        add(f"skb_priority={_hex0(g('skb_priority', 0))}")
    if mg("ct_state", 0):
        add("ct_state=" + _flags_masked(g("ct_state", 0), mg("ct_state", 0) & 0xFF,
                                        CT_STATE_NAMES, 0xFF))
    if mg("ct_zone", 0):
        add(f"ct_zone={_hex0(g('ct_zone', 0))}" if mg("ct_zone") == 0xFFFF else
            f"ct_zone={_hex0(g('ct_zone', 0))}/{_hex0(mg('ct_zone'))}")
    put(_u32_masked("ct_mark", g("ct_mark", 0), mg("ct_mark", 0)))
    if mg("ct_label", 0):
        v, m = g("ct_label", 0), mg("ct_label")
        add(f"ct_label={_hex0(v)}" if m == (1 << 128) - 1 else f"ct_label={_hex0(v)}/{_hex0(m)}")
    dl_type = g("dl_type", 0)
    pt = g("packet_type", 0)
    if mg("packet_type", 0) and (pt != 0 or megaflow):
        if pt == 0 and mg("packet_type") == 0xFFFFFFFF:
            add("eth")
        else:
            add(f"packet_type=({pt >> 16},{pt & 0xFFFF:#x})")
        if pt >> 16 == 1:
            dl_type = pt & 0xFFFF
    skip_type = skip_proto = False
    proto = g("nw_proto", 0)
    if mg("dl_type", 0):
        skip_type = True
        if dl_type == ETH_IP or dl_type == ETH_IPV6:
            short = _SHORT4 if dl_type == ETH_IP else _SHORT6
            if mg("nw_proto", 0) and proto in short:
                add(short[proto])
                skip_proto = True
            else:
                add("ip" if dl_type == ETH_IP else "ipv6")
        elif dl_type in _TYPE_SHORT:
            add(_TYPE_SHORT[dl_type])
        else:
            skip_type = False
    for i in range(16):
        put(_u32_masked(f"reg{i}", g(f"reg{i}", 0), mg(f"reg{i}", 0)))
    if mg("tun_id", 0):
        v, m = g("tun_id", 0), mg("tun_id")
        add(f"tun_id={_hex0(v)}" if m == (1 << 64) - 1 else f"tun_id={_hex0(v)}/{_hex0(m)}")
    if mg("metadata", 0):
        v, m = g("metadata", 0), mg("metadata")
        add(f"metadata={_hex0(v)}" if m == (1 << 64) - 1 else f"metadata={_hex0(v)}/{_hex0(m)}")
    if mg("in_port", 0):
        add("in_port=" + _ofp_port(g("in_port", 0), ports))
    for i, member in enumerate(("vlan_tci", "vlan_tci1")):
        m = mg(member, 0)
        if not m:
            break
        v = g(member, 0)
        sfx = str(i) if i else ""
        vid_m, pcp_m = m & 0x0FFF, m & 0xE000
        if (m & VLAN_CFI and v & VLAN_CFI and vid_m in (0, 0xFFF) and pcp_m in (0, 0xE000)
                and (vid_m or pcp_m)):
            if vid_m:
                add(f"dl_vlan{sfx}={v & 0xFFF}")
            if pcp_m:
                add(f"dl_vlan_pcp{sfx}={v >> 13}")
        elif m == 0xFFFF:
            add(f"vlan_tci{sfx}={v:#06x}")
        else:
            add(f"vlan_tci{sfx}={v & m:#06x}/{m:#06x}")
    put(_eth_masked("dl_src", g("dl_src", 0), mg("dl_src", 0)))
    put(_eth_masked("dl_dst", g("dl_dst", 0), mg("dl_dst", 0)))
    if not skip_type and mg("dl_type", 0):
        add(f"dl_type={dl_type:#06x}")
    arp = dl_type in (ETH_ARP, ETH_RARP)
    if dl_type == ETH_IPV6:
        put(_ip6_netmask("ipv6_src", g("ipv6_src", 0), mg("ipv6_src", 0)))
        put(_ip6_netmask("ipv6_dst", g("ipv6_dst", 0), mg("ipv6_dst", 0)))
        if mg("ipv6_label", 0):
            v, m = g("ipv6_label", 0), mg("ipv6_label")
            add(f"ipv6_label={v:#07x}" if m == 0xFFFFFFFF else f"ipv6_label={v & m:#07x}/{m:#07x}")
    else:
        put(_ip_netmask("arp_spa" if arp else "nw_src", g("nw_src", 0), mg("nw_src", 0)))
        put(_ip_netmask("arp_tpa" if arp else "nw_dst", g("nw_dst", 0), mg("nw_dst", 0)))
    if not skip_proto and mg("nw_proto", 0):
        add(f"{'arp_op' if arp else 'nw_proto'}={proto}")
    if arp:
        put(_eth_masked("arp_sha", g("arp_sha", 0), mg("arp_sha", 0)))
        put(_eth_masked("arp_tha", g("arp_tha", 0), mg("arp_tha", 0)))
    tos_m = mg("nw_tos", 0)
    if tos_m & 0xFC:
        add(f"nw_tos={g('nw_tos', 0) & 0xFC}")
    if tos_m & 0x03:
        add(f"nw_ecn={g('nw_tos', 0) & 0x03}")
    if mg("nw_ttl", 0):
        add(f"nw_ttl={g('nw_ttl', 0)}")
    lm, lv = _lse_mask(mask, 0), _lse(flow, 0)
    if lm & 0xFFFFF000:
        add(f"mpls_label={lv >> 12}")
    if lm & 0xE00:
        add(f"mpls_tc={lv >> 9 & 7}")
    if lm & 0xFF:
        add(f"mpls_ttl={lv & 0xFF}")
    if lm & 0x100:
        add(f"mpls_bos={lv >> 8 & 1}")
    for i in (1, 2):
        put(_be32_masked(f"mpls_lse{i}", _lse(flow, i), _lse_mask(mask, i)))
    fm, fv = mg("nw_frag", 0) & 3, g("nw_frag", 0)
    if fm == 3:
        add("nw_frag=" + (("later" if fv & FRAG_LATER else "first") if fv & FRAG_ANY
                          else ("<error>" if fv & FRAG_LATER else "no")))
    elif fm == FRAG_ANY:
        add("nw_frag=" + ("yes" if fv & FRAG_ANY else "no"))
    elif fm == FRAG_LATER:
        add("nw_frag=" + ("later" if fv & FRAG_LATER else "not_later"))
    if dl_type == ETH_IP and proto == 1:
        put(_be16_masked("icmp_type", g("tp_src", 0), mg("tp_src", 0)))
        put(_be16_masked("icmp_code", g("tp_dst", 0), mg("tp_dst", 0)))
    elif dl_type == ETH_IPV6 and proto == 58:
        put(_be16_masked("icmp_type", g("tp_src", 0), mg("tp_src", 0)))
        put(_be16_masked("icmp_code", g("tp_dst", 0), mg("tp_dst", 0)))
        put(_ip6_netmask("nd_target", g("nd_target", 0), mg("nd_target", 0)))
        put(_eth_masked("nd_sll", g("arp_sha", 0), mg("arp_sha", 0)))
        put(_eth_masked("nd_tll", g("arp_tha", 0), mg("arp_tha", 0)))
        put(_be32_masked("nd_reserved", g("nd_reserved", 0), mg("nd_reserved", 0)))
        if mg("nd_options_type", 0):
            add(f"nd_options_type={g('nd_options_type', 0)}")
    else:
        put(_be16_masked("tp_src", g("tp_src", 0), mg("tp_src", 0)))
        put(_be16_masked("tp_dst", g("tp_dst", 0), mg("tp_dst", 0)))
    if dl_type in (ETH_IP, ETH_IPV6) and proto == 6 and mg("tcp_flags", 0):
        add("tcp_flags=" + _flags_masked(g("tcp_flags", 0), mg("tcp_flags") & 0xFFF,
                                         TCP_FLAG_NAMES, 0xFFF))
    return ",".join(out)


# ---------------------------------------------------------------------------
# Datapath keys (lib/odp-util.c odp_flow_format)
#
# Field formatters: (key, mask, verbose) -> "name=..," piece or "".  A mask of
# None means exact (no mask attribute).


def _f_eth(name, v, m, full, verbose):
    if not verbose and m == 0:
        return None
    if m == full:
        return f"{name}={_mac(v)}"
    return f"{name}={_mac(v)}/{_mac(m)}"


def _f_ip4(name, v, m, full, verbose):
    if not verbose and m == 0:
        return None
    return f"{name}={_ip4(v)}" if m == full else f"{name}={_ip4(v)}/{_ip4(m)}"


def _f_ip6(name, v, m, full, verbose):
    if not verbose and m == 0:
        return None
    return f"{name}={_ip6(v)}" if m == full else f"{name}={_ip6(v)}/{_ip6(m)}"


def _f_label(name, v, m, full, verbose):
    if not verbose and m == 0:
        return None
    return (f"{name}={_hex0(v)}" if m & 0xFFFFF == 0xFFFFF
            else f"{name}={_hex0(v)}/{_hex0(m)}")


def _f_dec(name, v, m, full, verbose):
    if not verbose and m == 0:
        return None
    return f"{name}={v}" if m == full else f"{name}={v}/{_hex0(m)}"


def _f_hex(name, v, m, full, verbose):
    if not verbose and m == 0:
        return None
    return f"{name}={_hex0(v)}" if m == full else f"{name}={_hex0(v)}/{_hex0(m)}"


_FRAG_NAMES = {0: "no", FRAG_ANY: "first", FRAG_ANY | FRAG_LATER: "later"}


def _f_frag(name, v, m, full, verbose):
    if m == full:
        m = 3
    if m == 0:
        # OVS's datapath mask of a wildcarded nw_frag is 0xfc: "partial".
        return None if not verbose else "error: partial mask not supported for frag (0xfc)"
    if m != 3:
        odp = 0xFC | (1 if m & FRAG_ANY else 0) | (2 if m & FRAG_LATER else 0)
        return f"error: partial mask not supported for frag ({odp:#x})"
    return f"{name}={_FRAG_NAMES.get(v & 3, 'later')}"


# attribute -> ((odp field, member, formatter, field width in bits), ...)
_ATTRS = {
    "eth": (("src", "dl_src", _f_eth, 48), ("dst", "dl_dst", _f_eth, 48)),
    "ipv4": (("src", "nw_src", _f_ip4, 32), ("dst", "nw_dst", _f_ip4, 32),
             ("proto", "nw_proto", _f_dec, 8), ("tos", "nw_tos", _f_hex, 8),
             ("ttl", "nw_ttl", _f_dec, 8), ("frag", "nw_frag", _f_frag, 8)),
    "ipv6": (("src", "ipv6_src", _f_ip6, 128), ("dst", "ipv6_dst", _f_ip6, 128),
             ("label", "ipv6_label", _f_label, 32), ("proto", "nw_proto", _f_dec, 8),
             ("tclass", "nw_tos", _f_hex, 8), ("hlimit", "nw_ttl", _f_dec, 8),
             ("frag", "nw_frag", _f_frag, 8)),
    "tcp": (("src", "tp_src", _f_dec, 16), ("dst", "tp_dst", _f_dec, 16)),
    "udp": (("src", "tp_src", _f_dec, 16), ("dst", "tp_dst", _f_dec, 16)),
    "sctp": (("src", "tp_src", _f_dec, 16), ("dst", "tp_dst", _f_dec, 16)),
    "icmp": (("type", "tp_src", _f_dec, 8), ("code", "tp_dst", _f_dec, 8)),
    "icmpv6": (("type", "tp_src", _f_dec, 8), ("code", "tp_dst", _f_dec, 8)),
    "arp": (("sip", "nw_src", _f_ip4, 32), ("tip", "nw_dst", _f_ip4, 32),
            ("op", "nw_proto", _f_dec, 16), ("sha", "arp_sha", _f_eth, 48),
            ("tha", "arp_tha", _f_eth, 48)),
    "nd": (("target", "nd_target", _f_ip6, 128), ("sll", "arp_sha", _f_eth, 48),
           ("tll", "arp_tha", _f_eth, 48)),
}
_FRAG_FROM_NAME = {"no": 0, "first": FRAG_ANY, "later": FRAG_ANY | FRAG_LATER}


def _attr_fields(attr, flow, mask, verbose, masked=True) -> str:
    """Body of one struct-like attribute; ``mask`` None = exact."""
    parts = []
    g = flow.get
    for fname, member, fmt, width in _ATTRS[attr]:
        full = (1 << width) - 1
        v = g(member, 0) & full
        if mask is None:
            m = full
        else:
            m = mask.get(member, 0) & full
            if not masked and member not in mask:
                continue
        s = fmt(fname, v, m, full, verbose)
        if s:
            parts.append(s)
    return ",".join(parts)


def _vlan_tci(tci, m, verbose) -> str:
    parts = []
    vid, vm = tci & 0xFFF, m & 0xFFF
    pcp, pm = tci >> 13, (m >> 13) & 7
    if verbose or vid or vm:
        parts.append(f"vid={vid}" + ("" if vm == 0xFFF else f"/0x{vm:x}"))
    if verbose or pcp or pm:
        parts.append(f"pcp={pcp}" + ("" if pm == 7 else f"/0x{pm:x}"))
    if not tci & VLAN_CFI:
        parts.append("cfi=0")
    return ",".join(parts)


def _mpls_body(flow, mask, n, exact) -> str:
    parts = []
    for i in range(n):
        k = _lse(flow, i)
        if exact:
            parts.append(f"label={k >> 12},tc={k >> 9 & 7},ttl={k & 0xFF},bos={k >> 8 & 1}")
        else:
            m = _lse_mask(mask, i)
            parts.append(f"label={k >> 12}/0x{m >> 12:x},tc={k >> 9 & 7}/{m >> 9 & 7:x},"
                         f"ttl={k & 0xFF}/0x{m & 0xFF:x},bos={k >> 8 & 1}/{m >> 8 & 1:x}")
    return ",".join(parts)


def format_key(flow, mask=None, ports=None, verbose=False) -> str:
    """A datapath flow key (and mask) as ``ovs-appctl dpctl/dump-flows [-m]``.

    ``mask`` None means an exact-match flow (every field, no ``/mask``);
    ``ports`` maps datapath port numbers to names (used for ``in_port``, as
    ``-m`` does).
    """
    exact = mask is None
    if exact:
        mask = {}
    else:
        mask = dict(mask)
        for k in ("recirc_id", "in_port", "packet_type"):
            mask.setdefault(k, _full(k))
    g = flow.get
    mg = mask.get
    out = []

    def scalar(name, member, width, text):
        m = mg(member, 0) & ((1 << width) - 1)
        if exact:
            out.append(f"{name}({text(g(member, 0))})")
        elif verbose or m:
            full = (1 << width) - 1
            v = g(member, 0)
            out.append(f"{name}({text(v)})" if m == full else f"{name}({text(v)}/{_hex0(m)})")

    if verbose or exact or mg("skb_priority", 0):
        scalar("skb_priority", "skb_priority", 32, _hex0)
    if verbose or exact or mg("pkt_mark", 0):
        scalar("skb_mark", "pkt_mark", 32, _hex0)
    if exact:
        out.append(f"ct_state({_flags(g('ct_state', 0), CT_STATE_NAMES)})")
    elif verbose:
        m = mg("ct_state", 0)
        v = g("ct_state", 0)
        out.append(f"ct_state({_hex0(v)})" if m == 0xFFFFFFFF else
                   f"ct_state({_hex0(v)}/{_hex0(m)})")
    elif mg("ct_state", 0):
        out.append("ct_state(" + _flags_masked(g("ct_state", 0), mg("ct_state"),
                                               CT_STATE_NAMES, 0xFFFFFFFF) + ")")
    if verbose or exact or mg("ct_zone", 0):
        scalar("ct_zone", "ct_zone", 16, _hex0)
    if verbose or exact or mg("ct_mark", 0):
        scalar("ct_mark", "ct_mark", 32, _hex0)
    if verbose or exact or mg("ct_label", 0):
        scalar("ct_label", "ct_label", 128, _hex0)
    scalar("recirc_id", "recirc_id", 32, _hex0)
    if verbose or exact or mg("dp_hash", 0):
        scalar("dp_hash", "dp_hash", 32, _hex0)
    im = mg("in_port", 0)
    if exact or im == 0xFFFFFFFF or im == _full("in_port"):
        out.append(f"in_port({_odp_port(g('in_port', 0), ports)})")
    elif verbose or im:
        out.append(f"in_port({g('in_port', 0)}/{_hex0(im)})")
    pt, ptm = g("packet_type", 0), (0xFFFFFFFF if exact else mg("packet_type", 0))
    if verbose or ptm:
        ns = _f_dec("ns", pt >> 16, ptm >> 16, 0xFFFF, verbose)
        nid = _f_hex("id", pt & 0xFFFF, ptm & 0xFFFF, 0xFFFF, verbose)
        out.append("packet_type(" + ",".join(p for p in (ns, nid) if p) + ")")
    if pt != 0:
        return ",".join(out)
    if exact or verbose or mg("dl_src", 0) or mg("dl_dst", 0):
        out.append("eth(" + _attr_fields("eth", flow, None if exact else mask, verbose) + ")")
    out.append(_key_l2_5(flow, mask, exact, verbose, 0))
    return ",".join(p for p in out if p)


def _key_l2_5(flow, mask, exact, verbose, depth) -> str:
    """From the ethertype on; recursion handles the VLAN ``encap()``."""
    g = flow.get
    mg = mask.get
    out = []
    tci_m = ("vlan_tci", "vlan_tci1")[depth] if depth < 2 else None
    dl_type = g("dl_type", 0)
    if tci_m is not None:
        tci = g(tci_m, 0)
        if tci or (depth == 0 and dl_type in (TPID_8021Q, TPID_8021AD) and not tci):
            tpid = g(("vlan_tpid", "vlan_tpid1")[depth], 0) or TPID_8021Q
            if not tci:
                tpid = dl_type
            out.append(f"eth_type({tpid:#06x})")
            m = 0xFFFF if exact else mg(tci_m, 0)
            if exact or verbose or m:
                out.append(f"vlan({_vlan_tci(tci, m, verbose)})")
            inner = "" if not tci else _key_l2_5(flow, mask, exact, verbose, depth + 1)
            out.append(f"encap({inner})")
            return ",".join(out)
    tm = 0xFFFF if exact else mg("dl_type", 0)
    if dl_type < 0x0600:
        return f"eth_type(0/{tm:#06x})" if tm and not exact else ""
    if exact or tm == 0xFFFF:
        out.append(f"eth_type({dl_type:#06x})")
    elif verbose or tm:
        out.append(f"eth_type({dl_type:#06x}/{tm:#06x})")
    l3 = None
    if dl_type == ETH_IP:
        l3 = "ipv4"
    elif dl_type == ETH_IPV6:
        l3 = "ipv6"
    elif dl_type in (ETH_ARP, ETH_RARP):
        l3 = "arp"
    elif dl_type in (ETH_MPLS, ETH_MPLS_MCAST):
        n = _mpls_count(flow)
        lm = [0xFFFFFFFF if exact else _lse_mask(mask, i) for i in range(n)]
        if exact or verbose or any(lm):
            full = all(x == 0xFFFFFFFF for x in lm)
            out.append("mpls(" + _mpls_body(flow, mask, n, full) + ")")
        return ",".join(out)
    if l3:
        _put_attr(out, l3, flow, mask, exact, verbose)
    if l3 in ("ipv4", "ipv6") and not g("nw_frag", 0) & FRAG_LATER:
        proto = g("nw_proto", 0)
        l4 = {6: "tcp", 17: "udp", 132: "sctp"}.get(proto)
        if l4 is None and proto == 1 and l3 == "ipv4":
            l4 = "icmp"
        elif l4 is None and proto == 58 and l3 == "ipv6":
            l4 = "icmpv6"
        if l4:
            if l4 in ("icmp", "icmpv6") and not exact:
                mask = dict(mask, tp_src=mg("tp_src", 0) & 0xFF, tp_dst=mg("tp_dst", 0) & 0xFF)
            _put_attr(out, l4, flow, mask, exact, verbose)
            if l4 == "tcp" and (g("tcp_flags", 0) or mask.get("tcp_flags", 0)):
                v = g("tcp_flags", 0)
                m = 0xFFFF if exact else mask.get("tcp_flags", 0)
                if exact or m & 0xFFF == 0xFFF:
                    out.append(f"tcp_flags({_flags(v, TCP_FLAG_NAMES)})")
                elif verbose or m:
                    out.append("tcp_flags(" + _flags_masked(v, m & 0xFFF, TCP_FLAG_NAMES,
                                                            0xFFF) + ")")
            if l4 == "icmpv6" and _is_nd(flow):
                nd_mask = mask if exact or mask.get("tp_src", 0) & 0xFF == 0xFF else {}
                _put_attr(out, "nd", flow, nd_mask, exact, verbose)
    return ",".join(out)


def _put_attr(out, attr, flow, mask, exact, verbose) -> None:
    if not exact and not verbose and not any(mask.get(mb, 0) for _, mb, _, _ in _ATTRS[attr]):
        return
    out.append(f"{attr}(" + _attr_fields(attr, flow, None if exact else mask, verbose) + ")")


# ---------------------------------------------------------------------------
# Parsing the datapath syntax


def _split_top(text: str) -> list[str]:
    """Split on commas not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise OdpParseError(f"unbalanced parentheses in {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise OdpParseError(f"unbalanced parentheses in {text!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$", re.S)


def _call(item: str):
    mo = _CALL.match(item)
    if not mo:
        raise OdpParseError(f"cannot parse {item!r}")
    return mo.group(1), mo.group(2)


def _num(s: str) -> int:
    try:
        return int(s, 0)
    except ValueError:
        raise OdpParseError(f"bad number {s!r}") from None


def _parse_value(kind: str, s: str) -> int:
    try:
        if kind in ("eth",):
            b = bytes(int(x, 16) for x in s.split(":"))
            if len(b) != 6:
                raise ValueError
            return int.from_bytes(b, "big")
        if kind == "ip4":
            return int(ipaddress.IPv4Address(s))
        if kind == "ip6":
            return int(ipaddress.IPv6Address(s))
    except ValueError:
        raise OdpParseError(f"bad {kind} address {s!r}") from None
    return _num(s)


_KIND = {_f_eth: "eth", _f_ip4: "ip4", _f_ip6: "ip6"}


def _parse_fields(attr, body, flow, mask) -> None:
    spec = {fname: (member, fmt, width) for fname, member, fmt, width in _ATTRS[attr]}
    for item in _split_top(body or ""):
        name, _, val = item.partition("=")
        if name not in spec:
            raise OdpParseError(f"unknown field {name!r} in {attr}()")
        member, fmt, width = spec[name]
        full = (1 << width) - 1
        v, sl, m = val.partition("/")
        if fmt is _f_frag:
            if v not in _FRAG_FROM_NAME:
                raise OdpParseError(f"bad frag {v!r}")
            flow[member] = _FRAG_FROM_NAME[v]
            mask[member] = 3
            continue
        kind = _KIND.get(fmt, "int")
        flow[member] = _parse_value(kind, v)
        mval = _parse_value(kind, m) if sl else full
        if member in ("tp_src", "tp_dst") and attr in ("icmp", "icmpv6") and mval == 0xFF:
            mval = 0xFFFF
        mask[member] = mval


def _parse_flags(body, names) -> tuple[int, int]:
    rev = {n: b for b, n in names.items()}
    body = body.strip()
    if not body:
        return 0, 0
    if body[0] in "+-":
        v = m = 0
        for sign, name in re.findall(r"([+-])([a-z0-9\[\]]+)", body):
            if name not in rev:
                raise OdpParseError(f"unknown flag {name!r}")
            m |= rev[name]
            if sign == "+":
                v |= rev[name]
        return v, m
    v, _, m = body.partition("/")
    if "|" in v or v in rev:
        val = 0
        for name in v.split("|"):
            if name not in rev:
                raise OdpParseError(f"unknown flag {name!r}")
            val |= rev[name]
        return val, (_num(m) if m else None)
    return _num(v), (_num(m) if m else None)


def parse_key(text: str, ports=None) -> tuple[dict, dict]:
    """Parse a datapath key in ``dpctl`` syntax into ``(flow, mask)``.

    Fields written without ``/mask`` are exact; fields and attributes not
    written are absent from ``mask`` (wildcarded) and 0 in ``flow``.  ``ports``
    (number -> name) resolves port names in ``in_port()``.
    """
    flow: dict = {}
    mask: dict = {}
    _parse_items(_split_top(text.strip()), flow, mask, ports, 0)
    return flow, mask


_SCALARS = {"skb_priority": ("skb_priority", 32), "skb_mark": ("pkt_mark", 32),
            "ct_zone": ("ct_zone", 16), "ct_mark": ("ct_mark", 32),
            "ct_label": ("ct_label", 128), "recirc_id": ("recirc_id", 32),
            "dp_hash": ("dp_hash", 32)}


def _parse_items(items, flow, mask, ports, depth) -> None:
    pending_type = None
    for item in items:
        name, body = _call(item)
        body = body if body is not None else ""
        if name in _SCALARS:
            member, width = _SCALARS[name]
            v, sl, m = body.partition("/")
            flow[member] = _num(v)
            mask[member] = _num(m) if sl else (1 << width) - 1
        elif name == "ct_state":
            v, m = _parse_flags(body, CT_STATE_NAMES)
            flow["ct_state"] = v
            mask["ct_state"] = 0xFFFFFFFF if m is None else m
        elif name == "in_port":
            v, sl, m = body.partition("/")
            rev = {n: p for p, n in (ports or {}).items()}
            flow["in_port"] = rev[v] if v in rev else _num(v)
            mask["in_port"] = _num(m) if sl else _full("in_port")
        elif name == "packet_type":
            ns = nid = 0
            nsm = nidm = 0
            for f in _split_top(body):
                k, _, val = f.partition("=")
                v, sl, m = val.partition("/")
                if k == "ns":
                    ns, nsm = _num(v), (_num(m) if sl else 0xFFFF)
                elif k == "id":
                    nid, nidm = _num(v), (_num(m) if sl else 0xFFFF)
                else:
                    raise OdpParseError(f"bad packet_type field {k!r}")
            flow["packet_type"] = ns << 16 | nid
            mask["packet_type"] = nsm << 16 | nidm
        elif name == "eth":
            _parse_fields("eth", body, flow, mask)
        elif name == "eth_type":
            v, sl, m = body.partition("/")
            if _num(v) == 0 and sl:               # non-Ethernet-II frames
                flow["dl_type"] = DL_TYPE_NONE
                mask["dl_type"] = _num(m)
                continue
            pending_type = _num(v)
            flow["dl_type"] = pending_type
            mask["dl_type"] = _num(m) if sl else 0xFFFF
        elif name == "vlan":
            if depth > 1:
                raise OdpParseError("more than two VLAN headers")
            tci, tm, cfi = 0, 0, True
            for f in _split_top(body):
                k, _, val = f.partition("=")
                v, sl, m = val.partition("/")
                if k == "vid":
                    tci |= _num(v) & 0xFFF
                    tm |= (_num(m) if sl else 0xFFF) & 0xFFF
                elif k == "pcp":
                    tci |= (_num(v) & 7) << 13
                    tm |= ((_num(m) if sl else 7) & 7) << 13
                elif k == "cfi":
                    cfi = bool(_num(v))
                elif k == "tci":
                    tci, tm = _num(v), (_num(m) if sl else 0xFFFF)
                else:
                    raise OdpParseError(f"bad vlan field {k!r}")
            if cfi:
                tci |= VLAN_CFI
            tm |= VLAN_CFI
            sfx = "" if depth == 0 else "1"
            flow["vlan_tci" + sfx] = tci
            mask["vlan_tci" + sfx] = tm
            flow["vlan_tpid" + sfx] = pending_type or TPID_8021Q
        elif name == "encap":
            flow.pop("dl_type", None)
            mask.pop("dl_type", None)
            _parse_items(_split_top(body), flow, mask, ports, depth + 1)
        elif name in ("ipv4", "ipv6", "arp", "tcp", "udp", "sctp", "icmp", "icmpv6", "nd"):
            _parse_fields(name, body, flow, mask)
            if name in ("tcp", "udp", "sctp", "icmp", "icmpv6") and "nw_proto" not in flow:
                flow["nw_proto"] = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1,
                                    "icmpv6": 58}[name]
        elif name == "tcp_flags":
            v, m = _parse_flags(body, TCP_FLAG_NAMES)
            flow["tcp_flags"] = v
            mask["tcp_flags"] = 0xFFFF if m is None else m
        elif name == "mpls":
            fields = _split_top(body)
            for i in range(0, len(fields), 4):
                lse = lm = 0
                for f in fields[i:i + 4]:
                    k, _, val = f.partition("=")
                    v, sl, m = val.partition("/")
                    shift, width = {"label": (12, 20), "tc": (9, 3), "ttl": (0, 8),
                                    "bos": (8, 1)}.get(k, (None, None))
                    if shift is None:
                        raise OdpParseError(f"bad mpls field {k!r}")
                    full = (1 << width) - 1
                    lse |= (_num(v) & full) << shift
                    mv = int(m, 16) if sl else full
                    lm |= (mv & full) << shift
                j = i // 4
                if j < MAX_MPLS:
                    flow[f"mpls_lse{j}"] = lse
                    mask[f"mpls_lse{j}"] = lm
                    if j == 0:
                        flow.update(mpls_label=lse >> 12, mpls_tc=lse >> 9 & 7,
                                    mpls_bos=lse >> 8 & 1, mpls_ttl=lse & 0xFF)
        elif name == "nd_ext":
            for f in _split_top(body):
                k, _, val = f.partition("=")
                if k in ("nd_reserved", "nd_options_type"):
                    flow[k] = _num(val.partition("/")[0])
                    mask[k] = _full(k)
        elif name == "ufid" or item.startswith("ufid:"):
            continue
        else:
            raise OdpParseError(f"unknown key attribute {name!r}")
