"""Actions: OF1.0 and OF1.1+ standard actions and Nicira extension actions.

Theory of operation
-------------------
Every action is a frozen dataclass whose fields are the wire fields after
the action header, in wire order.  :data:`_SPECS` holds one row per wire
action: the class, the codes under which it travels (per "family": ``of10``
for OF1.0, ``of11`` for OF1.1+, ``nx`` for Nicira vendor actions, which
are the same in every version), the fixed ``Layout`` of its body, and an
optional variable tail:

* ``bytes``  - opaque trailing data kept verbatim (note, learn specs,
  nat ranges, controller2 properties...),
* ``actions`` - nested actions (clone, ct), decoded recursively with a
  depth limit,
* ``tlv``    - one NXM/OXM TLV (set_field, reg_load2), then zero padding,
* ``ports``  - a u16 list counted by a field (bundle slaves),
* ``props``  - TLV properties validated for length (encap).

One generic decoder and one generic encoder walk that table, so adding an
action is adding a row.  Checks follow OVS: length not a multiple of 8 or
overrunning the list is OFPBAC_BAD_LEN (OFPBRC_BAD_LEN for the list
itself), unknown types OFPBAC_BAD_TYPE / BAD_VENDOR / BAD_VENDOR_TYPE,
output to port 0 or an invalid OF1.1 port OFPBAC_BAD_OUT_PORT.
"""

from __future__ import annotations

import dataclasses
import struct

from .errors import OFPError
from .layout import layout, pad, raw, u8, u16, u32, u64
from .match import parse_tlvs

NX_VENDOR_ID = 0x00002320
OFPAT_VENDOR = 0xFFFF
MAX_NESTING = 100          # OVS's MAX_OFPACT_PARSE_DEPTH for nested actions

_hdr = struct.Struct("!HH")
_nxhdr = struct.Struct("!HHIH")


class Action:
    """Base of all action dataclasses."""
    __slots__ = ()
    NAME = "?"

    def pack(self, version: int) -> bytes:
        return _pack_action(self, version)


_BY_CODE: dict[tuple, "_Spec"] = {}   # (family, code) -> spec
_BY_CLASS: dict[type, "_Spec"] = {}


class _Spec:
    __slots__ = ("cls", "codes", "layout", "tail", "count_field", "hdr_len", "names")

    def __init__(self, cls, codes, lay, tail, count_field):
        self.cls, self.codes, self.layout, self.tail = cls, codes, lay, tail
        self.count_field = count_field
        self.hdr_len = 10 if "nx" in codes else 4
        self.names = lay.names


def _action(name, codes: dict, *fields, tail=None, count_field=None, doc=""):
    """Declare an action class.  ``codes``: family -> code (``nx`` = subtype)."""
    lay = layout(name, *fields)
    cols = [(n, int, dataclasses.field(default=0)) for n in lay.names]
    for n, sub in zip(lay.names, [f for f in fields if getattr(f, "name", None)]):
        if type(sub.subcon).__name__ == "Bytes":
            cols[lay.names.index(n)] = (n, bytes, dataclasses.field(
                default=bytes(sub.subcon.length)))
    if tail == "actions":
        cols.append(("actions", tuple, dataclasses.field(default=())))
    elif tail in ("bytes", "props"):
        cols.append(("data", bytes, dataclasses.field(default=b"")))
    elif tail == "tlv":
        cols.append(("tlv", object, dataclasses.field(default=None)))
    elif tail == "ports":
        cols.append(("ports", tuple, dataclasses.field(default=())))
    cls = dataclasses.make_dataclass(name, cols, bases=(Action,), frozen=True,
                                     slots=True, namespace={"NAME": name, "__doc__": doc or name})
    cls.__module__ = __name__
    spec = _Spec(cls, codes, lay, tail, count_field)
    for fam, code in codes.items():
        _BY_CODE[(fam, code)] = spec
    _BY_CLASS[cls] = spec
    globals()[name] = cls
    return cls


# ---- OpenFlow 1.0 -----------------------------------------------------------
_action("Output10", {"of10": 0}, "port"/u16, "max_len"/u16)
_action("SetVlanVid", {"of10": 1, "of11": 1}, "vlan_vid"/u16, pad(2))
_action("SetVlanPcp", {"of10": 2, "of11": 2}, "vlan_pcp"/u8, pad(3))
_action("StripVlan", {"of10": 3}, pad(4))
_action("SetDlSrc10", {"of10": 4}, "dl_addr"/raw(6), pad(6))
_action("SetDlDst10", {"of10": 5}, "dl_addr"/raw(6), pad(6))
_action("SetNwSrc10", {"of10": 6}, "nw_addr"/u32)
_action("SetNwDst10", {"of10": 7}, "nw_addr"/u32)
_action("SetNwTos10", {"of10": 8}, "nw_tos"/u8, pad(3))
_action("SetTpSrc10", {"of10": 9}, "tp_port"/u16, pad(2))
_action("SetTpDst10", {"of10": 10}, "tp_port"/u16, pad(2))
_action("Enqueue", {"of10": 11}, "port"/u16, pad(6), "queue_id"/u32)
# ---- OpenFlow 1.1+ ----------------------------------------------------------
_action("Output", {"of11": 0}, "port"/u32, "max_len"/u16, pad(6))
_action("SetDlSrc", {"of11": 3}, "dl_addr"/raw(6), pad(6))
_action("SetDlDst", {"of11": 4}, "dl_addr"/raw(6), pad(6))
_action("SetNwSrc", {"of11": 5}, "nw_addr"/u32)
_action("SetNwDst", {"of11": 6}, "nw_addr"/u32)
_action("SetNwTos", {"of11": 7}, "nw_tos"/u8, pad(3))
_action("SetNwEcn", {"of11": 8}, "nw_ecn"/u8, pad(3))
_action("SetTpSrc", {"of11": 9}, "tp_port"/u16, pad(2))
_action("SetTpDst", {"of11": 10}, "tp_port"/u16, pad(2))
_action("CopyTtlOut", {"of11": 11}, pad(4))
_action("CopyTtlIn", {"of11": 12}, pad(4))
_action("SetMplsLabel", {"of11": 13}, "mpls_label"/u32)
_action("SetMplsTc", {"of11": 14}, "mpls_tc"/u8, pad(3))
_action("SetMplsTtl", {"of11": 15}, "mpls_ttl"/u8, pad(3))
_action("DecMplsTtl", {"of11": 16}, pad(4))
_action("PushVlan", {"of11": 17}, "ethertype"/u16, pad(2))
_action("PopVlan", {"of11": 18}, pad(4))
_action("PushMpls", {"of11": 19}, "ethertype"/u16, pad(2))
_action("PopMpls", {"of11": 20}, "ethertype"/u16, pad(2))
_action("SetQueue", {"of11": 21}, "queue_id"/u32)
_action("Group", {"of11": 22}, "group_id"/u32)
_action("SetNwTtl", {"of11": 23}, "nw_ttl"/u8, pad(3))
_action("DecNwTtl", {"of11": 24}, pad(4))
_action("SetField", {"of11": 25}, tail="tlv")
_action("PushPbb", {"of11": 26}, "ethertype"/u16, pad(2))
_action("PopPbb", {"of11": 27}, pad(4))
_action("Meter", {"of11": 29}, "meter_id"/u32)
# ---- Nicira (subtype after the 10-byte nx_action_header) --------------------
_action("NxResubmit", {"nx": 1}, "in_port"/u16, pad(4))
_action("NxSetTunnel", {"nx": 2}, pad(2), "tun_id"/u32)
_action("NxSetQueue", {"nx": 4}, pad(2), "queue_id"/u32)
_action("NxPopQueue", {"nx": 5}, pad(6))
_action("NxRegMove", {"nx": 6}, "n_bits"/u16, "src_ofs"/u16, "dst_ofs"/u16,
        "src"/u32, "dst"/u32)
_action("NxRegLoad", {"nx": 7}, "ofs_nbits"/u16, "dst"/u32, "value"/u64)
_action("NxNote", {"nx": 8}, tail="bytes")
_action("NxSetTunnel64", {"nx": 9}, pad(6), "tun_id"/u64)
_action("NxMultipath", {"nx": 10}, "fields"/u16, "basis"/u16, pad(2),
        "algorithm"/u16, "max_link"/u16, "arg"/u32, pad(2), "ofs_nbits"/u16, "dst"/u32)
_action("NxBundle", {"nx": 12}, "algorithm"/u16, "fields"/u16, "basis"/u16,
        "slave_type"/u32, "n_slaves"/u16, "ofs_nbits"/u16, "dst"/u32, pad(4),
        tail="ports", count_field="n_slaves")
_action("NxBundleLoad", {"nx": 13}, "algorithm"/u16, "fields"/u16, "basis"/u16,
        "slave_type"/u32, "n_slaves"/u16, "ofs_nbits"/u16, "dst"/u32, pad(4),
        tail="ports", count_field="n_slaves")
_action("NxResubmitTable", {"nx": 14}, "in_port"/u16, "table"/u8, pad(3))
_action("NxOutputReg", {"nx": 15}, "ofs_nbits"/u16, "src"/u32, "max_len"/u16, pad(6))
_action("NxLearn", {"nx": 16}, "idle_timeout"/u16, "hard_timeout"/u16,
        "priority"/u16, "cookie"/u64, "flags"/u16, "table_id"/u8, pad(1),
        "fin_idle_timeout"/u16, "fin_hard_timeout"/u16, tail="bytes")
_action("NxExit", {"nx": 17}, pad(6))
_action("NxDecTtl", {"nx": 18}, pad(6))
_action("NxFinTimeout", {"nx": 19}, "fin_idle_timeout"/u16, "fin_hard_timeout"/u16, pad(2))
_action("NxController", {"nx": 20}, "max_len"/u16, "controller_id"/u16,
        "reason"/u8, pad(1))
_action("NxDecTtlCntIds", {"nx": 21}, "n_controllers"/u16, pad(4), tail="ports",
        count_field="n_controllers")
_action("NxWriteMetadata", {"nx": 22}, pad(6), "metadata"/u64, "mask"/u64)
_action("NxPushMpls", {"nx": 23}, "ethertype"/u16, pad(4))
_action("NxPopMpls", {"nx": 24}, "ethertype"/u16, pad(4))
_action("NxSetMplsTtl", {"nx": 25}, "mpls_ttl"/u8, pad(5))
_action("NxDecMplsTtl", {"nx": 26}, pad(6))
_action("NxSetMplsLabel", {"nx": 30}, pad(2), "mpls_label"/u32)
_action("NxSetMplsTc", {"nx": 31}, "mpls_tc"/u8, pad(5))
_action("NxStackPush", {"nx": 27}, "offset"/u16, "field"/u32, "n_bits"/u16, pad(6))
_action("NxStackPop", {"nx": 28}, "offset"/u16, "field"/u32, "n_bits"/u16, pad(6))
_action("NxSample", {"nx": 29}, "probability"/u16, "collector_set_id"/u32,
        "obs_domain_id"/u32, "obs_point_id"/u32)
_action("NxOutputReg2", {"nx": 32}, "ofs_nbits"/u16, "max_len"/u16, tail="bytes")
_action("NxRegLoad2", {"nx": 33}, tail="tlv")
_action("NxConjunction", {"nx": 34}, "clause"/u8, "n_clauses"/u8, "id"/u32)
_action("NxCt", {"nx": 35}, "flags"/u16, "zone_src"/u32, "zone"/u16,
        "recirc_table"/u8, pad(3), "alg"/u16, tail="actions")
_action("NxNat", {"nx": 36}, pad(2), "flags"/u16, "range_present"/u16, tail="bytes")
_action("NxController2", {"nx": 37}, pad(6), tail="bytes")
_action("NxSample2", {"nx": 38}, "probability"/u16, "collector_set_id"/u32,
        "obs_domain_id"/u32, "obs_point_id"/u32, "sampling_port"/u16,
        "direction"/u8, pad(5))
_action("NxOutputTrunc", {"nx": 39}, "port"/u16, "max_len"/u32)
_action("NxGroup", {"nx": 40}, pad(2), "group_id"/u32)
_action("NxSample3", {"nx": 41}, "probability"/u16, "collector_set_id"/u32,
        "obs_domain_id"/u32, "obs_point_id"/u32, "sampling_port"/u16,
        "direction"/u8, pad(5))
_action("NxClone", {"nx": 42}, pad(6), tail="actions")
_action("NxCtClear", {"nx": 43}, pad(6))
_action("NxResubmitTableCt", {"nx": 44}, "in_port"/u16, "table"/u8, pad(3))
_action("NxEncap", {"nx": 46}, "hdr_size"/u16, "new_pkt_type"/u32, tail="props")
_action("NxDecap", {"nx": 47}, pad(2), "new_pkt_type"/u32)
_action("NxDecNshTtl", {"nx": 48}, pad(6))
_action("NxCheckPktLarger", {"nx": 49}, "pkt_len"/u16, "dst"/u32, "ofs"/u16, pad(4))
_action("NxDeleteField", {"nx": 50}, "field"/u32, pad(2))
_action("NxDebugSlow", {"nx": 254}, pad(6))
_action("NxDebugRecirc", {"nx": 255}, pad(6))

# NX actions that exist only as a different code in OF1.0 than in OF1.1+:
# in OF1.0, set_queue/group/dec_ttl travel as NX actions (NxSetQueue etc.).

OFPP10_MAX = 0xFF00
OFPP11_MAX = 0xFFFFFF00


_DECODED: dict = {}         # (action bytes, version) -> decoded tuple (actions are frozen)
_MAX_DECODED = 4096


def unpack_actions(buf: bytes, off: int, end: int, version: int, depth: int = 0) -> tuple:
    """Decode the action list ``buf[off:end]``.  Flow tables repeat a few
    action lists many times: top-level lists are decoded once per content."""
    if depth or end > len(buf) or end - off > 256:
        return _unpack_actions(buf, off, end, version, depth)
    key = (buf[off:end], version)
    hit = _DECODED.get(key)
    if hit is None:
        hit = _unpack_actions(buf, off, end, version, depth)
        if len(_DECODED) >= _MAX_DECODED:
            _DECODED.clear()
        _DECODED[key] = hit
    return hit


def _unpack_actions(buf: bytes, off: int, end: int, version: int, depth: int = 0) -> tuple:
    if depth > MAX_NESTING:
        raise OFPError("OFPBAC_BAD_ARGUMENT", detail="actions nested too deeply")
    if (end - off) % 8:
        raise OFPError("OFPBRC_BAD_LEN", detail="actions length not a multiple of 8")
    if end > len(buf):
        raise OFPError("OFPBRC_BAD_LEN", detail="actions overrun message")
    fam = "of10" if version == 1 else "of11"
    out = []
    while off < end:
        if end - off < 8:
            raise OFPError("OFPBAC_BAD_LEN", detail="truncated action")
        atype, alen = _hdr.unpack_from(buf, off)
        if alen < 8 or alen % 8 or off + alen > end:
            raise OFPError("OFPBAC_BAD_LEN", detail=f"action type {atype} length {alen}")
        if atype == OFPAT_VENDOR:
            vendor = struct.unpack_from("!I", buf, off + 4)[0]
            if vendor != NX_VENDOR_ID:
                raise OFPError("OFPBAC_BAD_VENDOR", detail=f"vendor {vendor:#x}")
            if alen < 16:
                raise OFPError("OFPBAC_BAD_LEN", detail="NX action shorter than 16")
            subtype = struct.unpack_from("!H", buf, off + 8)[0]
            spec = _BY_CODE.get(("nx", subtype))
            if spec is None:
                raise OFPError("OFPBAC_BAD_VENDOR_TYPE", detail=f"NX subtype {subtype}")
        else:
            spec = _BY_CODE.get((fam, atype))
            if spec is None:
                raise OFPError("OFPBAC_BAD_TYPE", detail=f"action type {atype}")
        out.append(_decode_one(spec, buf, off, off + alen, version, depth))
        off += alen
    return tuple(out)


def _decode_one(spec, buf, off, end, version, depth):
    start = off + spec.hdr_len
    lay = spec.layout
    fixed_end = start + lay.size
    tail = spec.tail
    if fixed_end > end or (tail is None and ((fixed_end - off + 7) & ~7) != end - off):
        raise OFPError("OFPBAC_BAD_LEN", detail=f"{spec.cls.NAME} length {end - off}")
    vals = lay.unpack(buf, start)
    cls = spec.cls
    if tail is None:
        a = cls(*vals)
    elif tail == "bytes" or tail == "props":
        data = bytes(buf[fixed_end:end])
        if tail == "props":
            _check_props(data)
        a = cls(*vals, data)
    elif tail == "actions":
        a = cls(*vals, unpack_actions(buf, fixed_end, end, version, depth + 1))
    elif tail == "tlv":
        if end - fixed_end < 4:
            raise OFPError("OFPBAC_BAD_SET_LEN", detail="set_field without TLV")
        tlen = buf[fixed_end + 3] + 4
        if fixed_end + tlen > end:
            raise OFPError("OFPBAC_BAD_SET_LEN", detail="set_field TLV overruns action")
        tl, = parse_tlvs(buf, fixed_end, fixed_end + tlen, check_prereqs=False)
        if tl.field is None:
            raise OFPError("OFPBAC_BAD_SET_TYPE", detail="set_field of unknown field")
        if cls is SetField and tl.mask is not None and version < 6:
            raise OFPError("OFPBAC_BAD_SET_MASK", detail="masked set_field before OF1.5")
        if any(buf[fixed_end + tlen:end]) or ((fixed_end + tlen - off + 7) & ~7) != end - off:
            raise OFPError("OFPBAC_BAD_SET_LEN", detail="set_field padding")
        a = cls(*vals, tl)
    else:  # ports
        n = vals[lay.names.index(spec.count_field)]
        if fixed_end + 2 * n > end:
            raise OFPError("OFPBAC_BAD_LEN", detail=f"{cls.NAME} list overruns action")
        ports = struct.unpack_from(f"!{n}H", buf, fixed_end)
        if ((fixed_end + 2 * n - off + 7) & ~7) != end - off:
            raise OFPError("OFPBAC_BAD_LEN", detail=f"{cls.NAME} length")
        a = cls(*vals, tuple(ports))
    _validate(a, version)
    return a


def _check_props(data: bytes):
    """ENCAP properties: ``{class u16, type u8, len u8}``; len covers the header."""
    off = 0
    while off < len(data):
        if len(data) - off < 4:
            if any(data[off:]):
                raise OFPError("OFPBAC_BAD_LEN", detail="truncated encap property")
            return
        ln = data[off + 3]
        if ln == 0 and not any(data[off:]):
            return               # trailing zero padding
        if ln < 4 or off + ln > len(data):
            raise OFPError("OFPBAC_BAD_LEN", detail=f"encap property length {ln}")
        off += (ln + 7) & ~7


def _validate(a, version):
    t = type(a)
    if t is Output10 or t is Enqueue:
        if a.port == 0 or (a.port >= OFPP10_MAX and a.port not in _OF10_RESERVED_OUT):
            raise OFPError("OFPBAC_BAD_OUT_PORT", detail=f"port {a.port:#x}")
    elif t is Output:
        if a.port == 0 or (OFPP10_MAX <= a.port < OFPP11_MAX) or (
                a.port >= OFPP11_MAX and a.port - 0xFFFF0000 not in _OF10_RESERVED_OUT):
            raise OFPError("OFPBAC_BAD_OUT_PORT", detail=f"port {a.port:#x}")


# OFPP_IN_PORT .. OFPP_LOCAL are valid outputs; OFPP_NONE is not, except
# OVS accepts it as "drop" nowhere: keep it out.  OFPP_MAX .. IN_PORT-1 invalid.
_OF10_RESERVED_OUT = {0xFFF8, 0xFFF9, 0xFFFA, 0xFFFB, 0xFFFC, 0xFFFD, 0xFFFE}


def pack_actions(actions, version: int) -> bytes:
    return b"".join(_pack_action(a, version) for a in actions)


def _pack_action(a, version):
    spec = _BY_CLASS[type(a)]
    vals = [getattr(a, n) for n in spec.names]
    body = spec.layout.pack(*vals)
    tail = spec.tail
    if tail is None:
        extra = b""
    elif tail == "bytes" or tail == "props":
        extra = a.data
    elif tail == "actions":
        extra = pack_actions(a.actions, version)
    elif tail == "tlv":
        extra = a.tlv.pack()
    else:
        extra = struct.pack(f"!{len(a.ports)}H", *a.ports)
    n = spec.hdr_len + len(body) + len(extra)
    padn = (-n) & 7
    n += padn
    if "nx" in spec.codes:
        head = _nxhdr.pack(OFPAT_VENDOR, n, NX_VENDOR_ID, spec.codes["nx"])
    else:
        fam = "of10" if version == 1 else "of11"
        code = spec.codes.get(fam)
        if code is None:
            raise OFPError("OFPBAC_BAD_TYPE", detail=f"{spec.cls.NAME} not in version {version}")
        head = _hdr.pack(code, n)
    return head + body + extra + bytes(padn)


def iter_actions(actions):
    """All actions, descending into clone/ct nested lists."""
    for a in actions:
        yield a
        sub = getattr(a, "actions", None)
        if sub:
            yield from iter_actions(sub)
