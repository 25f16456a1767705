"""OpenFlow 1.5 OXS statistics (``ofp_oxs_stat``), as Open vSwitch's lib/ox-stat.c.

Theory of operation
-------------------
OpenFlow 1.5 replaced the fixed counters of flow stats entries, aggregate
replies and FLOW_REMOVED by a list of OXS TLVs: a ``{reserved: u16,
length: u16}`` header, then ``{class: u16, field: u7 + reserved bit,
length: u8, value}`` entries, then zeros up to a multiple of 8 (``length``
counts the header and the entries, not the padding).

Open vSwitch knows five statistics of class OFPXSC_OPENFLOW_BASIC (0x8002)
and always writes the ones it has in this order (``oxs_put_stats``):

=============  =====  ===========================================
field          bytes  value
=============  =====  ===========================================
duration (0)    8     ``sec << 32 | nsec``
idle_time (1)   8     ``sec << 32`` (OVS keeps whole seconds)
packet_count(4) 8     packets
byte_count (5)  8     bytes
flow_count (3)  4     flows
=============  =====  ===========================================

A statistic is left out when its value is all ones (OVS's "unknown":
``duration_sec``, ``idle_age`` and ``flow_count`` UINT32_MAX,
``packet_count``/``byte_count`` UINT64_MAX); decoding (``oxs_pull_stat``)
starts from all ones, fills what it finds and skips entries it does not
know (other classes or fields, experimenter entries, known fields of
another length), so decode then encode gives OVS's canonical form.

Public names: ``UNKNOWN32``, ``UNKNOWN64``, :func:`pack_stats`,
:func:`unpack_stats` (-> :class:`OxsStats`, next offset).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import OFPError

UNKNOWN32 = 0xFFFFFFFF
UNKNOWN64 = 0xFFFFFFFFFFFFFFFF

# Headers (class 0x8002, field << 9, length) of the five basic statistics.
OXS_DURATION = 0x80020008
OXS_IDLE_TIME = 0x80020208
OXS_FLOW_COUNT = 0x80020604
OXS_PACKET_COUNT = 0x80020808
OXS_BYTE_COUNT = 0x80020A08

_U32, _U64, _HDR = struct.Struct("!I"), struct.Struct("!Q"), struct.Struct("!HH")


class OxsStats(NamedTuple):
    """OVS's ``struct oxs_stats``: all ones = not present."""
    duration_sec: int = UNKNOWN32
    duration_nsec: int = UNKNOWN32
    idle_age: int = UNKNOWN32
    packet_count: int = UNKNOWN64
    byte_count: int = UNKNOWN64
    flow_count: int = UNKNOWN32


def pack_stats(duration_sec: int = UNKNOWN32, duration_nsec: int = UNKNOWN32,
               idle_age: int = UNKNOWN32, packet_count: int = UNKNOWN64,
               byte_count: int = UNKNOWN64, flow_count: int = UNKNOWN32) -> bytes:
    """``oxs_put_stats``: the ``ofp_oxs_stat`` with the known statistics, padded."""
    out = [b""]
    if duration_sec != UNKNOWN32:
        out.append(struct.pack("!IQ", OXS_DURATION, duration_sec << 32 | duration_nsec))
    if idle_age != UNKNOWN32:
        out.append(struct.pack("!IQ", OXS_IDLE_TIME, idle_age << 32))
    if packet_count != UNKNOWN64:
        out.append(struct.pack("!IQ", OXS_PACKET_COUNT, packet_count))
    if byte_count != UNKNOWN64:
        out.append(struct.pack("!IQ", OXS_BYTE_COUNT, byte_count))
    if flow_count != UNKNOWN32:
        out.append(struct.pack("!II", OXS_FLOW_COUNT, flow_count))
    n = 4 + sum(len(p) for p in out)
    out[0] = _HDR.pack(0, n)
    return b"".join(out) + bytes((-n) & 7)


def unpack_stats(buf, off: int, end: int | None = None) -> tuple[OxsStats, int]:
    """``oxs_pull_stat`` at ``off``: the statistics and the offset after the
    padded ``ofp_oxs_stat``.  Raises OFPBMC_BAD_LEN when it does not fit
    before ``end`` (default: the end of ``buf``)."""
    if end is None:
        end = len(buf)
    if end - off < 4:
        raise OFPError("OFPBMC_BAD_LEN", detail="OXS stats header truncated")
    length = _HDR.unpack_from(buf, off)[1]
    if length < 4:
        raise OFPError("OFPBMC_BAD_LEN", detail=f"OXS stats length {length}")
    nxt = off + ((length + 7) & ~7)
    if nxt > end:
        raise OFPError("OFPBMC_BAD_LEN", detail=f"OXS stats length {length} beyond the message")
    p, stop = off + 4, off + length
    dsec = dnsec = idle = flows = UNKNOWN32
    packets = bytes_ = UNKNOWN64
    while p < stop:
        if stop - p < 4:
            raise OFPError("OFPBMC_BAD_LEN", detail="partial OXS entry")
        hdr = _U32.unpack_from(buf, p)[0]
        hlen = 8 if hdr >> 16 == 0xFFFF else 4          # experimenter: 32-bit id follows
        plen = (hdr & 0xFF) - (hlen - 4)
        if plen < 0 or p + hlen > stop or p + hlen + plen > stop:
            raise OFPError("OFPBMC_BAD_LEN", detail="partial OXS entry")
        v = p + hlen
        if hdr == OXS_DURATION:
            d = _U64.unpack_from(buf, v)[0]
            dsec, dnsec = d >> 32, d & UNKNOWN32
        elif hdr == OXS_IDLE_TIME:
            idle = _U64.unpack_from(buf, v)[0] >> 32
        elif hdr == OXS_PACKET_COUNT:
            packets = _U64.unpack_from(buf, v)[0]
        elif hdr == OXS_BYTE_COUNT:
            bytes_ = _U64.unpack_from(buf, v)[0]
        elif hdr == OXS_FLOW_COUNT:
            flows = _U32.unpack_from(buf, v)[0]
        p = v + plen
    return OxsStats(dsec, dnsec, idle, packets, bytes_, flows), nxt
