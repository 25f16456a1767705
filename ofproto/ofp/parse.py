"""A parser of ovs-ofctl's flow syntax: matches, actions, whole flows.

Theory of operation
-------------------
``ovs-ofctl add-flow`` text is a list of ``key=value`` (or bare keyword)
items separated by commas or spaces, where ``actions=`` swallows the rest of
the line.  :func:`split_items` cuts at top-level separators only (commas
inside ``learn(...)``, ``ct(...)`` stay).  Every match key is a row of
:data:`MATCH_KEYS` (``name -> (member, value kind, default mask)``): the
value kind's parser turns text into ``(value, mask)`` bits of a
:class:`~.match.FlowMatch` member, so one table covers all fields; the
protocol shorthands (``ip``, ``tcp6``, ``arp``...) are :data:`SHORTHANDS`.
As Open vSwitch does, L4 fields whose prerequisites are missing are dropped.

Actions are parsed by a table ``name -> handler(arg, version)``
(:data:`ACTIONS`); handlers return wire action dataclasses of
:mod:`.actions` for the requested version (OF1.0 vs OF1.1+ codes,
``set_field`` vs legacy actions, Nicira actions where OpenFlow has none),
or instructions (``goto_table``, ``write_metadata``, ``meter``,
``write_actions``, ``clear_actions``).  :func:`parse_actions` returns
``(actions, instructions)``: for OF1.0 the instructions are folded into NX
actions (``goto_table:N`` is ``resubmit(,N)``) and ``instructions`` is
empty; for OF1.1+ ``actions`` is empty and the apply-actions list is the
first instruction.

Errors are :class:`FlowSyntaxError` (a ``ValueError``) whose text follows
ovs-ofctl's (``unknown action frobnicate``).

Public: :func:`parse_match`, :func:`parse_actions`, :func:`parse_flow` ->
:class:`ParsedFlow` (``.to_flow_mod()``), :func:`parse_packet_flow`.
"""

from __future__ import annotations

import ipaddress
import re

from .fields import MEMBERS
from .header import frozen
from .match import FlowMatch, Match10, OxmMatch, port_to_ofp11


class FlowSyntaxError(ValueError):
    """Bad flow text; ``str(err)`` is ovs-ofctl's message."""


PORTS = {"in_port": 0xFFF8, "table": 0xFFF9, "normal": 0xFFFA, "flood": 0xFFFB,
         "all": 0xFFFC, "controller": 0xFFFD, "local": 0xFFFE, "any": 0xFFFF,
         "none": 0xFFFF}


def split_items(text: str) -> list[str]:
    """Top-level items of ``text`` (separators: ``,`` and whitespace)."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if depth == 0 and (ch == "," or ch.isspace()):
            if cur:
                out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise FlowSyntaxError(f"{text}: unbalanced parentheses")
    if cur:
        out.append("".join(cur))
    return out


def parse_int(s: str) -> int:
    try:
        return int(s, 0) if s[:2].lower() == "0x" else int(s, 10)
    except ValueError:
        raise FlowSyntaxError(f"{s}: invalid numeric format") from None


def parse_port(s: str) -> int:
    p = PORTS.get(s.lower())
    if p is not None:
        return p
    return parse_int(s)


# ---------------------------------------------------------------- value kinds
def _int(s, full):
    v, _, m = s.partition("/")
    return parse_int(v), (parse_int(m) if m else full)


def _mac(s, full):
    v, _, m = s.partition("/")
    return _mac1(v), (_mac1(m) if m else full)


def _mac1(s):
    parts = s.split(":")
    if len(parts) != 6:
        raise FlowSyntaxError(f"{s}: invalid Ethernet address")
    return int("".join(p.zfill(2) for p in parts), 16)


def _ip4(s, full):
    v, _, m = s.partition("/")
    try:
        val = int(ipaddress.IPv4Address(v))
        if not m:
            return val, full
        if "." in m:
            return val, int(ipaddress.IPv4Address(m))
        n = int(m)
        return val, (full << (32 - n)) & full
    except ValueError:
        raise FlowSyntaxError(f"{s}: invalid IP address") from None


def _ip6(s, full):
    v, _, m = s.partition("/")
    try:
        val = int(ipaddress.IPv6Address(v))
        if not m:
            return val, full
        if ":" in m:
            return val, int(ipaddress.IPv6Address(m))
        return val, (full << (128 - int(m))) & full
    except ValueError:
        raise FlowSyntaxError(f"{s}: invalid IPv6 address") from None


def _port(s, full):
    return parse_port(s), full


_CT_FLAGS = {"new": 1, "est": 2, "rel": 4, "rpl": 8, "inv": 16, "trk": 32, "snat": 64,
             "dnat": 128}
_FRAG = {"no": (0, 3), "yes": (1, 1), "first": (1, 3), "later": (3, 3), "not_later": (1, 2)}


_TCP_FLAGS = {"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ece": 64,
              "cwr": 128, "ns": 256}


def _flags(table, what, exact_mask):
    def parse(s, full):
        if s[:1] not in "+-":
            if s[:1].isdigit():
                v, m = _int(s, exact_mask)
                return v, m
            v = 0
            for name in s.split("|"):
                if name not in table:
                    raise FlowSyntaxError(f"{name}: unknown {what} flag")
                v |= table[name]
            return v, exact_mask
        v = m = 0
        for sign, name in re.findall(r"([+-])([a-z_]+)", s):
            bit = table.get(name)
            if bit is None:
                raise FlowSyntaxError(f"{name}: unknown {what} flag")
            m |= bit
            v |= bit if sign == "+" else 0
        return v, m
    return parse


_ct_state = _flags(_CT_FLAGS, "connection tracking state", 0xFFFFFFFF)
_tcp_flags = _flags(_TCP_FLAGS, "TCP", 0xFFF)


def _frag(s, full):
    if s not in _FRAG:
        raise FlowSyntaxError(f"{s}: unknown fragment type")
    return _FRAG[s]


_KINDS = {"int": _int, "mac": _mac, "ip4": _ip4, "ip6": _ip6, "port": _port,
          "ct_state": _ct_state, "frag": _frag,
          "tcp_flags": _tcp_flags}

# text key -> (member, kind); special cases (vlan, tos) are handled in _SPECIAL.
MATCH_KEYS = {
    "in_port": ("in_port", "port"), "dl_src": ("dl_src", "mac"), "dl_dst": ("dl_dst", "mac"),
    "eth_src": ("dl_src", "mac"), "eth_dst": ("dl_dst", "mac"),
    "dl_type": ("dl_type", "int"), "eth_type": ("dl_type", "int"),
    "vlan_tci": ("vlan_tci", "int"),
    "nw_src": ("nw_src", "ip4"), "nw_dst": ("nw_dst", "ip4"), "ip_src": ("nw_src", "ip4"),
    "ip_dst": ("nw_dst", "ip4"), "arp_spa": ("nw_src", "ip4"), "arp_tpa": ("nw_dst", "ip4"),
    "nw_proto": ("nw_proto", "int"), "ip_proto": ("nw_proto", "int"),
    "arp_op": ("nw_proto", "int"), "nw_ttl": ("nw_ttl", "int"),
    "nw_frag": ("nw_frag", "frag"), "ip_frag": ("nw_frag", "frag"),
    "tp_src": ("tp_src", "int"), "tp_dst": ("tp_dst", "int"),
    "tcp_src": ("tp_src", "int"), "tcp_dst": ("tp_dst", "int"),
    "udp_src": ("tp_src", "int"), "udp_dst": ("tp_dst", "int"),
    "sctp_src": ("tp_src", "int"), "sctp_dst": ("tp_dst", "int"),
    "icmp_type": ("tp_src", "int"), "icmp_code": ("tp_dst", "int"),
    "icmpv6_type": ("tp_src", "int"), "icmpv6_code": ("tp_dst", "int"),
    "arp_sha": ("arp_sha", "mac"), "arp_tha": ("arp_tha", "mac"),
    "nd_sll": ("arp_sha", "mac"), "nd_tll": ("arp_tha", "mac"),
    "ipv6_src": ("ipv6_src", "ip6"), "ipv6_dst": ("ipv6_dst", "ip6"),
    "nd_target": ("nd_target", "ip6"), "ipv6_label": ("ipv6_label", "int"),
    "tcp_flags": ("tcp_flags", "tcp_flags"), "metadata": ("metadata", "int"),
    "tun_id": ("tun_id", "int"), "tunnel_id": ("tun_id", "int"),
    "tun_src": ("tun_src", "ip4"), "tun_dst": ("tun_dst", "ip4"),
    "pkt_mark": ("pkt_mark", "int"), "ct_state": ("ct_state", "ct_state"),
    "ct_zone": ("ct_zone", "int"), "ct_mark": ("ct_mark", "int"),
    "ct_label": ("ct_label", "int"), "conj_id": ("conj_id", "int"),
    "recirc_id": ("recirc_id", "int"), "dp_hash": ("dp_hash", "int"),
    "mpls_label": ("mpls_label", "int"), "mpls_tc": ("mpls_tc", "int"),
    "mpls_bos": ("mpls_bos", "int"), "mpls_ttl": ("mpls_ttl", "int"),
    "ct_nw_src": ("ct_nw_src", "ip4"), "ct_nw_dst": ("ct_nw_dst", "ip4"),
    "ct_nw_proto": ("ct_nw_proto", "int"), "ct_tp_src": ("ct_tp_src", "int"),
    "ct_tp_dst": ("ct_tp_dst", "int"),
    **{f"reg{i}": (f"reg{i}", "int") for i in range(16)},
}
SHORTHANDS = {"ip": (0x0800, None), "ipv6": (0x86DD, None), "arp": (0x0806, None),
              "rarp": (0x8035, None), "mpls": (0x8847, None), "mplsm": (0x8848, None),
              "icmp": (0x0800, 1), "tcp": (0x0800, 6), "udp": (0x0800, 17),
              "sctp": (0x0800, 132), "icmp6": (0x86DD, 58), "tcp6": (0x86DD, 6),
              "udp6": (0x86DD, 17), "sctp6": (0x86DD, 132)}


def _vlan(key, s, acc):
    v0, m0 = acc.get("vlan_tci", (0, 0))
    n = parse_int(s)
    if key == "dl_vlan":
        if n == 0xFFFF:                        # OFP_VLAN_NONE: no 802.1Q header
            acc["vlan_tci"] = (0, 0xFFFF)
            return
        acc["vlan_tci"] = ((v0 & ~0x1FFF) | 0x1000 | (n & 0xFFF), m0 | 0x1FFF)
    else:
        acc["vlan_tci"] = ((v0 & ~0xF000) | 0x1000 | ((n & 7) << 13), m0 | 0xF000)


def _tos(key, s, acc):
    v0, m0 = acc.get("nw_tos", (0, 0))
    n = parse_int(s)
    bits = {"nw_tos": (n & 0xFC, 0xFC), "ip_dscp": ((n << 2) & 0xFC, 0xFC),
            "nw_ecn": (n & 3, 3), "ip_ecn": (n & 3, 3)}[key]
    acc["nw_tos"] = ((v0 & ~bits[1]) | bits[0], m0 | bits[1])


_SPECIAL = {"dl_vlan": _vlan, "dl_vlan_pcp": _vlan, "vlan_pcp": _vlan, "nw_tos": _tos,
            "ip_dscp": _tos, "nw_ecn": _tos, "ip_ecn": _tos}
_L4_NEEDS = {"tp_src", "tp_dst"}


def _match_item(key, val, acc) -> bool:
    """Fold one item into ``acc``; False if ``key`` is not a match key."""
    if val is None and key in SHORTHANDS:
        dl, proto = SHORTHANDS[key]
        acc["dl_type"] = (dl, 0xFFFF)
        if proto is not None:
            acc["nw_proto"] = (proto, 0xFF)
        return True
    if key in _SPECIAL:
        _SPECIAL[key](key, val, acc)
        return True
    row = MATCH_KEYS.get(key)
    if row is None:
        return False
    if val is None:
        raise FlowSyntaxError(f"field {key} missing value")
    member, kind = row
    full = (1 << MEMBERS[member]) - 1
    v, m = _KINDS[kind](val, full)
    if v > full:
        raise FlowSyntaxError(f"{val}: value too large for field {key}")
    acc[member] = (v & m & full, m & full)
    return True


def _finish_match(acc) -> FlowMatch:
    """Drop fields whose prerequisites are absent, as OVS does."""
    dl = acc.get("dl_type", (None, 0))[0]
    proto = acc.get("nw_proto", (None, 0))[0]
    ipish = dl in (0x0800, 0x86DD)
    if not (ipish and proto in (1, 6, 17, 58, 132)):
        for k in ("tp_src", "tp_dst"):
            acc.pop(k, None)
    if not ipish:
        for k in ("nw_tos", "nw_ttl", "nw_frag"):
            acc.pop(k, None)
        if dl not in (0x0806, 0x8035):
            for k in ("nw_src", "nw_dst", "nw_proto", "arp_sha", "arp_tha"):
                acc.pop(k, None)
    if dl != 0x86DD:
        for k in ("ipv6_src", "ipv6_dst", "ipv6_label", "nd_target"):
            acc.pop(k, None)
    if dl != 0x0800 or proto != 6:
        if not (dl == 0x86DD and proto == 6):
            acc.pop("tcp_flags", None)
    return FlowMatch(acc)


def _kv(item: str):
    k, sep, v = item.partition("=")
    if not sep:
        k, sep, v = item.partition(":")
    return k.strip().lower(), (v.strip() if sep else None)


def parse_match(text: str) -> FlowMatch:
    """``in_port=1,tcp,nw_dst=10.0.0.0/24,tp_dst=80`` -> FlowMatch."""
    acc = {}
    for item in split_items(text):
        k, v = _kv(item)
        if not _match_item(k, v, acc):
            raise FlowSyntaxError(f"unknown keyword {k}")
    return _finish_match(acc)


# ---------------------------------------------------------------- flows
_FLAGS = {"send_flow_rem": 1, "check_overlap": 2, "reset_counts": 4, "no_packet_counts": 8,
          "no_byte_counts": 16}
_IGNORED = {"duration", "n_packets", "n_bytes", "idle_age", "hard_age"}


@frozen
class ParsedFlow:
    """An ``add-flow``/``del-flows`` line.  ``actions`` (OF1.0) or
    ``instructions`` (OF1.1+) are wire objects for ``version``."""
    match: FlowMatch = FlowMatch()
    priority: int = 0x8000
    table_id: int = 0
    cookie: int = 0
    cookie_mask: int = 0
    idle_timeout: int = 0
    hard_timeout: int = 0
    importance: int = 0
    flags: int = 0
    out_port: int | None = None
    out_group: int | None = None
    actions: tuple = ()
    instructions: tuple = ()
    version: int = 1
    has_actions: bool = False

    def to_flow_mod(self, command: int = 0, xid: int = 0):
        """A FlowMod (NxFlowMod for OF1.0 matches ``ofp10_match`` cannot hold)."""
        from .messages import FlowMod
        from .nicira import NxFlowMod
        v = self.version
        kw = dict(version=v, xid=xid, cookie=self.cookie, table_id=self.table_id,
                  command=command, idle_timeout=self.idle_timeout,
                  hard_timeout=self.hard_timeout, priority=self.priority, flags=self.flags)
        if v == 1:
            op = 0xFFFF if self.out_port is None else self.out_port
            try:
                m10 = Match10.from_flow(self.match)
            except Exception:
                return NxFlowMod(match=OxmMatch.from_flow(self.match, oxm=False),
                                 actions=self.actions, out_port=op, **kw)
            return FlowMod(match=m10, actions=self.actions, out_port=op, **kw)
        op = 0xFFFFFFFF if self.out_port is None else port_to_ofp11(self.out_port)
        return FlowMod(match=OxmMatch.from_flow(self.match, version=v),
                       instructions=self.instructions, cookie_mask=self.cookie_mask,
                       out_port=op, importance=self.importance,
                       out_group=0xFFFFFFFF if self.out_group is None else self.out_group, **kw)


def parse_flow(text: str, version: int = 1, adding: bool = True) -> ParsedFlow:
    """Parse an ovs-ofctl flow (``add-flow`` style when ``adding``)."""
    head, sep, acts = text.partition("actions=")
    if adding and not sep:
        raise FlowSyntaxError("must specify an action")
    acc, kw = {}, {}
    for item in split_items(head):
        k, v = _kv(item)
        if k in _FLAGS and v is None:
            kw["flags"] = kw.get("flags", 0) | _FLAGS[k]
        elif k in ("priority", "idle_timeout", "hard_timeout", "importance"):
            kw[k] = parse_int(v)
        elif k == "table":
            kw["table_id"] = 0xFF if v == "all" else parse_int(v)
        elif k == "cookie":
            c, _, m = v.partition("/")
            kw["cookie"] = parse_int(c)
            if m:
                if adding:
                    raise FlowSyntaxError("flow additions cannot use a cookie mask")
                kw["cookie_mask"] = parse_int(m)
        elif k == "out_port":
            kw["out_port"] = parse_port(v)
        elif k == "out_group":
            kw["out_group"] = parse_int(v)
        elif k in _IGNORED:
            pass
        elif not _match_item(k, v, acc):
            raise FlowSyntaxError(f"unknown keyword {k}")
    match = _finish_match(acc)
    a, i = parse_actions(acts, version, match) if sep else ((), ())
    return ParsedFlow(match=match, actions=a, instructions=i, version=version,
                      has_actions=bool(sep), **kw)


def parse_packet_flow(text: str) -> FlowMatch:
    """An ``ofproto/trace`` flow (``in_port=1,tcp,nw_src=...``): every field
    exact; masks are refused."""
    acc = {}
    for item in split_items(text):
        k, v = _kv(item)
        if v is not None and "/" in v:
            raise FlowSyntaxError(f"{item}: masks are not allowed in a packet flow")
        if not _match_item(k, v, acc):
            raise FlowSyntaxError(f"unknown keyword {k}")
    return FlowMatch(acc)


from .parse_actions import parse_actions  # noqa: E402  (actions table, uses the helpers above)
