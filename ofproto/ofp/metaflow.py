"""Open vSwitch's meta-flow field table, as table features advertise it.

Theory of operation
-------------------
:data:`FIELDS` lists, in Open vSwitch 3.1's ``enum mf_field_id`` order, every
meta-flow field that has at least one NXM/OXM header (``meta-flow.h``; the five
without one - ``tun_ttl``, ``tun_tos``, ``skb_priority``, ``dl_vlan``,
``dl_vlan_pcp`` - never reach the wire and are left out).  Each row is
``(name, n_bytes, maskable, writable, headers)``: ``maskable`` is
``MFM_FULLY`` (an arbitrary bitmask; the others are ``MFM_NONE``), ``writable``
says whether ``set_field`` may write it, and ``headers`` are the field's
encodings ``(wire_name, oxm_class, code, experimenter, since)`` ordered by
``since``, the first OpenFlow version (wire number) that uses that header; 0 is
"any" (NXM and extensions).

Rules (lib/nx-match.c):

* :func:`header` is ``mf_oxm_header(field, version)``: the first encoding,
  replaced by every later one whose ``since`` is at most ``version``; so
  ``eth_src`` is NXM_OF_ETH_SRC before OF1.2 and OXM_OF_ETH_SRC from it,
  ``tcp_flags`` is ONFOXM_ET_TCP_FLAGS (an experimenter OXM) in OF1.3/1.4 and
  OXM_OF_TCP_FLAGS from OF1.5, and ``packet_type`` (OF1.5's) is still sent to
  OF1.3 because the first encoding is always taken.
* ``oxm_matchable_fields`` is every field here, ``oxm_maskable_fields`` those
  with ``maskable``, ``oxm_writable_fields`` those with ``writable``:
  :func:`matchable`, :func:`maskable`, :func:`writable` (names, in order).
* A header of a field with an experimenter is 64 bits (``header << 32 |
  experimenter``) and its length counts the experimenter's 4 bytes; the
  masked form (``HM`` set) doubles the payload length only
  (``nxm_make_wild_header``).
* :func:`oxm_bitmap` is ``oxm_bitmap_from_mf_bitmap``: bit ``code`` for the
  fields whose header in that version is OpenFlow basic (class 0x8000).
"""

from __future__ import annotations

OFPXMC12_OPENFLOW_BASIC = 0x8000
_NX = 0x00002320

_TUN_METADATA = tuple((f"tun_metadata{i}", 124, True, True,
                       ((f"NXM_NX_TUN_METADATA{i}", 0x0001, 40 + i, 0, 0),)) for i in range(64))
_REG = tuple((f"reg{i}", 4, True, True, ((f"NXM_NX_REG{i}", 0x0001, i, 0, 0),))
             for i in range(16))
_XREG = tuple((f"xreg{i}", 8, True, True, ((f"OXM_OF_PKT_REG{i}", 0x8001, i, 0, 4),))
              for i in range(8))
_XXREG = tuple((f"xxreg{i}", 16, True, True, ((f"NXM_NX_XXREG{i}", 0x0001, 111 + i, 0, 0),))
               for i in range(4))

FIELDS = (
    ('dp_hash', 4, True, False, (('NXOXM_ET_DP_HASH', 0xffff, 0, 0x00002320, 0), ('NXM_NX_DP_HASH', 0x0001, 35, 0, 0),)),
    ('recirc_id', 4, False, False, (('NXM_NX_RECIRC_ID', 0x0001, 36, 0, 0),)),
    ('packet_type', 4, False, False, (('OXM_OF_PACKET_TYPE', 0x8000, 44, 0, 6),)),
    ('conj_id', 4, False, False, (('NXM_NX_CONJ_ID', 0x0001, 37, 0, 0),)),
    ('tun_id', 8, True, True, (('NXM_NX_TUN_ID', 0x0001, 16, 0, 0), ('OXM_OF_TUNNEL_ID', 0x8000, 38, 0, 4),)),
    ('tun_src', 4, True, True, (('NXM_NX_TUN_IPV4_SRC', 0x0001, 31, 0, 0),)),
    ('tun_dst', 4, True, True, (('NXM_NX_TUN_IPV4_DST', 0x0001, 32, 0, 0),)),
    ('tun_ipv6_src', 16, True, True, (('NXM_NX_TUN_IPV6_SRC', 0x0001, 109, 0, 0),)),
    ('tun_ipv6_dst', 16, True, True, (('NXM_NX_TUN_IPV6_DST', 0x0001, 110, 0, 0),)),
    ('tun_flags', 2, True, True, (('NXM_NX_TUN_FLAGS', 0x0001, 104, 0, 0),)),
    ('tun_gbp_id', 2, True, True, (('NXM_NX_TUN_GBP_ID', 0x0001, 38, 0, 0),)),
    ('tun_gbp_flags', 1, True, True, (('NXM_NX_TUN_GBP_FLAGS', 0x0001, 39, 0, 0),)),
    ('tun_erspan_idx', 4, True, True, (('NXOXM_ET_ERSPAN_IDX', 0xffff, 11, 0x00002320, 0),)),
    ('tun_erspan_ver', 1, True, True, (('NXOXM_ET_ERSPAN_VER', 0xffff, 12, 0x00002320, 0),)),
    ('tun_erspan_dir', 1, True, True, (('NXOXM_ET_ERSPAN_DIR', 0xffff, 13, 0x00002320, 0),)),
    ('tun_erspan_hwid', 1, True, True, (('NXOXM_ET_ERSPAN_HWID', 0xffff, 14, 0x00002320, 0),)),
    ('tun_gtpu_flags', 1, True, False, (('NXOXM_ET_GTPU_FLAGS', 0xffff, 15, 0x00002320, 0),)),
    ('tun_gtpu_msgtype', 1, True, False, (('NXOXM_ET_GTPU_MSGTYPE', 0xffff, 16, 0x00002320, 0),)),
    *_TUN_METADATA,
    ('metadata', 8, True, True, (('OXM_OF_METADATA', 0x8000, 2, 0, 3),)),
    ('in_port', 2, False, True, (('NXM_OF_IN_PORT', 0x0000, 0, 0, 0),)),
    ('in_port_oxm', 4, False, True, (('OXM_OF_IN_PORT', 0x8000, 0, 0, 3),)),
    ('actset_output', 4, False, False, (('ONFOXM_ET_ACTSET_OUTPUT', 0xffff, 43, 0x4f4e4600, 4), ('OXM_OF_ACTSET_OUTPUT', 0x8000, 43, 0, 6),)),
    ('pkt_mark', 4, True, True, (('NXM_NX_PKT_MARK', 0x0001, 33, 0, 0),)),
    ('ct_state', 4, True, False, (('NXM_NX_CT_STATE', 0x0001, 105, 0, 0),)),
    ('ct_zone', 2, False, False, (('NXM_NX_CT_ZONE', 0x0001, 106, 0, 0),)),
    ('ct_mark', 4, True, True, (('NXM_NX_CT_MARK', 0x0001, 107, 0, 0),)),
    ('ct_label', 16, True, True, (('NXM_NX_CT_LABEL', 0x0001, 108, 0, 0),)),
    ('ct_nw_proto', 1, False, False, (('NXM_NX_CT_NW_PROTO', 0x0001, 119, 0, 0),)),
    ('ct_nw_src', 4, True, False, (('NXM_NX_CT_NW_SRC', 0x0001, 120, 0, 0),)),
    ('ct_nw_dst', 4, True, False, (('NXM_NX_CT_NW_DST', 0x0001, 121, 0, 0),)),
    ('ct_ipv6_src', 16, True, False, (('NXM_NX_CT_IPV6_SRC', 0x0001, 122, 0, 0),)),
    ('ct_ipv6_dst', 16, True, False, (('NXM_NX_CT_IPV6_DST', 0x0001, 123, 0, 0),)),
    ('ct_tp_src', 2, True, False, (('NXM_NX_CT_TP_SRC', 0x0001, 124, 0, 0),)),
    ('ct_tp_dst', 2, True, False, (('NXM_NX_CT_TP_DST', 0x0001, 125, 0, 0),)),
    *_REG,
    *_XREG,
    *_XXREG,
    ('eth_src', 6, True, True, (('NXM_OF_ETH_SRC', 0x0000, 2, 0, 0), ('OXM_OF_ETH_SRC', 0x8000, 4, 0, 3),)),
    ('eth_dst', 6, True, True, (('NXM_OF_ETH_DST', 0x0000, 1, 0, 0), ('OXM_OF_ETH_DST', 0x8000, 3, 0, 3),)),
    ('eth_type', 2, False, False, (('NXM_OF_ETH_TYPE', 0x0000, 3, 0, 0), ('OXM_OF_ETH_TYPE', 0x8000, 5, 0, 3),)),
    ('vlan_tci', 2, True, True, (('NXM_OF_VLAN_TCI', 0x0000, 4, 0, 0),)),
    ('vlan_vid', 2, True, True, (('OXM_OF_VLAN_VID', 0x8000, 6, 0, 3),)),
    ('vlan_pcp', 1, False, True, (('OXM_OF_VLAN_PCP', 0x8000, 7, 0, 3),)),
    ('mpls_label', 4, False, True, (('OXM_OF_MPLS_LABEL', 0x8000, 34, 0, 3),)),
    ('mpls_tc', 1, False, True, (('OXM_OF_MPLS_TC', 0x8000, 35, 0, 3),)),
    ('mpls_bos', 1, False, False, (('OXM_OF_MPLS_BOS', 0x8000, 36, 0, 4),)),
    ('mpls_ttl', 1, False, True, (('NXM_NX_MPLS_TTL', 0x0001, 30, 0, 0),)),
    ('ip_src', 4, True, True, (('NXM_OF_IP_SRC', 0x0000, 7, 0, 0), ('OXM_OF_IPV4_SRC', 0x8000, 11, 0, 3),)),
    ('ip_dst', 4, True, True, (('NXM_OF_IP_DST', 0x0000, 8, 0, 0), ('OXM_OF_IPV4_DST', 0x8000, 12, 0, 3),)),
    ('ipv6_src', 16, True, True, (('NXM_NX_IPV6_SRC', 0x0001, 19, 0, 0), ('OXM_OF_IPV6_SRC', 0x8000, 26, 0, 3),)),
    ('ipv6_dst', 16, True, True, (('NXM_NX_IPV6_DST', 0x0001, 20, 0, 0), ('OXM_OF_IPV6_DST', 0x8000, 27, 0, 3),)),
    ('ipv6_label', 4, True, True, (('NXM_NX_IPV6_LABEL', 0x0001, 27, 0, 0), ('OXM_OF_IPV6_FLABEL', 0x8000, 28, 0, 3),)),
    ('nw_proto', 1, False, False, (('NXM_OF_IP_PROTO', 0x0000, 6, 0, 0), ('OXM_OF_IP_PROTO', 0x8000, 10, 0, 3),)),
    ('nw_tos', 1, False, True, (('NXM_OF_IP_TOS', 0x0000, 5, 0, 0),)),
    ('ip_dscp', 1, False, True, (('OXM_OF_IP_DSCP', 0x8000, 8, 0, 3),)),
    ('nw_ecn', 1, False, True, (('NXM_NX_IP_ECN', 0x0001, 28, 0, 0), ('OXM_OF_IP_ECN', 0x8000, 9, 0, 3),)),
    ('nw_ttl', 1, False, True, (('NXM_NX_IP_TTL', 0x0001, 29, 0, 0),)),
    ('ip_frag', 1, True, False, (('NXM_NX_IP_FRAG', 0x0001, 26, 0, 0),)),
    ('arp_op', 2, False, True, (('NXM_OF_ARP_OP', 0x0000, 15, 0, 0), ('OXM_OF_ARP_OP', 0x8000, 21, 0, 3),)),
    ('arp_spa', 4, True, True, (('NXM_OF_ARP_SPA', 0x0000, 16, 0, 0), ('OXM_OF_ARP_SPA', 0x8000, 22, 0, 3),)),
    ('arp_tpa', 4, True, True, (('NXM_OF_ARP_TPA', 0x0000, 17, 0, 0), ('OXM_OF_ARP_TPA', 0x8000, 23, 0, 3),)),
    ('arp_sha', 6, True, True, (('NXM_NX_ARP_SHA', 0x0001, 17, 0, 0), ('OXM_OF_ARP_SHA', 0x8000, 24, 0, 3),)),
    ('arp_tha', 6, True, True, (('NXM_NX_ARP_THA', 0x0001, 18, 0, 0), ('OXM_OF_ARP_THA', 0x8000, 25, 0, 3),)),
    ('tcp_src', 2, True, True, (('NXM_OF_TCP_SRC', 0x0000, 9, 0, 0), ('OXM_OF_TCP_SRC', 0x8000, 13, 0, 3),)),
    ('tcp_dst', 2, True, True, (('NXM_OF_TCP_DST', 0x0000, 10, 0, 0), ('OXM_OF_TCP_DST', 0x8000, 14, 0, 3),)),
    ('tcp_flags', 2, True, False, (('NXM_NX_TCP_FLAGS', 0x0001, 34, 0, 0), ('ONFOXM_ET_TCP_FLAGS', 0xffff, 42, 0x4f4e4600, 4), ('OXM_OF_TCP_FLAGS', 0x8000, 42, 0, 6),)),
    ('udp_src', 2, True, True, (('NXM_OF_UDP_SRC', 0x0000, 11, 0, 0), ('OXM_OF_UDP_SRC', 0x8000, 15, 0, 3),)),
    ('udp_dst', 2, True, True, (('NXM_OF_UDP_DST', 0x0000, 12, 0, 0), ('OXM_OF_UDP_DST', 0x8000, 16, 0, 3),)),
    ('sctp_src', 2, True, True, (('OXM_OF_SCTP_SRC', 0x8000, 17, 0, 3),)),
    ('sctp_dst', 2, True, True, (('OXM_OF_SCTP_DST', 0x8000, 18, 0, 3),)),
    ('icmp_type', 1, False, True, (('NXM_OF_ICMP_TYPE', 0x0000, 13, 0, 0), ('OXM_OF_ICMPV4_TYPE', 0x8000, 19, 0, 3),)),
    ('icmp_code', 1, False, True, (('NXM_OF_ICMP_CODE', 0x0000, 14, 0, 0), ('OXM_OF_ICMPV4_CODE', 0x8000, 20, 0, 3),)),
    ('icmpv6_type', 1, False, True, (('NXM_NX_ICMPV6_TYPE', 0x0001, 21, 0, 0), ('OXM_OF_ICMPV6_TYPE', 0x8000, 29, 0, 3),)),
    ('icmpv6_code', 1, False, True, (('NXM_NX_ICMPV6_CODE', 0x0001, 22, 0, 0), ('OXM_OF_ICMPV6_CODE', 0x8000, 30, 0, 3),)),
    ('nd_target', 16, True, True, (('NXM_NX_ND_TARGET', 0x0001, 23, 0, 0), ('OXM_OF_IPV6_ND_TARGET', 0x8000, 31, 0, 3),)),
    ('nd_sll', 6, True, True, (('NXM_NX_ND_SLL', 0x0001, 24, 0, 0), ('OXM_OF_IPV6_ND_SLL', 0x8000, 32, 0, 3),)),
    ('nd_tll', 6, True, True, (('NXM_NX_ND_TLL', 0x0001, 25, 0, 0), ('OXM_OF_IPV6_ND_TLL', 0x8000, 33, 0, 3),)),
    ('nd_reserved', 4, False, True, (('ERICOXM_OF_ICMPV6_ND_RESERVED', 0x1000, 1, 0, 0),)),
    ('nd_options_type', 1, False, True, (('ERICOXM_OF_ICMPV6_ND_OPTIONS_TYPE', 0x1000, 2, 0, 0),)),
    ('nsh_flags', 1, True, True, (('NXOXM_NSH_FLAGS', 0xffff, 1, 0x005ad650, 0),)),
    ('nsh_mdtype', 1, False, False, (('NXOXM_NSH_MDTYPE', 0xffff, 2, 0x005ad650, 0),)),
    ('nsh_np', 1, False, False, (('NXOXM_NSH_NP', 0xffff, 3, 0x005ad650, 0),)),
    ('nsh_spi', 4, False, True, (('NXOXM_NSH_SPI', 0xffff, 4, 0x005ad650, 0),)),
    ('nsh_si', 1, False, True, (('NXOXM_NSH_SI', 0xffff, 5, 0x005ad650, 0),)),
    ('nsh_c1', 4, True, True, (('NXOXM_NSH_C1', 0xffff, 6, 0x005ad650, 0),)),
    ('nsh_c2', 4, True, True, (('NXOXM_NSH_C2', 0xffff, 7, 0x005ad650, 0),)),
    ('nsh_c3', 4, True, True, (('NXOXM_NSH_C3', 0xffff, 8, 0x005ad650, 0),)),
    ('nsh_c4', 4, True, True, (('NXOXM_NSH_C4', 0xffff, 9, 0x005ad650, 0),)),
    ('nsh_ttl', 1, False, True, (('NXOXM_NSH_TTL', 0xffff, 10, 0x005ad650, 0),)),
)

BY_NAME = {row[0]: row for row in FIELDS}


def header(name: str, version: int, masked: bool = False) -> int:
    """``mf_oxm_header(name, version)`` as sent (64 bits for experimenter OXMs);
    ``masked``: with HM set and the payload length doubled."""
    _, n_bytes, _, _, headers = BY_NAME[name]
    h = headers[0]
    for cand in headers[1:]:
        if version >= cand[4]:
            h = cand
    _, cls, code, exp, _ = h
    n = n_bytes * (2 if masked else 1) + (4 if exp else 0)
    head = cls << 16 | code << 9 | int(masked) << 8 | n
    return head << 32 | exp if exp else head


def matchable() -> tuple:
    return tuple(r[0] for r in FIELDS)


def maskable() -> tuple:
    return tuple(r[0] for r in FIELDS if r[2])


def writable() -> tuple:
    return tuple(r[0] for r in FIELDS if r[3])


def oxm_bitmap(names, version: int) -> int:
    """OF1.2 table stats' 64-bit OXM field bitmap of ``names``."""
    bm = 0
    for n in names:
        h = header(n, version)
        if h <= 0xFFFFFFFF and h >> 16 == OFPXMC12_OPENFLOW_BASIC and (h >> 9 & 0x7F) < 64:
            bm |= 1 << (h >> 9 & 0x7F)
    return bm
