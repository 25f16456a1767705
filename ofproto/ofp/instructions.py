"""OF1.1+ instructions (goto_table, write_metadata, write/apply/clear_actions, meter).

Each instruction is ``ofp_instruction {type u16, len u16}`` plus a fixed
body; the two action-carrying ones hold an action list.  Unknown types are
OFPBIC_UNKNOWN_INST, bad lengths OFPBIC_BAD_LEN, a repeated type
OFPBIC_DUP_INST (as OVS checks in ``ofpacts_pull_openflow_instructions``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .actions import pack_actions, unpack_actions
from .errors import OFPError
from .layout import layout, pad, u8, u32, u64

_hdr = struct.Struct("!HH")

ofp_instruction_goto_table = layout("ofp_instruction_goto_table", "table_id"/u8, pad(3))
ofp_instruction_write_metadata = layout("ofp_instruction_write_metadata", pad(4),
                                        "metadata"/u64, "metadata_mask"/u64)
ofp_instruction_actions = layout("ofp_instruction_actions", pad(4))
ofp_instruction_meter = layout("ofp_instruction_meter", "meter_id"/u32)


@dataclass(frozen=True, slots=True)
class GotoTable:
    table_id: int


@dataclass(frozen=True, slots=True)
class WriteMetadata:
    metadata: int
    metadata_mask: int = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True, slots=True)
class WriteActions:
    actions: tuple = ()


@dataclass(frozen=True, slots=True)
class ApplyActions:
    actions: tuple = ()


@dataclass(frozen=True, slots=True)
class ClearActions:
    pass


@dataclass(frozen=True, slots=True)
class MeterInstruction:
    meter_id: int


OFPIT = {GotoTable: 1, WriteMetadata: 2, WriteActions: 3, ApplyActions: 4,
         ClearActions: 5, MeterInstruction: 6}
_FIXED = {1: (GotoTable, ofp_instruction_goto_table),
          2: (WriteMetadata, ofp_instruction_write_metadata),
          5: (ClearActions, ofp_instruction_actions),
          6: (MeterInstruction, ofp_instruction_meter)}


_DECODED: dict = {}         # (instruction bytes, version) -> decoded tuple (all frozen)


def unpack_instructions(buf: bytes, off: int, end: int, version: int) -> tuple:
    """Decode ``buf[off:end]``; equal instruction lists are decoded once."""
    if end > len(buf) or end - off > 256:
        return _unpack_instructions(buf, off, end, version)
    key = (buf[off:end], version)
    hit = _DECODED.get(key)
    if hit is None:
        hit = _unpack_instructions(buf, off, end, version)
        if len(_DECODED) >= 4096:
            _DECODED.clear()
        _DECODED[key] = hit
    return hit


def _unpack_instructions(buf: bytes, off: int, end: int, version: int) -> tuple:
    if (end - off) % 8:
        raise OFPError("OFPBIC_BAD_LEN", detail="instructions length not a multiple of 8")
    out = []
    seen = set()
    while off < end:
        if end - off < 8:
            raise OFPError("OFPBIC_BAD_LEN", detail="truncated instruction")
        itype, ilen = _hdr.unpack_from(buf, off)
        if ilen < 8 or ilen % 8 or off + ilen > end:
            raise OFPError("OFPBIC_BAD_LEN", detail=f"instruction {itype} length {ilen}")
        if itype in seen:
            raise OFPError("OFPBIC_DUP_INST", detail=f"instruction {itype} twice")
        seen.add(itype)
        if itype in (3, 4):
            acts = unpack_actions(buf, off + 8, off + ilen, version)
            out.append((WriteActions if itype == 3 else ApplyActions)(acts))
        elif itype in _FIXED:
            cls, lay = _FIXED[itype]
            if ilen != 4 + lay.size:
                raise OFPError("OFPBIC_BAD_LEN", detail=f"instruction {itype} length {ilen}")
            if itype == 6 and version < 4:
                raise OFPError("OFPBIC_UNKNOWN_INST", detail="meter before OF1.3")
            out.append(cls(*lay.unpack(buf, off + 4)))
        else:
            raise OFPError("OFPBIC_UNKNOWN_INST", detail=f"instruction type {itype}")
        off += ilen
    return tuple(out)


def pack_instructions(insts, version: int) -> bytes:
    parts = []
    for i in insts:
        t = OFPIT[type(i)]
        if t in (3, 4):
            body = bytes(4) + pack_actions(i.actions, version)
        elif t == 1:
            body = ofp_instruction_goto_table.pack(i.table_id)
        elif t == 2:
            body = ofp_instruction_write_metadata.pack(i.metadata, i.metadata_mask)
        elif t == 5:
            body = bytes(4)
        else:
            body = ofp_instruction_meter.pack(i.meter_id)
        parts.append(_hdr.pack(t, 4 + len(body)) + body)
    return b"".join(parts)
