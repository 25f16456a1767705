"""Typed payloads of two Nicira actions: ``learn`` flow specs and ``nat`` ranges.

Theory of operation
-------------------
:class:`~.actions.NxLearn` and :class:`~.actions.NxNat` keep their
variable payload as bytes (``data``) so the generic action codec stays one
table; this module gives those bytes a typed view and builds them back:

* ``learn``: a list of ``nx_flow_mod_spec``: a u16 header (bit 13: source is
  an immediate; bits 11-12: destination MATCH 0 / LOAD 1 / OUTPUT 2; bits
  0-9: ``n_bits``), then the source (an immediate of ``2*ceil(n_bits/16)``
  bytes, or a field header u32 plus a u16 bit offset), then the destination
  (field header + offset, absent for OUTPUT).  A zero header, or the end,
  terminates the list; what follows must be zero padding.  Field headers of
  experimenter OXMs (class 0xffff) take 8 bytes.
  :func:`learn_specs` decodes (errors are OFPBAC_BAD_ARGUMENT, as in OVS),
  :func:`pack_learn_specs` encodes, :func:`make_learn` builds the action.
  ``NxLearn.specs`` is the same as ``learn_specs(action)``.
* ``nat``: ``range_present`` says which of ipv4 min/max (u32), ipv6 min/max
  (16 bytes), proto min/max (u16) follow, in that order.
  :func:`nat_range` decodes into :class:`NatRange` (None = absent),
  :func:`make_nat` builds the action.
"""

from __future__ import annotations

import struct

from . import actions as A
from .errors import OFPError
from .header import frozen

NX_LEARN_SRC_IMMEDIATE = 1 << 13
NX_LEARN_DST_MATCH, NX_LEARN_DST_LOAD, NX_LEARN_DST_OUTPUT = 0, 1 << 11, 2 << 11
DST_NAMES = {NX_LEARN_DST_MATCH: "match", NX_LEARN_DST_LOAD: "load",
             NX_LEARN_DST_OUTPUT: "output"}
DST_CODES = {v: k for k, v in DST_NAMES.items()}
# learn flags (nx_action_learn.flags)
NX_LEARN_F_SEND_FLOW_REM, NX_LEARN_F_DELETE_LEARNED, NX_LEARN_F_WRITE_RESULT = 1, 2, 4


@frozen
class LearnSpec:
    """One flow spec: copy ``n_bits`` from a field (``src_field`` header,
    ``src_ofs``) or an immediate (``src_value``) into the learned flow's
    match (``dst="match"``), a load action (``"load"``) or an output
    (``"output"``, no destination field)."""
    n_bits: int
    dst: str = "match"
    src_field: int | None = None
    src_ofs: int = 0
    src_value: int | None = None
    dst_field: int | None = None
    dst_ofs: int = 0


def _get_header(data, off):
    if off + 4 > len(data):
        raise OFPError("OFPBAC_BAD_ARGUMENT", detail="learn spec truncated")
    h = struct.unpack_from("!I", data, off)[0]
    if h >> 16 == 0xFFFF:
        if off + 8 > len(data):
            raise OFPError("OFPBAC_BAD_ARGUMENT", detail="learn spec truncated")
        return struct.unpack_from("!Q", data, off)[0], off + 8
    return h, off + 4


def _put_header(h: int) -> bytes:
    return struct.pack("!Q" if h > 0xFFFFFFFF else "!I", h)


def parse_learn_specs(data: bytes) -> tuple:
    out = []
    off, n = 0, len(data)
    while off + 2 <= n:
        hdr = struct.unpack_from("!H", data, off)[0]
        if hdr == 0:
            break
        off += 2
        n_bits = hdr & 0x3FF
        dst_code = hdr & (3 << 11)
        if hdr & 0xC000 or dst_code not in DST_NAMES or n_bits == 0:
            raise OFPError("OFPBAC_BAD_ARGUMENT", detail=f"learn spec header {hdr:#x}")
        kw = {"n_bits": n_bits, "dst": DST_NAMES[dst_code]}
        if hdr & NX_LEARN_SRC_IMMEDIATE:
            nb = 2 * ((n_bits + 15) // 16)
            if off + nb > n:
                raise OFPError("OFPBAC_BAD_ARGUMENT", detail="learn immediate truncated")
            kw["src_value"] = int.from_bytes(data[off:off + nb], "big")
            off += nb
        else:
            kw["src_field"], off = _get_header(data, off)
            if off + 2 > n:
                raise OFPError("OFPBAC_BAD_ARGUMENT", detail="learn spec truncated")
            kw["src_ofs"] = struct.unpack_from("!H", data, off)[0]
            off += 2
        if dst_code != NX_LEARN_DST_OUTPUT:
            kw["dst_field"], off = _get_header(data, off)
            if off + 2 > n:
                raise OFPError("OFPBAC_BAD_ARGUMENT", detail="learn spec truncated")
            kw["dst_ofs"] = struct.unpack_from("!H", data, off)[0]
            off += 2
        out.append(LearnSpec(**kw))
    if any(data[off:]):
        raise OFPError("OFPBAC_BAD_ARGUMENT", detail="learn specs: nonzero padding")
    return tuple(out)


def learn_specs(action) -> tuple:
    """The typed specs of an :class:`~.actions.NxLearn`."""
    return parse_learn_specs(action.data)


def pack_learn_specs(specs) -> bytes:
    out = []
    for s in specs:
        imm = s.src_value is not None
        out.append(struct.pack("!H", (NX_LEARN_SRC_IMMEDIATE if imm else 0) |
                               DST_CODES[s.dst] | s.n_bits))
        if imm:
            out.append(s.src_value.to_bytes(2 * ((s.n_bits + 15) // 16), "big"))
        else:
            out.append(_put_header(s.src_field) + struct.pack("!H", s.src_ofs))
        if s.dst != "output":
            out.append(_put_header(s.dst_field) + struct.pack("!H", s.dst_ofs))
    return b"".join(out)


def make_learn(specs=(), **kw) -> "A.NxLearn":
    """An NxLearn with ``specs`` encoded (other fields as keywords)."""
    return A.NxLearn(data=pack_learn_specs(specs), **kw)


A.NxLearn.specs = property(learn_specs)

# ---------------------------------------------------------------- nat
NX_NAT_F_SRC, NX_NAT_F_DST, NX_NAT_F_PERSISTENT = 1, 2, 4
NX_NAT_F_PROTO_HASH, NX_NAT_F_PROTO_RANDOM = 8, 16
# (range_present bit, attribute, width in bytes), in wire order
_NAT_PARTS = ((1, "ipv4_min", 4), (2, "ipv4_max", 4), (4, "ipv6_min", 16),
              (8, "ipv6_max", 16), (16, "proto_min", 2), (32, "proto_max", 2))


@frozen
class NatRange:
    ipv4_min: int | None = None
    ipv4_max: int | None = None
    ipv6_min: int | None = None
    ipv6_max: int | None = None
    proto_min: int | None = None
    proto_max: int | None = None


def nat_range(action) -> NatRange:
    data, off, kw = action.data, 0, {}
    for bit, name, width in _NAT_PARTS:
        if action.range_present & bit:
            if off + width > len(data):
                raise OFPError("OFPBAC_BAD_ARGUMENT", detail="nat range truncated")
            kw[name] = int.from_bytes(data[off:off + width], "big")
            off += width
    return NatRange(**kw)


def make_nat(flags: int = 0, rng: NatRange = NatRange()) -> "A.NxNat":
    present, data = 0, b""
    for bit, name, width in _NAT_PARTS:
        v = getattr(rng, name)
        if v is not None:
            present |= bit
            data += v.to_bytes(width, "big")
    return A.NxNat(flags=flags, range_present=present, data=data)


A.NxNat.range = property(nat_range)
