"""Matches: OF1.0 ``ofp10_match``, NXM/OXM TLV lists, and FlowMatch.

Theory of operation
-------------------
Two wire forms exist:

* :class:`Match10` - the fixed 40-byte OF1.0 ``ofp_match`` with its
  wildcard bits, kept field by field so it re-encodes byte for byte.
* :class:`OxmMatch` - an ordered tuple of :class:`Tlv` (NXM and OXM share
  the TLV format; only the framing differs: NXM is bare TLVs counted by a
  ``match_len`` in the enclosing message, OXM is wrapped in ``ofp_match``
  with type OFPMT_OXM, its own length and padding to 8).

Both convert to and from :class:`FlowMatch`, the version-independent form
the switch works with: an immutable mapping ``member -> (value, mask)``
keyed like OVS's ``struct flow`` (see :mod:`.fields`).  Unknown TLVs
decode as :class:`Tlv` with ``field=None`` and raw bytes; they never crash
and are preserved on re-encode, but ``to_flow()`` rejects them the way OVS
does (OFPBMC_BAD_FIELD).

Validation at decode time mirrors OVS's strict NXM/OXM pull: length
mismatches are OFPBMC_BAD_LEN, a mask on a non-maskable field
OFPBMC_BAD_MASK, a repeated field OFPBMC_DUP_FIELD, a missing prerequisite
OFPBMC_BAD_PREREQ.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import OFPError
from .fields import (ALT_FIELDS, FIELDS_BY_KEY, FOLD, FOLD_MASK, MEMBERS, Field,
                     field_for)
from .layout import layout, pad, raw, u8, u16, u32

# ---------------------------------------------------------------------------
# FlowMatch


# Masks are few and shared by many rules: one int object per distinct mask (memory).
_MASKS: dict = {}
# Likewise the (value, mask) pairs of small values (dl_type, nw_proto, ports...):
# one tuple per distinct pair, up to _MAX_PAIRS of them.
_PAIRS: dict = {}
_MAX_PAIRS = 1 << 16


def _no_intern(m, _):
    return m


class FlowMatch(Mapping):
    """Immutable ``member -> (value, mask)``; mask all-ones means exact.

    Members with an all-zero mask are dropped: they match everything.
    """

    __slots__ = ("_d", "_h")

    def __init__(self, items=()):
        d = {}
        intern = _MASKS.setdefault if len(_MASKS) < 65536 else _no_intern
        pairs = _PAIRS.setdefault if len(_PAIRS) < _MAX_PAIRS else _no_intern
        for k, (v, m) in (items.items() if isinstance(items, Mapping) else items):
            if m:
                v &= m
                d[k] = pairs((v, m), (v, intern(m, m))) if v < 0x10000 else (v, intern(m, m))
        self._d = d
        self._h = None

    @classmethod
    def _trusted(cls, d: dict) -> "FlowMatch":
        """Wrap ``d`` as is: every mask non-zero, every value already masked."""
        fm = object.__new__(cls)
        fm._d = d
        fm._h = None
        return fm

    def __getitem__(self, k):
        return self._d[k]

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    # The Mapping mixins go through __getitem__ one key at a time; these are
    # on every flow-table path, so they go straight to the dict.
    def __contains__(self, k):
        return k in self._d

    def get(self, k, default=None):
        return self._d.get(k, default)

    def items(self):
        return self._d.items()

    def keys(self):
        return self._d.keys()

    def values(self):
        return self._d.values()

    def __hash__(self):
        if self._h is None:
            self._h = hash(frozenset(self._d.items()))
        return self._h

    def __eq__(self, other):
        if isinstance(other, FlowMatch):
            return self._d == other._d
        return NotImplemented

    def __repr__(self):
        return f"FlowMatch({self._d!r})"

    def value(self, k, default=None):
        """Exact value of ``k`` or ``default`` if absent or only masked."""
        vm = self._d.get(k)
        if vm is None or vm[1] != (1 << MEMBERS.get(k, 64)) - 1:
            return default
        return vm[0]

    @staticmethod
    def exact(**kw) -> "FlowMatch":
        return FlowMatch({k: (v, (1 << MEMBERS[k]) - 1) for k, v in kw.items()})


def _full(member):
    return (1 << MEMBERS[member]) - 1


def _add_bits(acc, member, value, mask):
    v0, m0 = acc.get(member, (0, 0))
    acc[member] = ((v0 & ~mask) | (value & mask), m0 | mask)


# ---------------------------------------------------------------------------
# OF1.0 ofp_match

ofp10_match = layout(
    "ofp10_match", "wildcards"/u32, "in_port"/u16, "dl_src"/raw(6),
    "dl_dst"/raw(6), "dl_vlan"/u16, "dl_vlan_pcp"/u8, pad(1), "dl_type"/u16,
    "nw_tos"/u8, "nw_proto"/u8, pad(2), "nw_src"/u32, "nw_dst"/u32,
    "tp_src"/u16, "tp_dst"/u16)

OFPFW10_IN_PORT, OFPFW10_DL_VLAN, OFPFW10_DL_SRC, OFPFW10_DL_DST = 1, 2, 4, 8
OFPFW10_DL_TYPE, OFPFW10_NW_PROTO, OFPFW10_TP_SRC, OFPFW10_TP_DST = 16, 32, 64, 128
OFPFW10_NW_SRC_SHIFT, OFPFW10_NW_DST_SHIFT = 8, 14
OFPFW10_DL_VLAN_PCP, OFPFW10_NW_TOS = 1 << 20, 1 << 21
OFPFW10_ALL = (1 << 22) - 1
OFP10_VLAN_NONE = 0xFFFF
VLAN_CFI = 0x1000

# Simple exact fields: (wildcard bit, wire attribute, member).
_OF10_SIMPLE = ((OFPFW10_IN_PORT, "in_port", "in_port"),
                (OFPFW10_DL_TYPE, "dl_type", "dl_type"),
                (OFPFW10_NW_PROTO, "nw_proto", "nw_proto"),
                (OFPFW10_TP_SRC, "tp_src", "tp_src"),
                (OFPFW10_TP_DST, "tp_dst", "tp_dst"))


@dataclass(frozen=True, slots=True)
class Match10:
    """OF1.0 ``ofp_match``; field values as on the wire (MACs as bytes)."""
    wildcards: int = OFPFW10_ALL
    in_port: int = 0
    dl_src: bytes = bytes(6)
    dl_dst: bytes = bytes(6)
    dl_vlan: int = 0
    dl_vlan_pcp: int = 0
    dl_type: int = 0
    nw_tos: int = 0
    nw_proto: int = 0
    nw_src: int = 0
    nw_dst: int = 0
    tp_src: int = 0
    tp_dst: int = 0

    SIZE = 40

    @classmethod
    def unpack(cls, buf, off):
        return cls(*ofp10_match.unpack(buf, off))

    def pack(self) -> bytes:
        return ofp10_match.pack(
            self.wildcards, self.in_port, self.dl_src, self.dl_dst,
            self.dl_vlan, self.dl_vlan_pcp, self.dl_type, self.nw_tos,
            self.nw_proto, self.nw_src, self.nw_dst, self.tp_src, self.tp_dst)

    def to_flow(self) -> FlowMatch:
        w = self.wildcards
        acc = {}
        for bit, attr, member in _OF10_SIMPLE:
            if not w & bit:
                acc[member] = (getattr(self, attr), _full(member))
        if not w & OFPFW10_DL_SRC:
            acc["dl_src"] = (int.from_bytes(self.dl_src, "big"), _full("dl_src"))
        if not w & OFPFW10_DL_DST:
            acc["dl_dst"] = (int.from_bytes(self.dl_dst, "big"), _full("dl_dst"))
        if not w & OFPFW10_NW_TOS:
            acc["nw_tos"] = (self.nw_tos & 0xFC, 0xFC)
        for shift, member, val in ((OFPFW10_NW_SRC_SHIFT, "nw_src", self.nw_src),
                                   (OFPFW10_NW_DST_SHIFT, "nw_dst", self.nw_dst)):
            n = (w >> shift) & 0x3F
            if n < 32:
                mask = (0xFFFFFFFF << n) & 0xFFFFFFFF
                acc[member] = (val & mask, mask)
        if not w & OFPFW10_DL_VLAN and self.dl_vlan == OFP10_VLAN_NONE:
            acc["vlan_tci"] = (0, 0xFFFF)      # only frames without 802.1Q
        else:
            if not w & OFPFW10_DL_VLAN:
                _add_bits(acc, "vlan_tci", (self.dl_vlan & 0xFFF) | VLAN_CFI, 0x1FFF)
            if not w & OFPFW10_DL_VLAN_PCP:
                _add_bits(acc, "vlan_tci", ((self.dl_vlan_pcp & 7) << 13) | VLAN_CFI, 0xF000)
        return FlowMatch(acc)

    @classmethod
    def from_flow(cls, fm: FlowMatch) -> "Match10":
        """The OF1.0 form of ``fm``; OFPBMC_BAD_FIELD if not expressible."""
        w = OFPFW10_ALL
        kw = {}
        for member, (v, m) in fm.items():
            full = _full(member) if member in MEMBERS else -1
            if member in ("in_port", "dl_type", "nw_proto", "tp_src", "tp_dst") and m == full:
                kw[member] = v
                w &= ~{"in_port": OFPFW10_IN_PORT, "dl_type": OFPFW10_DL_TYPE,
                       "nw_proto": OFPFW10_NW_PROTO, "tp_src": OFPFW10_TP_SRC,
                       "tp_dst": OFPFW10_TP_DST}[member]
            elif member in ("dl_src", "dl_dst") and m == full:
                kw[member] = v.to_bytes(6, "big")
                w &= ~(OFPFW10_DL_SRC if member == "dl_src" else OFPFW10_DL_DST)
            elif member == "nw_tos" and m == 0xFC:
                kw["nw_tos"] = v
                w &= ~OFPFW10_NW_TOS
            elif member in ("nw_src", "nw_dst") and _cidr_len(m) is not None:
                kw[member] = v
                shift = OFPFW10_NW_SRC_SHIFT if member == "nw_src" else OFPFW10_NW_DST_SHIFT
                w = (w & ~(0x3F << shift)) | ((32 - _cidr_len(m)) << shift)
            elif member == "vlan_tci":
                if (v, m) == (0, 0xFFFF):
                    kw["dl_vlan"] = OFP10_VLAN_NONE
                    w &= ~OFPFW10_DL_VLAN
                    continue
                if m & 0x1FFF == 0x1FFF and v & VLAN_CFI:
                    kw["dl_vlan"] = v & 0xFFF
                    w &= ~OFPFW10_DL_VLAN
                elif m & 0x0FFF:
                    raise OFPError("OFPBMC_BAD_FIELD", detail="vlan_tci not OF1.0")
                if m & 0xE000 == 0xE000 and v & VLAN_CFI:
                    kw["dl_vlan_pcp"] = v >> 13
                    w &= ~OFPFW10_DL_VLAN_PCP
                elif m & 0xE000:
                    raise OFPError("OFPBMC_BAD_FIELD", detail="vlan_tci not OF1.0")
                if m & VLAN_CFI and not (m & 0x1FFF == 0x1FFF or m & 0xF000 == 0xF000):
                    raise OFPError("OFPBMC_BAD_FIELD", detail="vlan_tci not OF1.0")
            else:
                raise OFPError("OFPBMC_BAD_FIELD", detail=f"{member} not OF1.0")
        return cls(wildcards=w, **kw)


# ofputil_normalize_match: which fields a match may have, from its dl_type and
# nw_proto.  OVS applies it to OpenFlow 1.0 flow_mods (an ofp10_match cannot
# refuse a field whose prerequisite is missing, so it is dropped instead).
_NORMALIZE_L3 = {0x0800: {"nw_proto", "nw_tos", "nw_ttl", "nw_frag", "nw_src", "nw_dst"},
                 0x86DD: {"nw_proto", "nw_tos", "nw_ttl", "nw_frag", "ipv6_src",
                          "ipv6_dst", "ipv6_label"},
                 0x0806: {"nw_proto", "nw_src", "nw_dst", "arp_sha", "arp_tha"},
                 0x8035: {"nw_proto", "nw_src", "nw_dst", "arp_sha", "arp_tha"},
                 0x8847: {"mpls_label", "mpls_tc", "mpls_bos", "mpls_ttl"},
                 0x8848: {"mpls_label", "mpls_tc", "mpls_bos", "mpls_ttl"}}
_NORMALIZE_L4 = {0x0800: (6, 17, 132, 1), 0x86DD: (6, 17, 132, 58)}
_NORMALIZED = frozenset().union(*_NORMALIZE_L3.values(), {"tp_src", "tp_dst", "nd_target"})


def normalize_match(fm: FlowMatch) -> FlowMatch:
    """``fm`` without the L3/L4 fields its dl_type/nw_proto do not allow
    (OVS's ofputil_normalize_match; ``fm`` itself when nothing changes)."""
    d = fm._d
    if not any(k in _NORMALIZED for k in d):
        return fm
    dl_type, proto = fm.value("dl_type"), fm.value("nw_proto")
    may = set(_NORMALIZE_L3.get(dl_type, ()))
    if proto is not None and proto in _NORMALIZE_L4.get(dl_type, ()):
        may |= {"tp_src", "tp_dst"}
        if proto == 58 and fm.value("tp_src") in (135, 136):          # ND solicit/advert
            may |= {"nd_target", "arp_sha" if fm.value("tp_src") == 135 else "arp_tha"}
    drop = [k for k in d if k in _NORMALIZED and k not in may]
    if not drop:
        return fm
    return FlowMatch({k: vm for k, vm in d.items() if k not in drop})


def _cidr_len(mask: int):
    n = 32 - (((~mask) & 0xFFFFFFFF).bit_length())
    return n if ((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF) == mask else None


# ---------------------------------------------------------------------------
# NXM / OXM TLVs

_u32 = struct.Struct("!I")
_u16x2 = struct.Struct("!HH")


@dataclass(frozen=True, slots=True)
class Tlv:
    """One NXM/OXM entry.  ``field`` is None for unknown headers, then
    ``value``/``mask`` are raw bytes; otherwise they are ints (mask None
    when the TLV carries no mask)."""
    field: Field | None
    value: int | bytes
    mask: int | bytes | None = None
    header: int = 0                  # only for unknown fields
    experimenter: int | None = None  # only for unknown fields

    def pack(self) -> bytes:
        f = self.field
        if f is None:
            hm = self.mask is not None
            body = self.value + (self.mask or b"")
            ex = b"" if self.experimenter is None else _u32.pack(self.experimenter)
            h = (self.header & 0xFFFFFE00) | (int(hm) << 8) | (len(body) + len(ex))
            return _u32.pack(h) + ex + body
        n = f.nbytes
        hm = self.mask is not None
        out = _u32.pack(f.header(hm))
        if f.experimenter:
            out += _u32.pack(f.experimenter)
        out += self.value.to_bytes(n, "big")
        if hm:
            out += self.mask.to_bytes(n, "big")
        return out

    @property
    def name(self) -> str:
        return self.field.name if self.field else f"unknown_{self.header:08x}"


# Prerequisite checks: name -> predicate over the exact values seen so far.
_IP = (0x0800, 0x86DD)
_PREREQS = {
    "none": lambda c: True, "Ethernet": lambda c: True,
    "VLAN VID": lambda c: c.get("vlan_present", False),
    "MPLS": lambda c: c.get("eth_type") in (0x8847, 0x8848),
    "IPv4": lambda c: c.get("eth_type") == 0x0800,
    "IPv6": lambda c: c.get("eth_type") == 0x86DD,
    "IPv4/IPv6": lambda c: c.get("eth_type") in _IP,
    "ARP": lambda c: c.get("eth_type") in (0x0806, 0x8035),
    "TCP": lambda c: c.get("eth_type") in _IP and c.get("nw_proto") == 6,
    "UDP": lambda c: c.get("eth_type") in _IP and c.get("nw_proto") == 17,
    "SCTP": lambda c: c.get("eth_type") in _IP and c.get("nw_proto") == 132,
    "ICMPv4": lambda c: c.get("eth_type") == 0x0800 and c.get("nw_proto") == 1,
    "ICMPv6": lambda c: c.get("eth_type") == 0x86DD and c.get("nw_proto") == 58,
    "ND": lambda c: (c.get("eth_type") == 0x86DD and c.get("nw_proto") == 58
                     and c.get("icmpv6_type") in (135, 136)),
    "ND solicit": lambda c: (c.get("eth_type") == 0x86DD and c.get("nw_proto") == 58
                             and c.get("icmpv6_type") == 135),
    "ND advert": lambda c: (c.get("eth_type") == 0x86DD and c.get("nw_proto") == 58
                            and c.get("icmpv6_type") == 136),
    "CT": lambda c: c.get("ct_tracked", False),
    "NSH": lambda c: c.get("eth_type") == 0x894F,
}
_CTX_FIELDS = {"eth_type", "nw_proto", "icmpv6_type"}


# Per known, well-formed NXM/OXM header (not experimenter): what the checks
# below conclude from the header alone, (field, value bytes, has mask, name,
# prerequisite check or None).
_HEADERS: dict = {}


def note_prereq_context(ctx: dict, name: str, value: int, mask) -> None:
    """Record what a match field implies for later fields' prerequisites
    (eth_type, ip_proto, VLAN present, conntrack tracked)."""
    if mask is None:
        if name in _CTX_FIELDS:
            ctx[name] = value
        elif name == "vlan_vid" or name == "vlan_tci":
            ctx["vlan_present"] = bool(value & VLAN_CFI)
        elif name == "ip_proto":
            ctx["nw_proto"] = value
        elif name == "ct_state" and value & 0x20:
            ctx["ct_tracked"] = True
    elif (name == "vlan_vid" or name == "vlan_tci") and mask & value & VLAN_CFI:
        ctx["vlan_present"] = True
    elif name == "ct_state" and mask & value & 0x20:
        ctx["ct_tracked"] = True


def parse_tlvs(buf: bytes, off: int, end: int, check_prereqs: bool = True) -> tuple:
    """Decode the TLVs in ``buf[off:end]`` (exactly; leftovers are BAD_LEN)."""
    tlvs = []
    seen = set()
    ctx = {}
    unpack = _u32.unpack_from
    headers = _HEADERS
    from_bytes = int.from_bytes
    while off < end:
        if end - off < 4:
            raise OFPError("OFPBMC_BAD_LEN", detail="truncated TLV header")
        h, = unpack(buf, off)
        known = headers.get(h)
        if known is not None and off + 4 + (h & 0xFF) <= end:
            # The same checks as below, those that depend on the header done once.
            f, n, hm, name, prereq = known
            p = off + 4
            value = from_bytes(buf[p:p + n], "big")
            mask = from_bytes(buf[p + n:p + n + n], "big") if hm else None
            if name in seen:
                raise OFPError("OFPBMC_DUP_FIELD", detail=name)
            seen.add(name)
            if check_prereqs and prereq is not None and not prereq(ctx):
                raise OFPError("OFPBMC_BAD_PREREQ", detail=f"{name} needs {f.prereq}")
            note_prereq_context(ctx, name, value, mask)
            tlvs.append(Tlv(f, value, mask))
            off = p + (h & 0xFF)
            continue
        cls = h >> 16
        code = (h >> 9) & 0x7F
        hm = (h >> 8) & 1
        ln = h & 0xFF
        p = off + 4
        stop = p + ln
        if ln == 0 or stop > end:
            raise OFPError("OFPBMC_BAD_LEN", detail=f"TLV {h:08x} overruns match")
        exp = None
        if cls == 0xFFFF:
            if ln < 4:
                raise OFPError("OFPBMC_BAD_LEN", detail="experimenter TLV too short")
            exp, = unpack(buf, p)
            p += 4
        f = FIELDS_BY_KEY.get((cls, code, exp))
        if f is None:
            body = buf[p:stop]
            if hm and len(body) % 2:
                raise OFPError("OFPBMC_BAD_LEN", detail="odd masked TLV")
            half = len(body) // 2 if hm else len(body)
            tlvs.append(Tlv(None, bytes(body[:half]), bytes(body[half:]) if hm else None,
                            h, exp))
        else:
            n = f.nbytes
            if stop - p != n * (1 + hm):
                alt = ALT_FIELDS.get((cls, code, exp, (stop - p) >> hm))
                if alt is not None:
                    f, n = alt, alt.nbytes
            if stop - p != n * (1 + hm):
                raise OFPError("OFPBMC_BAD_LEN", detail=f"{f.wire_name} length {ln}")
            if hm and not f.maskable:
                raise OFPError("OFPBMC_BAD_MASK", detail=f"{f.wire_name} is not maskable")
            if exp is None and len(_HEADERS) < 4096:
                _HEADERS[h] = (f, n, hm, f.name, None if f.prereq in ("none", "Ethernet")
                               else _PREREQS[f.prereq])
            value = int.from_bytes(buf[p:p + n], "big")
            mask = int.from_bytes(buf[p + n:stop], "big") if hm else None
            name = f.name
            if name in seen:
                raise OFPError("OFPBMC_DUP_FIELD", detail=name)
            seen.add(name)
            if check_prereqs and f.prereq != "none" and f.prereq != "Ethernet":
                if not _PREREQS[f.prereq](ctx):
                    raise OFPError("OFPBMC_BAD_PREREQ", detail=f"{name} needs {f.prereq}")
            note_prereq_context(ctx, name, value, mask)
            tlvs.append(Tlv(f, value, mask))
        off = stop
    return tuple(tlvs)


def _in_port_from_ofp11(p: int) -> int:
    if p < 0xFF00:
        return p
    if p >= 0xFFFFFF00:
        return p - 0xFFFF0000
    raise OFPError("OFPBMC_BAD_VALUE", detail=f"in_port {p:#x}")


def port_to_ofp11(p: int) -> int:
    return p + 0xFFFF0000 if p >= 0xFF00 else p


@dataclass(frozen=True, slots=True)
class OxmMatch:
    """An NXM or OXM match: TLVs in wire order."""
    tlvs: tuple = ()

    def pack_tlvs(self) -> bytes:
        return b"".join(t.pack() for t in self.tlvs)

    # -- OXM framing (ofp_match, OFPMT_OXM = 1) --------------------------
    @classmethod
    def unpack_oxm(cls, buf: bytes, off: int) -> tuple["OxmMatch", int]:
        """Decode an ``ofp_match`` at ``off``; returns (match, next offset)."""
        if len(buf) - off < 4:
            raise OFPError("OFPBMC_BAD_LEN", detail="truncated ofp_match")
        mtype, length = struct.unpack_from("!HH", buf, off)
        if mtype != 1:
            raise OFPError("OFPBMC_BAD_TYPE", detail=f"match type {mtype}")
        padded = (length + 7) & ~7
        if length < 4 or off + padded > len(buf):
            raise OFPError("OFPBMC_BAD_LEN", detail=f"ofp_match length {length}")
        return cls(parse_tlvs(buf, off + 4, off + length)), off + padded

    def pack_oxm(self) -> bytes:
        body = self.pack_tlvs()
        n = 4 + len(body)
        return struct.pack("!HH", 1, n) + body + bytes((-n) & 7)

    # -- conversion ------------------------------------------------------
    def to_flow(self) -> FlowMatch:
        acc: dict = {}
        folds = _SIMPLE_FOLDS
        for t in self.tlvs:
            f = t.field
            if f is None:
                raise OFPError("OFPBMC_BAD_FIELD", detail=t.name)
            fold = folds.get(id(f))
            if fold is None or fold[0] is not f:
                fold = _simple_fold(f)
            if fold[1] is not None:
                # The last branch below, with its lookups done once per field.
                _, member, shift, unmasked = fold
                m = unmasked if t.mask is None else t.mask << shift
                v = t.value << shift
                old = acc.get(member)
                acc[member] = ((v & m, m) if old is None
                               else ((old[0] & ~m) | (v & m), old[1] | m))
                continue
            name = f.name
            n = f.nbytes * 8
            v = t.value
            m = (1 << n) - 1 if t.mask is None else t.mask
            if name == "in_port_oxm":
                acc["in_port"] = (_in_port_from_ofp11(v), 0xFFFF)
            elif name == "vlan_vid":
                _add_bits(acc, "vlan_tci", v & 0x1FFF, m & 0x1FFF)
            elif name == "vlan_pcp":
                _add_bits(acc, "vlan_tci", ((v & 7) << 13) | VLAN_CFI, 0xF000)
            elif name.startswith("xxreg"):
                i = int(name[5:]) * 4
                for k in range(4):
                    sh = 96 - 32 * k
                    _add_bits(acc, f"reg{i + k}", (v >> sh) & 0xFFFFFFFF, (m >> sh) & 0xFFFFFFFF)
            elif name.startswith("xreg"):
                i = int(name[4:]) * 2
                _add_bits(acc, f"reg{i}", v >> 32, m >> 32)
                _add_bits(acc, f"reg{i + 1}", v & 0xFFFFFFFF, m & 0xFFFFFFFF)
            else:
                member, shift = FOLD.get(name, (name, 0))
                if t.mask is None and name in FOLD_MASK:
                    m = FOLD_MASK[name] >> shift
                _add_bits(acc, member, v << shift, m << shift)
        return FlowMatch(acc)

    @classmethod
    def from_flow(cls, fm: FlowMatch, oxm: bool = True, version: int = 4) -> "OxmMatch":
        """Encode ``fm`` as OXM (``oxm=True``) or NXM TLVs, in OVS's order
        (prerequisites before the fields that need them)."""
        d = fm._d
        return cls(tuple([Tlv(f, _XFORM[vc](d[member][0]), mask)
                          for member, f, vc, mask, _, _, _ in _plan_for(fm, oxm, version)]))

    @staticmethod
    def pack_flow(fm: FlowMatch, oxm: bool = True, version: int = 4) -> bytes:
        """``from_flow(fm, oxm, version).pack_tlvs()``, without the objects."""
        return packer_for(fm, oxm, version)(fm._d)


# from_flow's decisions depend only on the match's shape (members, masks, the
# exact dl_type and nw_proto) and the encoding: a plan per shape says, for each
# TLV, (member, field, value transform, mask or None, packed header, value
# bytes, packed mask).  Value transforms:
_XFORM = (lambda v: v, lambda v: port_to_ofp11(v), lambda v: v & 0x1FFF, lambda v: v >> 13,
          lambda v: v >> 2, lambda v: v & 0xFC, lambda v: v & 3)
_V, _V_PORT11, _V_VID, _V_PCP, _V_DSCP, _V_TOS, _V_ECN = range(7)
_PLANS: dict = {}
_MAX_PLANS = 4096
_NAME_OF = {"dl_src": "eth_src", "dl_dst": "eth_dst", "dl_type": "eth_type",
            "nw_src": "ip_src", "nw_dst": "ip_dst", "nw_proto": "nw_proto", "nw_frag": "ip_frag"}


def _plan_entry(fm: FlowMatch, oxm: bool, version: int) -> list:
    """``[plan, packer or None]`` for ``fm``'s shape (the packer is compiled
    on first use: from_flow needs only the plan)."""
    d = fm._d
    dl = d.get("dl_type")
    pr = d.get("nw_proto")
    dl_type = dl[0] if dl is not None and dl[1] == 0xFFFF else None
    proto = pr[0] if pr is not None and pr[1] == 0xFF else None
    key = (oxm, version, dl_type, proto, tuple([(k, vm[1]) for k, vm in d.items()]))
    entry = _PLANS.get(key)
    if entry is None:
        entry = [_plan(key[4], dl_type, proto, oxm, version), None]
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[key] = entry
    return entry


def _plan_for(fm: FlowMatch, oxm: bool, version: int) -> tuple:
    return _plan_entry(fm, oxm, version)[0]


def packer_for(fm: FlowMatch, oxm: bool = True, version: int = 4):
    """A function of a match's dict giving the TLV bytes of ``pack_flow``
    for every match of ``fm``'s shape (same members, masks, exact dl_type and
    nw_proto)."""
    entry = _plan_entry(fm, oxm, version)
    if entry[1] is None:
        entry[1] = _compile(entry[0])
    return entry[1]


def framed_packer(fm: FlowMatch, oxm: bool = True, version: int = 4, ofp11: bool = False):
    """``(function of a match's dict, TLV length)`` for ``fm``'s shape: the
    TLVs padded to 8 bytes, inside an ``ofp_match`` header when ``ofp11``
    (the flow stats entry's match).  A fresh function: callers that know the
    shape (a classifier subtable) keep it."""
    plan = _plan_entry(fm, oxm, version)[0]
    n = sum(len(head) + nb + len(maskb) for _, _, _, _, head, nb, maskb in plan)
    lead = _u16x2.pack(1, 4 + n) if ofp11 else b""      # OFPMT_OXM, length before padding
    return _compile(plan, lead, bytes((-(n + len(lead))) & 7)), n


# Value transforms as expressions over ``v`` (see _XFORM) for _compile.
_XFORM_SRC = ("{v}", "_port11({v})", "({v} & 0x1FFF)", "({v} >> 13)", "({v} >> 2)",
              "({v} & 0xFC)", "({v} & 3)")


def _compile(plan: tuple, lead: bytes = b"", trail: bytes = b""):
    """One expression per plan: constant header/mask bytes and each value's
    ``to_bytes`` concatenated - a third of the per-TLV loop's cost."""
    consts, parts, pending = {}, [], lead
    for i, (member, _, vc, _, head, n, maskb) in enumerate(plan):
        pending += head
        if pending:
            consts[f"c{i}"] = pending
            parts.append(f"c{i}")
        value = _XFORM_SRC[vc].format(v=f"d[{member!r}][0]")
        parts.append(f"{value}.to_bytes({n}, 'big')")
        pending = maskb
    pending += trail
    if pending:
        consts["tail"] = pending
        parts.append("tail")
    src = "lambda d: " + (" + ".join(parts) if parts else "b''")
    return eval(src, {"_port11": port_to_ofp11, **consts})    # noqa: S307 - built from the plan only


def _plan(shape, dl_type, proto, oxm: bool, version: int) -> tuple:
    from .fields import FIELDS_BY_NAME
    ops = []

    def add(member, name, vc, m, nbits):
        f = field_for(name, oxm)
        if name == "tcp_flags" and oxm and version < 6:
            f = next(x for x in FIELDS_BY_NAME[name] if x.experimenter == 0x4F4E4600)
        mask = None if m == (1 << nbits) - 1 else m
        n = f.nbytes
        head = _u32.pack(f.header(mask is not None))
        if f.experimenter:
            head += _u32.pack(f.experimenter)
        ops.append((member, f, vc, mask, head, n, b"" if mask is None else mask.to_bytes(n, "big")))

    arp = dl_type in (0x0806, 0x8035)
    for member, m in sorted([x for x in shape if x[0] in _ORDER_RANK],
                            key=lambda x: _ORDER_RANK[x[0]]):
        if member == "in_port":
            if oxm:
                add(member, "in_port_oxm", _V_PORT11, 0xFFFFFFFF, 32)
            else:
                add(member, "in_port", _V, m, 16)
        elif member == "vlan_tci" and oxm:
            if m & 0x1FFF:
                add(member, "vlan_vid", _V_VID, m & 0x1FFF, 13)
            if m & 0xE000:
                add(member, "vlan_pcp", _V_PCP, 7, 3)
        elif member == "nw_tos":
            if oxm and m & 0xFC:
                add(member, "ip_dscp", _V_DSCP, 0x3F, 6)
            elif m & 0xFC:
                add(member, "nw_tos", _V_TOS, 0xFF, 8)
            if m & 3:
                add(member, "nw_ecn", _V_ECN, 3, 2)
        elif member in ("nw_src", "nw_dst") and arp:
            add(member, "arp_spa" if member == "nw_src" else "arp_tpa", _V, m, 32)
        elif member == "nw_proto" and arp:
            add(member, "arp_op", _V, m, 8)
        elif member in ("tp_src", "tp_dst"):
            l4 = {6: "tcp", 17: "udp", 132: "sctp"}.get(proto)
            if l4:
                add(member, f"{l4}_{member[3:]}", _V, m, 16)
            elif proto in (1, 58):
                base = "icmp" if proto == 1 else "icmpv6"
                add(member, f"{base}_{'type' if member == 'tp_src' else 'code'}", _V, 0xFF, 8)
            else:
                raise OFPError("OFPBMC_BAD_PREREQ", detail=f"{member} needs L4 protocol")
        elif member in ("arp_sha", "arp_tha") and dl_type == 0x86DD:
            add(member, "nd_sll" if member == "arp_sha" else "nd_tll", _V, m, 48)
        else:
            add(member, _NAME_OF.get(member, member), _V, m, MEMBERS[member])
    return tuple(ops)


# How to_flow folds each field (by id; the entry holds the field, so the id
# stays its own): (field, member, shift, shifted mask when the TLV has none),
# member None for the fields with their own branch (in_port_oxm, vlan_vid/pcp,
# xreg/xxreg).
_SIMPLE_FOLDS: dict = {}


def _simple_fold(f):
    name = f.name
    if name in ("in_port_oxm", "vlan_vid", "vlan_pcp") or name.startswith("xreg") \
            or name.startswith("xxreg"):
        fold = (f, None, 0, 0)
    else:
        member, shift = FOLD.get(name, (name, 0))
        full = (1 << (f.nbytes * 8)) - 1
        fold = (f, member, shift, (FOLD_MASK[name] >> shift if name in FOLD_MASK else full) << shift)
    if len(_SIMPLE_FOLDS) < 4096:
        _SIMPLE_FOLDS[id(f)] = fold
    return fold


# OVS emits NXM/OXM in this order (nx_put_raw): metadata and tunnel first,
# then L2, L3, L4, then registers and conntrack.
_ORDER = ("recirc_id", "dp_hash", "packet_type", "conj_id", "in_port",
          "actset_output", "metadata", "tun_id", "tun_src", "tun_dst",
          "tun_ipv6_src", "tun_ipv6_dst", "tun_flags", "tun_gbp_id", "tun_gbp_flags",
          "pkt_mark", "dl_src", "dl_dst", "dl_type", "vlan_tci",
          "mpls_label", "mpls_tc", "mpls_bos", "mpls_ttl",
          "nw_src", "nw_dst", "ipv6_src", "ipv6_dst", "ipv6_label",
          "nw_proto", "nw_tos", "nw_frag", "nw_ttl",
          "arp_sha", "arp_tha", "tp_src", "tp_dst", "nd_target", "tcp_flags",
          *(f"reg{i}" for i in range(16)),
          "ct_state", "ct_zone", "ct_mark", "ct_label", "ct_nw_proto", "ct_nw_src",
          "ct_nw_dst", "ct_ipv6_src", "ct_ipv6_dst", "ct_tp_src", "ct_tp_dst")
_ORDER_RANK = {m: i for i, m in enumerate(_ORDER)}
