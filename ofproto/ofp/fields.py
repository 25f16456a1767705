"""Match fields: NXM/OXM code points and how they fold into flow members.

Theory of operation
-------------------
Each row of :data:`_FIELD_ROWS` is one Open vSwitch "meta-flow" field with
its wire width, maskability, prerequisite and every NXM/OXM header it can
travel under (code points from OVS 3.1 ``meta-flow.h``).  Registers are
added programmatically below.

The version-independent match the switch uses (:class:`~.match.FlowMatch`)
is keyed by *flow members* in the manner of OVS's ``struct flow``: several
wire fields share one member (``arp_spa`` and ``ip_src`` are both
``nw_src``; ``icmp_type`` is ``tp_src``; OXM ``vlan_vid``/``vlan_pcp`` and
NXM ``vlan_tci`` all land in ``vlan_tci``; ``ip_dscp``/``nw_ecn`` are bits of
``nw_tos``).  :data:`FOLD` says, per wire field, which member and which bit
offset it occupies, so one table drives both directions.
"""

from __future__ import annotations

from dataclasses import dataclass

_FIELD_ROWS = (
    ('dp_hash', (), 4, True, 'none', (('NXM_NX_DP_HASH', 0x0001, 35, None), ('NXOXM_ET_DP_HASH', 0xffff, 0, 0x00002320),)),
    ('recirc_id', (), 4, False, 'none', (('NXM_NX_RECIRC_ID', 0x0001, 36, None),)),
    ('packet_type', (), 4, False, 'none', (('OXM_OF_PACKET_TYPE', 0x8000, 44, None),)),
    ('conj_id', (), 4, False, 'none', (('NXM_NX_CONJ_ID', 0x0001, 37, None),)),
    ('tun_id', ('tunnel_id',), 8, True, 'none', (('NXM_NX_TUN_ID', 0x0001, 16, None), ('OXM_OF_TUNNEL_ID', 0x8000, 38, None),)),
    ('tun_src', (), 4, True, 'none', (('NXM_NX_TUN_IPV4_SRC', 0x0001, 31, None),)),
    ('tun_dst', (), 4, True, 'none', (('NXM_NX_TUN_IPV4_DST', 0x0001, 32, None),)),
    ('tun_ipv6_src', (), 16, True, 'none', (('NXM_NX_TUN_IPV6_SRC', 0x0001, 109, None),)),
    ('tun_ipv6_dst', (), 16, True, 'none', (('NXM_NX_TUN_IPV6_DST', 0x0001, 110, None),)),
    ('tun_flags', (), 2, True, 'none', (('NXM_NX_TUN_FLAGS', 0x0001, 104, None),)),
    ('tun_gbp_id', (), 2, True, 'none', (('NXM_NX_TUN_GBP_ID', 0x0001, 38, None),)),
    ('tun_gbp_flags', (), 1, True, 'none', (('NXM_NX_TUN_GBP_FLAGS', 0x0001, 39, None),)),
    ('tun_erspan_idx', (), 4, True, 'none', (('NXOXM_ET_ERSPAN_IDX', 0xffff, 11, 0x00002320),)),
    ('tun_erspan_ver', (), 1, True, 'none', (('NXOXM_ET_ERSPAN_VER', 0xffff, 12, 0x00002320),)),
    ('tun_erspan_dir', (), 1, True, 'none', (('NXOXM_ET_ERSPAN_DIR', 0xffff, 13, 0x00002320),)),
    ('tun_erspan_hwid', (), 1, True, 'none', (('NXOXM_ET_ERSPAN_HWID', 0xffff, 14, 0x00002320),)),
    ('tun_gtpu_flags', (), 1, True, 'none', (('NXOXM_ET_GTPU_FLAGS', 0xffff, 15, 0x00002320),)),
    ('tun_gtpu_msgtype', (), 1, True, 'none', (('NXOXM_ET_GTPU_MSGTYPE', 0xffff, 16, 0x00002320),)),
    ('metadata', (), 8, True, 'none', (('OXM_OF_METADATA', 0x8000, 2, None),)),
    ('in_port', (), 2, False, 'none', (('NXM_OF_IN_PORT', 0x0000, 0, None),)),
    ('in_port_oxm', (), 4, False, 'none', (('OXM_OF_IN_PORT', 0x8000, 0, None),)),
    ('actset_output', (), 4, False, 'none', (('ONFOXM_ET_ACTSET_OUTPUT', 0xffff, 43, 0x4f4e4600), ('OXM_OF_ACTSET_OUTPUT', 0x8000, 43, None),)),
    ('pkt_mark', (), 4, True, 'none', (('NXM_NX_PKT_MARK', 0x0001, 33, None),)),
    ('ct_state', (), 4, True, 'none', (('NXM_NX_CT_STATE', 0x0001, 105, None),)),
    ('ct_zone', (), 2, False, 'none', (('NXM_NX_CT_ZONE', 0x0001, 106, None),)),
    ('ct_mark', (), 4, True, 'none', (('NXM_NX_CT_MARK', 0x0001, 107, None),)),
    ('ct_label', (), 16, True, 'none', (('NXM_NX_CT_LABEL', 0x0001, 108, None),)),
    ('ct_nw_proto', (), 1, False, 'CT', (('NXM_NX_CT_NW_PROTO', 0x0001, 119, None),)),
    ('ct_nw_src', (), 4, True, 'CT', (('NXM_NX_CT_NW_SRC', 0x0001, 120, None),)),
    ('ct_nw_dst', (), 4, True, 'CT', (('NXM_NX_CT_NW_DST', 0x0001, 121, None),)),
    ('ct_ipv6_src', (), 16, True, 'CT', (('NXM_NX_CT_IPV6_SRC', 0x0001, 122, None),)),
    ('ct_ipv6_dst', (), 16, True, 'CT', (('NXM_NX_CT_IPV6_DST', 0x0001, 123, None),)),
    ('ct_tp_src', (), 2, True, 'CT', (('NXM_NX_CT_TP_SRC', 0x0001, 124, None),)),
    ('ct_tp_dst', (), 2, True, 'CT', (('NXM_NX_CT_TP_DST', 0x0001, 125, None),)),
    ('eth_src', ('dl_src',), 6, True, 'Ethernet', (('NXM_OF_ETH_SRC', 0x0000, 2, None), ('OXM_OF_ETH_SRC', 0x8000, 4, None),)),
    ('eth_dst', ('dl_dst',), 6, True, 'Ethernet', (('NXM_OF_ETH_DST', 0x0000, 1, None), ('OXM_OF_ETH_DST', 0x8000, 3, None),)),
    ('eth_type', ('dl_type',), 2, False, 'Ethernet', (('NXM_OF_ETH_TYPE', 0x0000, 3, None), ('OXM_OF_ETH_TYPE', 0x8000, 5, None),)),
    ('vlan_tci', (), 2, True, 'Ethernet', (('NXM_OF_VLAN_TCI', 0x0000, 4, None),)),
    ('vlan_vid', (), 2, True, 'Ethernet', (('OXM_OF_VLAN_VID', 0x8000, 6, None),)),
    ('vlan_pcp', (), 1, False, 'VLAN VID', (('OXM_OF_VLAN_PCP', 0x8000, 7, None),)),
    ('mpls_label', (), 4, False, 'MPLS', (('OXM_OF_MPLS_LABEL', 0x8000, 34, None),)),
    ('mpls_tc', (), 1, False, 'MPLS', (('OXM_OF_MPLS_TC', 0x8000, 35, None),)),
    ('mpls_bos', (), 1, False, 'MPLS', (('OXM_OF_MPLS_BOS', 0x8000, 36, None),)),
    ('mpls_ttl', (), 1, False, 'MPLS', (('NXM_NX_MPLS_TTL', 0x0001, 30, None),)),
    ('ip_src', ('nw_src',), 4, True, 'IPv4', (('NXM_OF_IP_SRC', 0x0000, 7, None), ('OXM_OF_IPV4_SRC', 0x8000, 11, None),)),
    ('ip_dst', ('nw_dst',), 4, True, 'IPv4', (('NXM_OF_IP_DST', 0x0000, 8, None), ('OXM_OF_IPV4_DST', 0x8000, 12, None),)),
    ('ipv6_src', (), 16, True, 'IPv6', (('NXM_NX_IPV6_SRC', 0x0001, 19, None), ('OXM_OF_IPV6_SRC', 0x8000, 26, None),)),
    ('ipv6_dst', (), 16, True, 'IPv6', (('NXM_NX_IPV6_DST', 0x0001, 20, None), ('OXM_OF_IPV6_DST', 0x8000, 27, None),)),
    ('ipv6_label', (), 4, True, 'IPv6', (('NXM_NX_IPV6_LABEL', 0x0001, 27, None), ('OXM_OF_IPV6_FLABEL', 0x8000, 28, None),)),
    ('nw_proto', ('ip_proto',), 1, False, 'IPv4/IPv6', (('NXM_OF_IP_PROTO', 0x0000, 6, None), ('OXM_OF_IP_PROTO', 0x8000, 10, None),)),
    ('nw_tos', (), 1, False, 'IPv4/IPv6', (('NXM_OF_IP_TOS', 0x0000, 5, None),)),
    ('ip_dscp', (), 1, False, 'IPv4/IPv6', (('OXM_OF_IP_DSCP', 0x8000, 8, None),)),
    ('nw_ecn', ('ip_ecn',), 1, False, 'IPv4/IPv6', (('NXM_NX_IP_ECN', 0x0001, 28, None), ('OXM_OF_IP_ECN', 0x8000, 9, None),)),
    ('nw_ttl', (), 1, False, 'IPv4/IPv6', (('NXM_NX_IP_TTL', 0x0001, 29, None),)),
    ('ip_frag', ('nw_frag',), 1, True, 'IPv4/IPv6', (('NXM_NX_IP_FRAG', 0x0001, 26, None),)),
    ('arp_op', (), 2, False, 'ARP', (('NXM_OF_ARP_OP', 0x0000, 15, None), ('OXM_OF_ARP_OP', 0x8000, 21, None),)),
    ('arp_spa', (), 4, True, 'ARP', (('NXM_OF_ARP_SPA', 0x0000, 16, None), ('OXM_OF_ARP_SPA', 0x8000, 22, None),)),
    ('arp_tpa', (), 4, True, 'ARP', (('NXM_OF_ARP_TPA', 0x0000, 17, None), ('OXM_OF_ARP_TPA', 0x8000, 23, None),)),
    ('arp_sha', (), 6, True, 'ARP', (('NXM_NX_ARP_SHA', 0x0001, 17, None), ('OXM_OF_ARP_SHA', 0x8000, 24, None),)),
    ('arp_tha', (), 6, True, 'ARP', (('NXM_NX_ARP_THA', 0x0001, 18, None), ('OXM_OF_ARP_THA', 0x8000, 25, None),)),
    ('tcp_src', ('tp_src',), 2, True, 'TCP', (('NXM_OF_TCP_SRC', 0x0000, 9, None), ('OXM_OF_TCP_SRC', 0x8000, 13, None),)),
    ('tcp_dst', ('tp_dst',), 2, True, 'TCP', (('NXM_OF_TCP_DST', 0x0000, 10, None), ('OXM_OF_TCP_DST', 0x8000, 14, None),)),
    ('tcp_flags', (), 2, True, 'TCP', (('NXM_NX_TCP_FLAGS', 0x0001, 34, None), ('ONFOXM_ET_TCP_FLAGS', 0xffff, 42, 0x4f4e4600), ('OXM_OF_TCP_FLAGS', 0x8000, 42, None),)),
    ('udp_src', (), 2, True, 'UDP', (('NXM_OF_UDP_SRC', 0x0000, 11, None), ('OXM_OF_UDP_SRC', 0x8000, 15, None),)),
    ('udp_dst', (), 2, True, 'UDP', (('NXM_OF_UDP_DST', 0x0000, 12, None), ('OXM_OF_UDP_DST', 0x8000, 16, None),)),
    ('sctp_src', (), 2, True, 'SCTP', (('OXM_OF_SCTP_SRC', 0x8000, 17, None),)),
    ('sctp_dst', (), 2, True, 'SCTP', (('OXM_OF_SCTP_DST', 0x8000, 18, None),)),
    ('icmp_type', (), 1, False, 'ICMPv4', (('NXM_OF_ICMP_TYPE', 0x0000, 13, None), ('OXM_OF_ICMPV4_TYPE', 0x8000, 19, None),)),
    ('icmp_code', (), 1, False, 'ICMPv4', (('NXM_OF_ICMP_CODE', 0x0000, 14, None), ('OXM_OF_ICMPV4_CODE', 0x8000, 20, None),)),
    ('icmpv6_type', (), 1, False, 'ICMPv6', (('NXM_NX_ICMPV6_TYPE', 0x0001, 21, None), ('OXM_OF_ICMPV6_TYPE', 0x8000, 29, None),)),
    ('icmpv6_code', (), 1, False, 'ICMPv6', (('NXM_NX_ICMPV6_CODE', 0x0001, 22, None), ('OXM_OF_ICMPV6_CODE', 0x8000, 30, None),)),
    ('nd_target', (), 16, True, 'ND', (('NXM_NX_ND_TARGET', 0x0001, 23, None), ('OXM_OF_IPV6_ND_TARGET', 0x8000, 31, None),)),
    ('nd_sll', (), 6, True, 'ND solicit', (('NXM_NX_ND_SLL', 0x0001, 24, None), ('OXM_OF_IPV6_ND_SLL', 0x8000, 32, None),)),
    ('nd_tll', (), 6, True, 'ND advert', (('NXM_NX_ND_TLL', 0x0001, 25, None), ('OXM_OF_IPV6_ND_TLL', 0x8000, 33, None),)),
    ('nd_reserved', (), 4, False, 'ND', (('ERICOXM_OF_ICMPV6_ND_RESERVED', 0x1000, 1, None),)),
    ('nd_options_type', (), 1, False, 'ND', (('ERICOXM_OF_ICMPV6_ND_OPTIONS_TYPE', 0x1000, 2, None),)),
    ('nsh_flags', (), 1, True, 'NSH', (('NXOXM_NSH_FLAGS', 0xffff, 1, 0x005ad650),)),
    ('nsh_mdtype', (), 1, False, 'NSH', (('NXOXM_NSH_MDTYPE', 0xffff, 2, 0x005ad650),)),
    ('nsh_np', (), 1, False, 'NSH', (('NXOXM_NSH_NP', 0xffff, 3, 0x005ad650),)),
    ('nsh_spi', ('nsp',), 4, False, 'NSH', (('NXOXM_NSH_SPI', 0xffff, 4, 0x005ad650),)),
    ('nsh_si', ('nsi',), 1, False, 'NSH', (('NXOXM_NSH_SI', 0xffff, 5, 0x005ad650),)),
    ('nsh_ttl', (), 1, False, 'NSH', (('NXOXM_NSH_TTL', 0xffff, 10, 0x005ad650),)),
)


@dataclass(frozen=True)
class Field:
    """One wire field as carried by one NXM/OXM header."""
    name: str          # OVS meta-flow name (eth_src, ip_src, reg3...)
    wire_name: str     # NXM_OF_ETH_SRC, OXM_OF_ETH_SRC, ...
    oxm_class: int
    code: int
    experimenter: int | None
    nbytes: int
    maskable: bool
    prereq: str

    @property
    def is_nxm(self) -> bool:
        return self.oxm_class in (0x0000, 0x0001) or self.wire_name.startswith("NX")

    def header(self, hasmask: bool = False) -> int:
        n = self.nbytes * (2 if hasmask else 1) + (4 if self.experimenter else 0)
        return (self.oxm_class << 16) | (self.code << 9) | (int(hasmask) << 8) | n


FIELDS_BY_KEY: dict[tuple, Field] = {}     # (class, code, experimenter) -> Field
FIELDS_BY_WIRE_NAME: dict[str, Field] = {}
FIELDS_BY_NAME: dict[str, list[Field]] = {}
ALIASES: dict[str, str] = {}


def _add(name, aliases, nbytes, maskable, prereq, codes):
    for wire_name, cls, code, exp in codes:
        f = Field(name, wire_name, cls, code, exp, nbytes, maskable, prereq)
        FIELDS_BY_KEY[(cls, code, exp)] = f
        FIELDS_BY_WIRE_NAME[wire_name] = f
        FIELDS_BY_NAME.setdefault(name, []).append(f)
    for a in aliases:
        ALIASES[a] = name


for _row in _FIELD_ROWS:
    _add(*_row)
for _i in range(16):
    _add(f"reg{_i}", (), 4, True, "none", ((f"NXM_NX_REG{_i}", 0x0001, _i, None),))
for _i in range(8):
    _add(f"xreg{_i}", (), 8, True, "none", ((f"OXM_OF_PKT_REG{_i}", 0x8001, _i, None),))
for _i in range(4):
    _add(f"xxreg{_i}", (), 16, True, "none", ((f"NXM_NX_XXREG{_i}", 0x0001, 111 + _i, None),))


# NXM_NX_COOKIE shares (class 1, code 30) with NXM_NX_MPLS_TTL and is told
# apart by its length; it only appears in NX flow-mod/stats matches.
ALT_FIELDS: dict[tuple, Field] = {
    (0x0001, 30, None, 8): Field("cookie", "NXM_NX_COOKIE", 0x0001, 30, None, 8, True, "none"),
}


def field_for(name: str, oxm: bool) -> Field:
    """The header OVS would emit for meta-flow field ``name``: OXM code
    points first when ``oxm`` (OF1.2+), NXM otherwise."""
    name = ALIASES.get(name, name)
    cands = FIELDS_BY_NAME[name]
    def rank(f):
        if oxm:
            return (0 if f.oxm_class == 0x8000 else 1 if f.oxm_class == 0x8001 else
                    3 if f.experimenter == 0x4F4E4600 else 2)
        return 0 if f.oxm_class in (0, 1) else 1
    return min(cands, key=rank)


# ---------------------------------------------------------------------------
# Folding wire fields into flow members.
# member -> width in bits.
MEMBERS: dict[str, int] = dict(
    in_port=16, dl_src=48, dl_dst=48, dl_type=16, vlan_tci=16,
    nw_src=32, nw_dst=32, nw_proto=8, nw_tos=8, nw_ttl=8, nw_frag=8,
    tp_src=16, tp_dst=16, arp_sha=48, arp_tha=48, ipv6_src=128, ipv6_dst=128,
    ipv6_label=32, nd_target=128, tcp_flags=16, metadata=64, tun_id=64,
    tun_src=32, tun_dst=32, tun_ipv6_src=128, tun_ipv6_dst=128, tun_flags=16,
    tun_gbp_id=16, tun_gbp_flags=8, pkt_mark=32, ct_state=32, ct_zone=16,
    ct_mark=32, ct_label=128, ct_nw_proto=8, ct_nw_src=32, ct_nw_dst=32,
    ct_ipv6_src=128, ct_ipv6_dst=128, ct_tp_src=16, ct_tp_dst=16,
    mpls_label=32, mpls_tc=8, mpls_bos=8, mpls_ttl=8, conj_id=32,
    recirc_id=32, dp_hash=32, actset_output=32, packet_type=32,
    nd_reserved=32, nd_options_type=8, cookie=64,
    **{f"reg{i}": 32 for i in range(16)},
)

# wire field -> (member, left shift applied to value and mask).
FOLD: dict[str, tuple[str, int]] = dict(
    in_port=("in_port", 0), eth_src=("dl_src", 0), eth_dst=("dl_dst", 0),
    eth_type=("dl_type", 0), vlan_tci=("vlan_tci", 0),
    ip_src=("nw_src", 0), ip_dst=("nw_dst", 0), arp_spa=("nw_src", 0),
    arp_tpa=("nw_dst", 0), nw_proto=("nw_proto", 0), arp_op=("nw_proto", 0),
    nw_tos=("nw_tos", 0), ip_dscp=("nw_tos", 2), nw_ecn=("nw_tos", 0),
    nw_ttl=("nw_ttl", 0), ip_frag=("nw_frag", 0),
    tcp_src=("tp_src", 0), tcp_dst=("tp_dst", 0), udp_src=("tp_src", 0),
    udp_dst=("tp_dst", 0), sctp_src=("tp_src", 0), sctp_dst=("tp_dst", 0),
    icmp_type=("tp_src", 0), icmp_code=("tp_dst", 0),
    icmpv6_type=("tp_src", 0), icmpv6_code=("tp_dst", 0),
    arp_sha=("arp_sha", 0), arp_tha=("arp_tha", 0), nd_sll=("arp_sha", 0),
    nd_tll=("arp_tha", 0), tun_id=("tun_id", 0),
)
# Implicit masks of narrow fields inside their member (no-mask TLVs).
FOLD_MASK = dict(nw_tos=0xFC, ip_dscp=0xFC, nw_ecn=0x03)
for _m in MEMBERS:
    FOLD.setdefault(_m, (_m, 0))


def field_width(f: Field) -> int:
    return f.nbytes * 8
