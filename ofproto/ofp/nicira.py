"""Nicira (NX) and ONF extension messages and stats.

Theory of operation
-------------------
Vendor messages are registered under ``(version, OFPT_EXPERIMENTER,
vendor, subtype)`` and vendor stats under ``(version, OFPT_*STATS*,
0xffff, vendor, subtype)``; the dispatchers in :mod:`.multipart` route to
them.  Open vSwitch accepts NX messages in every version, so we register
them for all, except the flow monitor ones: NXST_FLOW_MONITOR and
NXT_FLOW_MONITOR_CANCEL/PAUSED/RESUMED exist in OF1.0-1.2 only, ONF's
(ONFST 1870, ONFT 1870-1872) in OF1.3 only, as in OVS's ofp-msgs.h (elsewhere
the dispatcher answers OFPBRC_BAD_SUBTYPE).  NXM matches inside NX messages
are counted by a ``match_len`` field and padded to 8 bytes before whatever
follows; ONF monitor messages carry an ofp_match instead (``match_len``
repeats its unpadded length) and instructions instead of actions.
"""

from __future__ import annotations

import struct

from .actions import pack_actions, unpack_actions
from .base import check_tlv_list, message, pack_prefix, prefix_len, stats_flags
from .errors import OFPError
from .header import ALL, OF13UP, Message, frozen, register
from .instructions import pack_instructions, unpack_instructions
from .layout import layout, pad, raw, u8, u16, u32, u64
from .match import OxmMatch, parse_tlvs
from .messages import BundleAdd, ofp14_bundle_ctrl_msg
from .groups import NxGroupMod  # noqa: F401  (registered there)
from .multipart import (FlowMonitorRequestEntry, FlowStats, FlowUpdate,
                        ofp_aggregate_stats_reply, unpack_ofp11_match, update_header)

NX = 0x00002320
ONF = 0x4F4E4600


def nxt(code):
    return (NX, code)


def nxst(code):
    return lambda v: (0xFFFF, NX, code)


def _nxm(buf, off, match_len):
    """Decode ``match_len`` bytes of NXM at ``off``; return (match, offset
    after the 8-byte padding)."""
    end = off + match_len
    if end > len(buf):
        raise OFPError("OFPBRC_BAD_LEN", detail="match_len overruns message")
    return OxmMatch(parse_tlvs(buf, off, end)), off + ((match_len + 7) & ~7)


def _pad8(b: bytes) -> bytes:
    return b + bytes((-len(b)) & 7)


# ---------------------------------------------------------------- simple NXT
nx_role_request = layout("nx_role_request", "role"/u32)
NxRoleRequest = message("NxRoleRequest", ALL, "EXPERIMENTER", nxt(10), nx_role_request)
NxRoleReply = message("NxRoleReply", ALL, "EXPERIMENTER", nxt(11), nx_role_request)
nx_set_flow_format = layout("nx_set_flow_format", "format"/u32)
NXFF_OPENFLOW10, NXFF_NXM = 0, 2
NxSetFlowFormat = message("NxSetFlowFormat", ALL, "EXPERIMENTER", nxt(12), nx_set_flow_format)
nx_flow_mod_table_id = layout("nx_flow_mod_table_id", "set"/u8, pad(7))
NxFlowModTableId = message("NxFlowModTableId", ALL, "EXPERIMENTER", nxt(15), nx_flow_mod_table_id)
nx_set_packet_in_format = layout("nx_set_packet_in_format", "format"/u32)
NxSetPacketInFormat = message("NxSetPacketInFormat", ALL, "EXPERIMENTER", nxt(16),
                              nx_set_packet_in_format)
NxFlowAge = message("NxFlowAge", ALL, "EXPERIMENTER", nxt(18))
nx_async_config = layout("nx_async_config", "packet_in_mask0"/u32, "packet_in_mask1"/u32,
                         "port_status_mask0"/u32, "port_status_mask1"/u32,
                         "flow_removed_mask0"/u32, "flow_removed_mask1"/u32)
NxSetAsyncConfig = message("NxSetAsyncConfig", ALL, "EXPERIMENTER", nxt(19), nx_async_config)
nx_controller_id = layout("nx_controller_id", pad(6), "controller_id"/u16)
NxSetControllerId = message("NxSetControllerId", ALL, "EXPERIMENTER", nxt(20), nx_controller_id)
# Flow monitor messages exist as NX ones in OF1.0-1.2 and as ONF ones in OF1.3
# (ofp-msgs.h); OF1.4 has its own (multipart.py).  Elsewhere: OFPBRC_BAD_SUBTYPE.
OF10_12, OF13 = (1, 2, 3), (4,)
nx_flow_monitor_cancel = layout("nx_flow_monitor_cancel", "id"/u32)
NxFlowMonitorCancel = message("NxFlowMonitorCancel", OF10_12, "EXPERIMENTER", nxt(21),
                              nx_flow_monitor_cancel)
NxFlowMonitorPaused = message("NxFlowMonitorPaused", OF10_12, "EXPERIMENTER", nxt(22))
NxFlowMonitorResumed = message("NxFlowMonitorResumed", OF10_12, "EXPERIMENTER", nxt(23))
NxTlvTableMod = message("NxTlvTableMod", ALL, "EXPERIMENTER", nxt(24),
                        layout("nx_tlv_table_mod", "command"/u16, pad(6)), tail="mappings")
NxTlvTableRequest = message("NxTlvTableRequest", ALL, "EXPERIMENTER", nxt(25))
NxTlvTableReply = message("NxTlvTableReply", ALL, "EXPERIMENTER", nxt(26),
                          layout("nx_tlv_table_reply", "max_option_space"/u32,
                                 "max_fields"/u16, pad(10)), tail="mappings")


def _check_nx_props(version, kw):
    check_tlv_list(kw["properties"], "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", "property")


NxAsyncConfig2 = message("NxAsyncConfig2", ALL, "EXPERIMENTER", nxt(27), None,
                         tail="properties", validate=_check_nx_props)
NxResume = message("NxResume", ALL, "EXPERIMENTER", nxt(28), None, tail="properties",
                   validate=_check_nx_props)
NxCtFlushZone = message("NxCtFlushZone", ALL, "EXPERIMENTER", nxt(29),
                        layout("nx_zone_id", pad(6), "zone_id"/u16))
NxPacketIn2 = message("NxPacketIn2", ALL, "EXPERIMENTER", nxt(30), None, tail="properties",
                      validate=_check_nx_props,
                      doc="NXT_PACKET_IN2: everything is in NXPINT_* properties.")
NxCtFlush = message("NxCtFlush", ALL, "EXPERIMENTER", nxt(32),
                    layout("nx_ct_flush", "zone_id"/u16, pad(6)), tail="properties")


# ---------------------------------------------------------------- NXT_FLOW_MOD
nx_flow_mod = layout("nx_flow_mod", "cookie"/u64, "command"/u16, "idle_timeout"/u16,
                     "hard_timeout"/u16, "priority"/u16, "buffer_id"/u32, "out_port"/u16,
                     "flags"/u16, "match_len"/u16, pad(6))
_nfm = struct.Struct("!QHHHHIHHH6x").unpack_from


@register(ALL, "EXPERIMENTER", *nxt(13))
@frozen
class NxFlowMod(Message):
    """NXT_FLOW_MOD: like OF1.0 FLOW_MOD with an NXM match; ``table_id`` is
    the high byte of ``command`` when NXT_FLOW_MOD_TABLE_ID is enabled."""
    cookie: int = 0
    table_id: int = 0
    command: int = 0
    idle_timeout: int = 0
    hard_timeout: int = 0
    priority: int = 0x8000
    buffer_id: int = 0xFFFFFFFF
    out_port: int = 0xFFFF
    flags: int = 0
    match: OxmMatch = OxmMatch()
    actions: tuple = ()
    NAME = "NxFlowMod"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        if len(buf) < 48:
            raise OFPError("OFPBRC_BAD_LEN", detail="nx_flow_mod truncated")
        ck, cmd, idle, hard, prio, bid, outp, flags, mlen = _nfm(buf, 16)
        m, off = _nxm(buf, 48, mlen)
        acts = unpack_actions(buf, off, len(buf), version)
        return cls._make(version=version, xid=xid, cookie=ck, table_id=cmd >> 8,
                         command=cmd & 0xFF, idle_timeout=idle, hard_timeout=hard,
                         priority=prio, buffer_id=bid, out_port=outp, flags=flags, match=m,
                         actions=acts)

    def _encode_body(self, key):
        nxm = self.match.pack_tlvs()
        return (pack_prefix(key, self) +
                nx_flow_mod.pack(self.cookie, (self.table_id << 8) | self.command,
                                 self.idle_timeout, self.hard_timeout, self.priority,
                                 self.buffer_id, self.out_port, self.flags, len(nxm)) +
                _pad8(nxm) + pack_actions(self.actions, self.version))


nx_flow_removed = layout("nx_flow_removed", "cookie"/u64, "priority"/u16, "reason"/u8,
                         "table_id"/u8, "duration_sec"/u32, "duration_nsec"/u32,
                         "idle_timeout"/u16, "match_len"/u16, "packet_count"/u64,
                         "byte_count"/u64)


@register(ALL, "EXPERIMENTER", *nxt(14))
@frozen
class NxFlowRemoved(Message):
    cookie: int = 0
    priority: int = 0
    reason: int = 0
    table_id: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    idle_timeout: int = 0
    packet_count: int = 0
    byte_count: int = 0
    match: OxmMatch = OxmMatch()
    NAME = "NxFlowRemoved"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        d = nx_flow_removed.parse_dict(buf, 16)
        m, off = _nxm(buf, 56, d.pop("match_len"))
        if off != len(buf):
            raise OFPError("OFPBRC_BAD_LEN", detail="nx_flow_removed length")
        return cls(version=version, xid=xid, match=m, **d)

    def _encode_body(self, key):
        nxm = self.match.pack_tlvs()
        return pack_prefix(key, self) + nx_flow_removed.pack(
            self.cookie, self.priority, self.reason, self.table_id, self.duration_sec,
            self.duration_nsec, self.idle_timeout, len(nxm), self.packet_count,
            self.byte_count) + _pad8(nxm)


nx_packet_in = layout("nx_packet_in", "buffer_id"/u32, "total_len"/u16, "reason"/u8,
                      "table_id"/u8, "cookie"/u64, "match_len"/u16, pad(6))


@register(ALL, "EXPERIMENTER", *nxt(17))
@frozen
class NxPacketIn(Message):
    buffer_id: int = 0xFFFFFFFF
    total_len: int = 0
    reason: int = 0
    table_id: int = 0
    cookie: int = 0
    match: OxmMatch = OxmMatch()
    data: bytes = b""
    NAME = "NxPacketIn"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        d = nx_packet_in.parse_dict(buf, 16)
        m, off = _nxm(buf, 40, d.pop("match_len"))
        if off + 2 > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", detail="nx_packet_in truncated")
        return cls(version=version, xid=xid, match=m, data=buf[off + 2:], **d)

    def _encode_body(self, key):
        nxm = self.match.pack_tlvs()
        return pack_prefix(key, self) + nx_packet_in.pack(
            self.buffer_id, self.total_len, self.reason, self.table_id, self.cookie,
            len(nxm)) + _pad8(nxm) + b"\0\0" + self.data


# ---------------------------------------------------------------- NXST_FLOW / AGGREGATE
nx_flow_stats_request = layout("nx_flow_stats_request", "out_port"/u16, "match_len"/u16,
                               "table_id"/u8, pad(3))


def _nx_flow_req(name, code):
    @register(ALL, "MULTIPART_REQUEST", nxst(code))
    @frozen
    class _Req(Message):
        flags: int = 0
        out_port: int = 0xFFFF
        table_id: int = 0xFF
        match: OxmMatch = OxmMatch()

        @classmethod
        def _decode(cls, key, version, xid, buf):
            off = prefix_len(key)
            outp, mlen, tid = nx_flow_stats_request.unpack(buf, off)
            m, end = _nxm(buf, off + 8, mlen)
            if end != len(buf):
                raise OFPError("OFPBRC_BAD_LEN", detail=f"{name} length")
            return cls(version=version, xid=xid, flags=stats_flags(key, buf), out_port=outp,
                       table_id=tid, match=m)

        def _encode_body(self, key):
            nxm = self.match.pack_tlvs()
            return pack_prefix(key, self) + nx_flow_stats_request.pack(
                self.out_port, len(nxm), self.table_id) + _pad8(nxm)
    _Req.__name__ = _Req.__qualname__ = _Req.NAME = name
    return _Req


NxFlowStatsRequest = _nx_flow_req("NxFlowStatsRequest", 0)
NxAggregateStatsRequest = _nx_flow_req("NxAggregateStatsRequest", 1)
NxAggregateStatsReply = message("NxAggregateStatsReply", ALL, "MULTIPART_REPLY", (nxst(1),),
                                ofp_aggregate_stats_reply, stats=True)
nx_flow_stats = layout("nx_flow_stats", "length"/u16, "table_id"/u8, pad(1),
                       "duration_sec"/u32, "duration_nsec"/u32, "priority"/u16,
                       "idle_timeout"/u16, "hard_timeout"/u16, "match_len"/u16,
                       "idle_age"/u16, "hard_age"/u16, "cookie"/u64, "packet_count"/u64,
                       "byte_count"/u64)


@register(ALL, "MULTIPART_REPLY", nxst(0))
@frozen
class NxFlowStatsReply(Message):
    flags: int = 0
    stats: tuple = ()
    NAME = "NxFlowStatsReply"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        off = prefix_len(key)
        out = []
        while off < len(buf):
            d = nx_flow_stats.parse_dict(buf, off)
            ln = d.pop("length")
            if ln < 48 or off + ln > len(buf) or ln % 8:
                raise OFPError("OFPBRC_BAD_LEN", detail=f"nx_flow_stats length {ln}")
            m, aoff = _nxm(buf, off + 48, d.pop("match_len"))
            if aoff > off + ln:
                raise OFPError("OFPBRC_BAD_LEN", detail="nx_flow_stats match overruns entry")
            acts = unpack_actions(buf, aoff, off + ln, version)
            out.append(FlowStats(match=m, actions=acts, **d))
            off += ln
        return cls(version=version, xid=xid, flags=stats_flags(key, buf), stats=tuple(out))

    def _encode_body(self, key):
        parts = []
        for fs in self.stats:
            nxm = fs.match.pack_tlvs()
            tail = _pad8(nxm) + pack_actions(fs.actions, self.version)
            parts.append(nx_flow_stats.pack(
                48 + len(tail), fs.table_id, fs.duration_sec, fs.duration_nsec, fs.priority,
                fs.idle_timeout, fs.hard_timeout, len(nxm), fs.idle_age, fs.hard_age,
                fs.cookie, fs.packet_count, fs.byte_count) + tail)
        return pack_prefix(key, self) + b"".join(parts)


# ---------------------------------------------------------------- NX group stats, monitors
nx_group_req = layout("nx_group_req", "group_id"/u32, pad(4))
for _n, _code, _lay in (("NxGroupStats", 7, nx_group_req), ("NxGroupDesc", 8, nx_group_req),
                        ("NxGroupFeatures", 9, None)):
    globals()[_n + "Request"] = message(_n + "Request", ALL, "MULTIPART_REQUEST",
                                        (nxst(_code),), _lay, stats=True)
    if _n == "NxGroupFeatures":
        globals()[_n + "Reply"] = message(_n + "Reply", ALL, "MULTIPART_REPLY", (nxst(_code),),
                                          None, tail="body", stats=True)
for _n, _code in (("NxIpfixBridge", 3), ("NxIpfixFlow", 4)):
    globals()[_n + "Request"] = message(_n + "Request", ALL, "MULTIPART_REQUEST",
                                        (nxst(_code),), stats=True)
    globals()[_n + "Reply"] = message(_n + "Reply", ALL, "MULTIPART_REPLY", (nxst(_code),),
                                      None, tail="body", stats=True)

# ---------------------------------------------------------------- ONF extensions (OF1.3)
OnfBundleControl = message("OnfBundleControl", OF13UP, "EXPERIMENTER", (ONF, 2300),
                           ofp14_bundle_ctrl_msg, tail="properties", validate=_check_nx_props)


@register(OF13UP, "EXPERIMENTER", ONF, 2301)
@frozen
class OnfBundleAdd(BundleAdd):
    NAME = "OnfBundleAdd"


onf_role_status = layout("onf_role_status", "role"/u32, "reason"/u8, pad(3),
                         "generation_id"/u64)


def _check_onf_role(version, kw):
    if kw["reason"] > 2:
        raise OFPError("NXBRC_BAD_REASON", detail=f"role status reason {kw['reason']}")


OnfRoleStatus = message("OnfRoleStatus", OF13UP, "EXPERIMENTER", (ONF, 1911), onf_role_status,
                        tail="properties", validate=_check_onf_role)


def onfst(code):
    return lambda v: (0xFFFF, ONF, code)


OnfFlowMonitorCancel = message("OnfFlowMonitorCancel", OF13, "EXPERIMENTER", (ONF, 1870),
                               nx_flow_monitor_cancel)
OnfFlowMonitorPaused = message("OnfFlowMonitorPaused", OF13, "EXPERIMENTER", (ONF, 1871))
OnfFlowMonitorResumed = message("OnfFlowMonitorResumed", OF13, "EXPERIMENTER", (ONF, 1872))


# ---------------------------------------------------------------- flow monitors
# NXST_FLOW_MONITOR (OF1.0-1.2) and ONFST_FLOW_MONITOR (OF1.3) share their
# shapes; they differ in the match (NXM counted by match_len, or an ofp_match
# whose unpadded length match_len repeats), the request's out_port width and the
# update's actions (NX actions, or ONF instructions).  OF1.4's are in multipart.py.
nx_flow_monitor_request = layout("nx_flow_monitor_request", "id"/u32, "flags"/u16,
                                 "out_port"/u16, "match_len"/u16, "table_id"/u8,
                                 "zeros"/raw(5))
onf_flow_monitor_request = layout("onf_flow_monitor_request", "id"/u32, "flags"/u16,
                                  "match_len"/u16, "out_port"/u32, "table_id"/u8,
                                  "zeros"/raw(3))
nx_flow_update_full = layout("nx_flow_update_full", "length"/u16, "event"/u16,
                             "reason"/u16, "priority"/u16, "idle_timeout"/u16,
                             "hard_timeout"/u16, "match_len"/u16, "table_id"/u8, pad(1),
                             "cookie"/u64)
NXFME_ABBREV = 3


def _monitor_family(onf: bool):
    """The request and reply classes of the NX (``onf`` False) or ONF family."""
    name = "Onf" if onf else "Nx"
    versions, sub = (OF13, onfst(1870)) if onf else (OF10_12, nxst(2))
    req_lay = onf_flow_monitor_request if onf else nx_flow_monitor_request

    def unpack_match(buf, off, mlen):
        if onf:
            return unpack_ofp11_match(buf, off)
        return _nxm(buf, off, mlen)

    def pack_match(match):
        match = match or OxmMatch()
        if onf:
            b = match.pack_oxm()
            return b, 4 + len(match.pack_tlvs())
        nxm = match.pack_tlvs()
        return _pad8(nxm), len(nxm)

    @register(versions, "MULTIPART_REQUEST", sub)
    @frozen
    class Req(Message):
        flags: int = 0
        requests: tuple = ()

        @classmethod
        def _decode(cls, key, version, xid, buf):
            off, out = prefix_len(key), []
            while off < len(buf):
                if len(buf) - off < 16:
                    raise OFPError("OFPBRC_BAD_LEN", detail=f"{name} monitor request truncated")
                d = req_lay.parse_dict(buf, off)
                m, off = unpack_match(buf, off + 16, d.pop("match_len"))
                d["zeros"] = int.from_bytes(d["zeros"], "big")
                out.append(FlowMonitorRequestEntry(match=m, **d))
            return cls(version=version, xid=xid, flags=stats_flags(key, buf),
                       requests=tuple(out))

        def _encode_body(self, key):
            parts = []
            for r in self.requests:
                m, mlen = pack_match(r.match)
                z = r.zeros.to_bytes(3 if onf else 5, "big")
                parts.append((req_lay.pack(r.id, r.flags, mlen, r.out_port, r.table_id, z)
                              if onf else
                              req_lay.pack(r.id, r.flags, r.out_port, mlen, r.table_id, z)) + m)
            return pack_prefix(key, self) + b"".join(parts)

    @register(versions, "MULTIPART_REPLY", sub)
    @frozen
    class Reply(Message):
        flags: int = 0
        updates: tuple = ()

        @classmethod
        def _decode(cls, key, version, xid, buf):
            off, end, out = prefix_len(key), len(buf), []
            while off < end:
                ln, event = update_header(buf, off, end, f"{name}ST_FLOW_MONITOR reply")
                if event == NXFME_ABBREV:
                    if ln != 8:
                        raise OFPError("OFPBRC_BAD_LEN", detail=f"flow update length {ln}")
                    out.append(FlowUpdate(event=event,
                                          xid=struct.unpack_from("!I", buf, off + 4)[0]))
                elif event < NXFME_ABBREV:
                    if ln < 24:
                        raise OFPError("OFPBRC_BAD_LEN", detail=f"flow update length {ln}")
                    d = nx_flow_update_full.parse_dict(buf, off)
                    del d["length"]
                    m, aoff = unpack_match(buf, off + 24, d.pop("match_len"))
                    if aoff > off + ln:
                        raise OFPError("OFPBRC_BAD_LEN", detail="flow update match overruns it")
                    if onf:
                        d["instructions"] = unpack_instructions(buf, aoff, off + ln, version)
                    else:
                        d["actions"] = unpack_actions(buf, aoff, off + ln, version)
                    out.append(FlowUpdate(match=m, **d))
                else:
                    raise OFPError("NXBRC_FM_BAD_EVENT", detail=f"flow update event {event}")
                off += ln
            return cls(version=version, xid=xid, flags=stats_flags(key, buf),
                       updates=tuple(out))

        def _encode_body(self, key):
            parts = []
            for u in self.updates:
                if u.event == NXFME_ABBREV:
                    parts.append(struct.pack("!HHI", 8, u.event, u.xid))
                    continue
                m, mlen = pack_match(u.match)
                tail = m + (pack_instructions(u.instructions, self.version) if onf
                            else pack_actions(u.actions, self.version))
                parts.append(nx_flow_update_full.pack(
                    24 + len(tail), u.event, u.reason, u.priority, u.idle_timeout,
                    u.hard_timeout, mlen, u.table_id, u.cookie) + tail)
            return pack_prefix(key, self) + b"".join(parts)

    for cls, kind in ((Req, "Request"), (Reply, "Reply")):
        cls.__name__ = cls.__qualname__ = cls.NAME = f"{name}FlowMonitor{kind}"
        cls.__doc__ = f"{name.upper()}ST_FLOW_MONITOR {kind.lower()}."
    return Req, Reply


NxFlowMonitorRequest, NxFlowMonitorReply = _monitor_family(False)
OnfFlowMonitorRequest, OnfFlowMonitorReply = _monitor_family(True)
