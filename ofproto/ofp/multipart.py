"""Stats (OF1.0) and multipart (OF1.1+) messages, and the dispatchers.

Theory of operation
-------------------
OFPT_STATS_*/OFPT_MULTIPART_* and OFPT_EXPERIMENTER are registered as
*dispatchers*: they read the stats type (and vendor/experimenter id and
subtype) and re-enter the registry with the longer key; the concrete class
then decodes its body after the prefix (:func:`.base.prefix_len`).  The
same class serves OF1.0 stats and OF1.1+ multipart where the body layout
is shared; ``flags`` (OFPSF_REPLY_MORE) is a field of every stats class.

Request/reply bodies with one fixed structure are typed; replies that are
lists of entries either parse the entries into dataclasses (flow stats,
port descriptions, flow monitor requests and updates: what ovs-ofctl and
the switch need) or keep the body as validated bytes (the long tail).  The
flow monitor entries (:class:`FlowMonitorRequestEntry`, :class:`FlowUpdate`)
also serve the NX and ONF forms (:mod:`.nicira`).
"""

from __future__ import annotations

import struct

from .actions import pack_actions, unpack_actions
from .base import check_tlv_list, message, pack_prefix, prefix_len, stats_flags
from .errors import OFPError
from .header import ALL, OF10, OF11UP, OF13UP, OF14UP, OF15UP, Message, frozen, lookup, register
from .instructions import pack_instructions, unpack_instructions
from .layout import layout, pad, raw, u8, u16, u32, u64
from .match import Match10, OxmMatch, parse_tlvs
from .messages import pack_port, unpack_ports
from .oxs import UNKNOWN32, pack_stats, unpack_stats
from .bodies import *  # noqa: F401,F403  (typed list replies)
from .groups import *  # noqa: F401,F403

NX_VENDOR_ID = 0x00002320
ONF_VENDOR_ID = 0x4F4E4600
_KNOWN_VENDORS = (NX_VENDOR_ID, ONF_VENDOR_ID)


# ---------------------------------------------------------------- dispatchers
def _dispatch(key, version, xid, buf, stats):
    if stats:
        base = 12 if version == 1 else 16
        if len(buf) < base:
            raise OFPError("OFPBRC_BAD_LEN", detail="stats header truncated")
        stype = struct.unpack_from("!H", buf, 8)[0]
        k = key + (stype,)
        if stype == 0xFFFF:
            if len(buf) < base + 8:
                raise OFPError("OFPBRC_BAD_LEN", detail="vendor stats header truncated")
            vendor, sub = struct.unpack_from("!II", buf, base)
            k = k + (vendor, sub)
        cls = lookup(k)
        if cls is None:
            if stype != 0xFFFF:
                raise OFPError("OFPBRC_BAD_STAT", detail=f"stats type {stype}")
            raise OFPError("OFPBRC_BAD_VENDOR" if vendor not in _KNOWN_VENDORS
                           else "OFPBRC_BAD_SUBTYPE", detail=f"vendor {vendor:#x}/{sub}")
    else:
        if len(buf) < 16:
            raise OFPError("OFPBRC_BAD_LEN", detail="experimenter header truncated")
        vendor, sub = struct.unpack_from("!II", buf, 8)
        k = key + (vendor, sub)
        cls = lookup(k)
        if cls is None:
            raise OFPError("OFPBRC_BAD_VENDOR" if vendor not in _KNOWN_VENDORS
                           else "OFPBRC_BAD_SUBTYPE", detail=f"vendor {vendor:#x}/{sub}")
    return cls._decode(k, version, xid, buf)


for _name, _stats in (("EXPERIMENTER", False), ("MULTIPART_REQUEST", True),
                      ("MULTIPART_REPLY", True)):
    _cls = type(f"_{_name}Dispatch", (), {
        "_decode": classmethod(lambda cls, key, v, x, b, _s=_stats: _dispatch(key, v, x, b, _s))})
    register(ALL, _name)(_cls)


def mp(v10, v11):
    """Stats sub-key per version: OF1.0 code ``v10`` else ``v11`` (None = absent)."""
    return lambda v: None if (v10 if v == 1 else v11) is None else ((v10 if v == 1 else v11),)


# ---------------------------------------------------------------- desc
DescStatsRequest = message("DescStatsRequest", ALL, "MULTIPART_REQUEST", (mp(0, 0),), stats=True)
ofp_desc = layout("ofp_desc", "mfr_desc"/raw(256), "hw_desc"/raw(256), "sw_desc"/raw(256),
                  "serial_num"/raw(32), "dp_desc"/raw(256))
DescStatsReply = message("DescStatsReply", ALL, "MULTIPART_REPLY", (mp(0, 0),), ofp_desc,
                         stats=True)

# ---------------------------------------------------------------- flow / aggregate
ofp10_flow_stats_request = layout("ofp10_flow_stats_request", "table_id"/u8, pad(1),
                                  "out_port"/u16)
ofp11_flow_stats_request = layout("ofp11_flow_stats_request", "table_id"/u8, pad(3),
                                  "out_port"/u32, "out_group"/u32, pad(4), "cookie"/u64,
                                  "cookie_mask"/u64)


def _flow_req_cls(name, code):
    @register(ALL, "MULTIPART_REQUEST", mp(code, code))
    @frozen
    class _Req(Message):
        flags: int = 0
        table_id: int = 0xFF
        out_port: int = 0
        out_group: int = 0xFFFFFFFF
        cookie: int = 0
        cookie_mask: int = 0
        match: object = None

        @classmethod
        def _decode(cls, key, version, xid, buf):
            off = prefix_len(key)
            fl = stats_flags(key, buf)
            if version == 1:
                m = Match10.unpack(buf, off)
                t, p = ofp10_flow_stats_request.unpack(buf, off + 40)
                if len(buf) != off + 44:
                    raise OFPError("OFPBRC_BAD_LEN", detail="flow stats request")
                return cls(version=1, xid=xid, flags=fl, table_id=t, out_port=p, match=m)
            t, p, g, c, cm = ofp11_flow_stats_request.unpack(buf, off)
            m, end = OxmMatch.unpack_oxm(buf, off + 32)
            if end != len(buf):
                raise OFPError("OFPBRC_BAD_LEN", detail="flow stats request")
            return cls(version=version, xid=xid, flags=fl, table_id=t, out_port=p,
                       out_group=g, cookie=c, cookie_mask=cm, match=m)

        def _encode_body(self, key):
            pre = pack_prefix(key, self)
            if self.version == 1:
                return pre + (self.match or Match10()).pack() + \
                    ofp10_flow_stats_request.pack(self.table_id, self.out_port)
            return pre + ofp11_flow_stats_request.pack(
                self.table_id, self.out_port, self.out_group, self.cookie,
                self.cookie_mask) + (self.match or OxmMatch()).pack_oxm()
    _Req.__name__ = _Req.__qualname__ = name
    _Req.NAME = name
    return _Req


FlowStatsRequest = _flow_req_cls("FlowStatsRequest", 1)
AggregateStatsRequest = _flow_req_cls("AggregateStatsRequest", 2)
ofp_aggregate_stats_reply = layout("ofp_aggregate_stats_reply", "packet_count"/u64,
                                   "byte_count"/u64, "flow_count"/u32, pad(4))


@register(ALL, "MULTIPART_REPLY", mp(2, 2))
@frozen
class AggregateStatsReply(Message):
    """OFPST_AGGREGATE reply.  OF1.5 carries the counters as OXS statistics
    (:mod:`.oxs`: packet_count, byte_count, flow_count; all ones = absent)."""
    flags: int = 0
    packet_count: int = 0
    byte_count: int = 0
    flow_count: int = 0
    NAME = "AggregateStatsReply"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        off = prefix_len(key)
        if version >= 6:
            st, end = unpack_stats(buf, off)
            pk, by, n = st.packet_count, st.byte_count, st.flow_count
        else:
            pk, by, n = ofp_aggregate_stats_reply.unpack(buf, off)
            end = off + ofp_aggregate_stats_reply.size
        if end != len(buf):
            raise OFPError("OFPBRC_BAD_LEN",
                           detail=f"aggregate reply: {len(buf) - end} extra bytes")
        return cls(version=version, xid=xid, flags=stats_flags(key, buf), packet_count=pk,
                   byte_count=by, flow_count=n)

    def _encode_body(self, key):
        if self.version >= 6:
            return pack_prefix(key, self) + pack_stats(packet_count=self.packet_count,
                                                       byte_count=self.byte_count,
                                                       flow_count=self.flow_count)
        return pack_prefix(key, self) + ofp_aggregate_stats_reply.pack(
            self.packet_count, self.byte_count, self.flow_count)


ofp10_flow_stats = layout("ofp10_flow_stats", "length"/u16, "table_id"/u8, pad(1))
ofp10_flow_stats2 = layout("ofp10_flow_stats2", "duration_sec"/u32, "duration_nsec"/u32,
                           "priority"/u16, "idle_timeout"/u16, "hard_timeout"/u16, pad(6),
                           "cookie"/u64, "packet_count"/u64, "byte_count"/u64)
ofp11_flow_stats = layout("ofp11_flow_stats", "length"/u16, "table_id"/u8, pad(1),
                          "duration_sec"/u32, "duration_nsec"/u32, "priority"/u16,
                          "idle_timeout"/u16, "hard_timeout"/u16, "flags"/u16,
                          "importance"/u16, pad(2), "cookie"/u64, "packet_count"/u64,
                          "byte_count"/u64)
ofp15_flow_desc = layout("ofp15_flow_desc", "length"/u16, pad(2), "table_id"/u8, pad(1),
                         "priority"/u16, "idle_timeout"/u16, "hard_timeout"/u16, "flags"/u16,
                         "importance"/u16, "cookie"/u64)


@frozen
class FlowStats:
    """One flow entry of a flow stats reply (OF1.0, OF1.1+ or NXST_FLOW).
    ``idle_age``/``hard_age`` are NXST_FLOW's (+1 encoded; 0 = unknown).

    OF1.5 (``ofp15_flow_desc``) carries the statistics as OXS (:mod:`.oxs`):
    duration, idle_time (here ``idle_age``, +1 encoded as NXST_FLOW's),
    packet_count, byte_count; an absent one decodes as OVS's all ones
    (``duration_sec``/``duration_nsec`` 0xffffffff, counts 2**64-1,
    ``idle_age`` 0) and is left out when encoded.  No ``hard_age``."""
    table_id: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    priority: int = 0x8000
    idle_timeout: int = 0
    hard_timeout: int = 0
    flags: int = 0
    importance: int = 0
    cookie: int = 0
    packet_count: int = 0
    byte_count: int = 0
    idle_age: int = 0
    hard_age: int = 0
    match: object = None
    actions: tuple = ()
    instructions: tuple = ()


def _unpack_flow_stats(buf, off, end, version):
    out = []
    while off < end:
        if end - off < 4:
            raise OFPError("OFPBRC_BAD_LEN", detail="flow stats truncated")
        ln = struct.unpack_from("!H", buf, off)[0]
        if ln < (88 if version == 1 else 40 if version >= 6 else 56) or off + ln > end or ln % 8:
            raise OFPError("OFPBRC_BAD_LEN", detail=f"flow stats length {ln}")
        if version >= 6:
            d = ofp15_flow_desc.parse_dict(buf, off)
            del d["length"]
            m, moff = OxmMatch.unpack_oxm(buf, off + 24)
            if moff > off + ln:
                raise OFPError("OFPBRC_BAD_LEN", detail="flow stats match beyond its entry")
            st, moff = unpack_stats(buf, moff, off + ln)
            insts = unpack_instructions(buf, moff, off + ln, version)
            out.append(FlowStats(match=m, instructions=insts, duration_sec=st.duration_sec,
                                 duration_nsec=st.duration_nsec, packet_count=st.packet_count,
                                 byte_count=st.byte_count,
                                 idle_age=0 if st.idle_age == UNKNOWN32 else st.idle_age + 1,
                                 **d))
        elif version == 1:
            _, tid = ofp10_flow_stats.unpack(buf, off)
            m = Match10.unpack(buf, off + 4)
            d = ofp10_flow_stats2.parse_dict(buf, off + 44)
            acts = unpack_actions(buf, off + 88, off + ln, 1)
            out.append(FlowStats(table_id=tid, match=m, actions=acts, **d))
        else:
            d = ofp11_flow_stats.parse_dict(buf, off)
            del d["length"]
            if version < 5:
                d["importance"] = 0
            m, moff = OxmMatch.unpack_oxm(buf, off + 48)
            insts = unpack_instructions(buf, moff, off + ln, version)
            out.append(FlowStats(match=m, instructions=insts, **d))
        off += ln
    return tuple(out)


def _pack_flow_stats(fs: FlowStats, version):
    if version == 1:
        acts = pack_actions(fs.actions, 1)
        return (ofp10_flow_stats.pack(88 + len(acts), fs.table_id) + (fs.match or Match10()).pack()
                + ofp10_flow_stats2.pack(fs.duration_sec, fs.duration_nsec, fs.priority,
                                         fs.idle_timeout, fs.hard_timeout, fs.cookie,
                                         fs.packet_count, fs.byte_count) + acts)
    if version >= 6:
        tail = ((fs.match or OxmMatch()).pack_oxm()
                + pack_stats(fs.duration_sec, fs.duration_nsec,
                             fs.idle_age - 1 if fs.idle_age else UNKNOWN32,
                             fs.packet_count, fs.byte_count)
                + pack_instructions(fs.instructions, version))
        return ofp15_flow_desc.pack(24 + len(tail), fs.table_id, fs.priority, fs.idle_timeout,
                                    fs.hard_timeout, fs.flags, fs.importance, fs.cookie) + tail
    tail = (fs.match or OxmMatch()).pack_oxm() + pack_instructions(fs.instructions, version)
    return ofp11_flow_stats.pack(48 + len(tail), fs.table_id, fs.duration_sec, fs.duration_nsec,
                                 fs.priority, fs.idle_timeout, fs.hard_timeout, fs.flags,
                                 fs.importance if version >= 5 else 0, fs.cookie,
                                 fs.packet_count, fs.byte_count) + tail


@register(ALL, "MULTIPART_REPLY", mp(1, 1))
@frozen
class FlowStatsReply(Message):
    flags: int = 0
    stats: tuple = ()
    NAME = "FlowStatsReply"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        return cls(version=version, xid=xid, flags=stats_flags(key, buf),
                   stats=_unpack_flow_stats(buf, prefix_len(key), len(buf), version))

    def _encode_body(self, key):
        return pack_prefix(key, self) + b"".join(_pack_flow_stats(s, self.version)
                                                 for s in self.stats)


# ---------------------------------------------------------------- ports
ofp10_port_stats_request = layout("ofp10_port_stats_request", "port_no"/u16, pad(6))
ofp11_port_stats_request = layout("ofp11_port_stats_request", "port_no"/u32, pad(4))
_PSR = {1: ofp10_port_stats_request, **{v: ofp11_port_stats_request for v in OF11UP}}
PortStatsRequest = message("PortStatsRequest", ALL, "MULTIPART_REQUEST", (mp(4, 4),), _PSR,
                           stats=True)
PortDescRequest = message("PortDescRequest", ALL, "MULTIPART_REQUEST", (mp(13, 13),),
                          {v: (ofp11_port_stats_request if v >= 6 else None) for v in ALL},
                          stats=True, doc="OF1.5 adds port_no; OF1.0 is OVS's extension 13.")


@register(ALL, "MULTIPART_REPLY", mp(13, 13))
@frozen
class PortDescReply(Message):
    flags: int = 0
    ports: tuple = ()
    NAME = "PortDescReply"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        return cls(version=version, xid=xid, flags=stats_flags(key, buf),
                   ports=unpack_ports(buf, prefix_len(key), len(buf), version))

    def _encode_body(self, key):
        return pack_prefix(key, self) + b"".join(pack_port(p, self.version) for p in self.ports)


# ---------------------------------------------------------------- tables, queues, the rest
TableStatsRequest = message("TableStatsRequest", ALL, "MULTIPART_REQUEST", (mp(3, 3),),
                            stats=True)
ofp10_queue_stats_request = layout("ofp10_queue_stats_request", "port_no"/u16, pad(2),
                                   "queue_id"/u32)
ofp11_queue_stats_request = layout("ofp11_queue_stats_request", "port_no"/u32,
                                   "queue_id"/u32)
QueueStatsRequest = message("QueueStatsRequest", ALL, "MULTIPART_REQUEST", (mp(5, 5),),
                            {1: ofp10_queue_stats_request,
                             **{v: ofp11_queue_stats_request for v in OF11UP}}, stats=True)
ofp11_group_stats_request = layout("ofp11_group_stats_request", "group_id"/u32, pad(4))
GroupStatsRequest = message("GroupStatsRequest", OF11UP, "MULTIPART_REQUEST", (mp(None, 6),),
                            ofp11_group_stats_request, stats=True)
GroupDescRequest = message("GroupDescRequest", OF11UP, "MULTIPART_REQUEST", (mp(None, 7),),
                           {v: (ofp11_group_stats_request if v >= 6 else None) for v in OF11UP},
                           stats=True)
GroupFeaturesRequest = message("GroupFeaturesRequest", OF11UP, "MULTIPART_REQUEST",
                               (mp(None, 8),), stats=True)
ofp12_group_features = layout("ofp12_group_features", "types"/u32, "capabilities"/u32,
                              "max_groups0"/u32, "max_groups1"/u32, "max_groups2"/u32,
                              "max_groups3"/u32, "actions0"/u32, "actions1"/u32,
                              "actions2"/u32, "actions3"/u32)
GroupFeaturesReply = message("GroupFeaturesReply", OF11UP, "MULTIPART_REPLY", (mp(None, 8),),
                             ofp12_group_features, stats=True)
ofp13_meter_multipart_request = layout("ofp13_meter_multipart_request", "meter_id"/u32, pad(4))
for _n, _code in (("Meter", 9), ("MeterConfig", 10)):
    globals()[f"{_n}StatsRequest"] = message(f"{_n}StatsRequest", OF13UP, "MULTIPART_REQUEST",
                                             (mp(None, _code),), ofp13_meter_multipart_request,
                                             stats=True)
MeterFeaturesRequest = message("MeterFeaturesRequest", OF13UP, "MULTIPART_REQUEST",
                               (mp(None, 11),), stats=True)
ofp13_meter_features = layout("ofp13_meter_features", "max_meter"/u32, "band_types"/u32,
                              "capabilities"/u32, "max_bands"/u8, "max_color"/u8, pad(2))
MeterFeaturesReply = message("MeterFeaturesReply", OF13UP, "MULTIPART_REPLY", (mp(None, 11),),
                             ofp13_meter_features, stats=True)
TableDescRequest = message("TableDescRequest", OF14UP, "MULTIPART_REQUEST", (mp(None, 14),),
                           stats=True)
TableDescReply = message("TableDescReply", OF14UP, "MULTIPART_REPLY", (mp(None, 14),), None,
                         tail="body", stats=True)
QueueDescRequest = message("QueueDescRequest", OF14UP, "MULTIPART_REQUEST", (mp(None, 15),),
                           ofp11_queue_stats_request, stats=True)


def _check_queue_desc(version, kw):
    body = kw["body"]
    for off, ln in check_tlv_list(body, "!IIH", 2, 16, 1, "OFPBRC_BAD_LEN", "queue desc"):
        check_tlv_list(body[off + 16:off + ln], "!HH", 1, 4, 8, "OFPBPC_BAD_LEN",
                       "queue property")


QueueDescReply = message("QueueDescReply", OF14UP, "MULTIPART_REPLY", (mp(None, 15),), None,
                         tail="body", stats=True, validate=_check_queue_desc)


# ---------------------------------------------------------------- flow monitors
@frozen
class FlowMonitorRequestEntry:
    """One monitor of a flow monitor request, in any of its three wire forms:
    NXST_FLOW_MONITOR (OF1.0-1.2: 16-bit ``out_port``, NXM match),
    ONFST_FLOW_MONITOR (OF1.3: 32-bit ``out_port``, ofp_match) and
    OFPMP_FLOW_MONITOR (OF1.4+: also ``out_group`` and ``command``).
    ``flags`` are the family's own bits; ``zeros`` the reserved bytes
    (NX 5, ONF 3) as an integer, which must be 0 (checked above the codec,
    as OVS checks them after the flags)."""
    id: int = 0
    flags: int = 0
    out_port: int = 0xFFFFFFFF
    out_group: int = 0xFFFFFFFF
    table_id: int = 0xFF
    command: int = 0
    zeros: int = 0
    match: object = None


@frozen
class FlowUpdate:
    """One entry of a flow monitor reply (a flow update).  ``event`` is the
    family's number: NX/ONF ADDED 0, DELETED 1, MODIFIED 2, ABBREV 3;
    OF1.4 INITIAL 0, ADDED 1, REMOVED 2, MODIFIED 3, ABBREV 4, PAUSED 5,
    RESUMED 6.  ABBREV carries only ``xid``, PAUSED/RESUMED nothing; the
    others the flow: NX with NXM ``match`` and ``actions``, ONF and OF1.4
    with an ofp_match and ``instructions``."""
    event: int = 0
    reason: int = 0
    priority: int = 0
    idle_timeout: int = 0
    hard_timeout: int = 0
    table_id: int = 0
    cookie: int = 0
    match: object = None
    actions: tuple = ()
    instructions: tuple = ()
    xid: int = 0


OFPFME14_ABBREV, OFPFME14_PAUSED, OFPFME14_RESUMED = 4, 5, 6
ofp14_flow_monitor_request = layout("ofp14_flow_monitor_request", "id"/u32, "out_port"/u32,
                                    "out_group"/u32, "flags"/u16, "table_id"/u8,
                                    "command"/u8)
ofp_flow_update_full = layout("ofp_flow_update_full", "length"/u16, "event"/u16,
                              "table_id"/u8, "reason"/u8, "idle_timeout"/u16,
                              "hard_timeout"/u16, "priority"/u16, pad(4), "cookie"/u64)


def unpack_ofp11_match(buf, off):
    """OxmMatch.unpack_oxm after ofputil_pull_ofp11_match's first check: an
    OF1.1 standard match (type 0) must be 88 bytes long (OFPBMC_BAD_LEN)."""
    if len(buf) - off >= 4 and struct.unpack_from("!HH", buf, off) != (0, 88) \
            and buf[off:off + 2] == b"\0\0":
        raise OFPError("OFPBMC_BAD_LEN", detail="OF1.1 standard match length")
    return OxmMatch.unpack_oxm(buf, off)


def update_header(buf, off, end, what):
    """(length, event) of the flow update at ``off``: OFPBRC_BAD_LEN if it is
    truncated, runs past ``end`` or is not a multiple of 8 (ofputil_decode_flow_update)."""
    if end - off < 4:
        raise OFPError("OFPBRC_BAD_LEN", detail=f"{what}: truncated flow update")
    ln, event = struct.unpack_from("!HH", buf, off)
    if ln > end - off or ln % 8 or ln < 8:
        raise OFPError("OFPBRC_BAD_LEN", detail=f"{what}: flow update length {ln}")
    return ln, event


@register(OF14UP, "MULTIPART_REQUEST", mp(None, 16))
@frozen
class FlowMonitorRequest(Message):
    """OFPMP_FLOW_MONITOR request: ``requests`` (FlowMonitorRequestEntry)."""
    flags: int = 0
    requests: tuple = ()
    NAME = "FlowMonitorRequest"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        off, out = prefix_len(key), []
        while off < len(buf):
            if len(buf) - off < 16:
                raise OFPError("OFPBRC_BAD_LEN", detail="flow monitor request truncated")
            d = ofp14_flow_monitor_request.parse_dict(buf, off)
            m, off = unpack_ofp11_match(buf, off + 16)
            out.append(FlowMonitorRequestEntry(match=m, **d))
        return cls(version=version, xid=xid, flags=stats_flags(key, buf), requests=tuple(out))

    def _encode_body(self, key):
        return pack_prefix(key, self) + b"".join(
            ofp14_flow_monitor_request.pack(r.id, r.out_port, r.out_group, r.flags, r.table_id,
                                            r.command) + (r.match or OxmMatch()).pack_oxm()
            for r in self.requests)


@register(OF14UP, "MULTIPART_REPLY", mp(None, 16))
@frozen
class FlowMonitorReply(Message):
    """OFPMP_FLOW_MONITOR reply: ``updates`` (FlowUpdate, OF1.4 events)."""
    flags: int = 0
    updates: tuple = ()
    NAME = "FlowMonitorReply"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        off, end, out = prefix_len(key), len(buf), []
        while off < end:
            ln, event = update_header(buf, off, end, "OFPMP_FLOW_MONITOR reply")
            if event in (OFPFME14_ABBREV, OFPFME14_PAUSED, OFPFME14_RESUMED):
                if ln != 8:
                    raise OFPError("OFPBRC_BAD_LEN", detail=f"flow update length {ln}")
                x = struct.unpack_from("!I", buf, off + 4)[0] if event == OFPFME14_ABBREV else 0
                out.append(FlowUpdate(event=event, xid=x))
            elif event <= 3:
                if ln < 24:
                    raise OFPError("OFPBRC_BAD_LEN", detail=f"flow update length {ln}")
                d = ofp_flow_update_full.parse_dict(buf, off)
                del d["length"]
                m, moff = unpack_ofp11_match(buf, off + 24)
                if moff > off + ln:
                    raise OFPError("OFPBRC_BAD_LEN", detail="flow update match overruns it")
                insts = unpack_instructions(buf, moff, off + ln, version)
                out.append(FlowUpdate(match=m, instructions=insts, **d))
            else:
                raise OFPError("NXBRC_FM_BAD_EVENT", detail=f"flow update event {event}")
            off += ln
        return cls(version=version, xid=xid, flags=stats_flags(key, buf), updates=tuple(out))

    def _encode_body(self, key):
        parts = []
        for u in self.updates:
            if u.event == OFPFME14_ABBREV:
                parts.append(struct.pack("!HHI", 8, u.event, u.xid))
            elif u.event in (OFPFME14_PAUSED, OFPFME14_RESUMED):
                parts.append(struct.pack("!HH4x", 8, u.event))
            else:
                tail = ((u.match or OxmMatch()).pack_oxm()
                        + pack_instructions(u.instructions, self.version))
                parts.append(ofp_flow_update_full.pack(
                    24 + len(tail), u.event, u.table_id, u.reason, u.idle_timeout,
                    u.hard_timeout, u.priority, u.cookie) + tail)
        return pack_prefix(key, self) + b"".join(parts)


FlowDescRequest = message("FlowDescRequest", OF15UP, "MULTIPART_REQUEST", (mp(None, 17),), None,
                          tail="body", stats=True)
FlowDescReply = message("FlowDescReply", OF15UP, "MULTIPART_REPLY", (mp(None, 17),), None,
                        tail="body", stats=True)
ControllerStatusRequest = message("ControllerStatusRequest", OF15UP, "MULTIPART_REQUEST",
                                  (mp(None, 18),), None, tail="body", stats=True)
ControllerStatusReply = message("ControllerStatusReply", OF15UP, "MULTIPART_REPLY",
                                (mp(None, 18),), None, tail="body", stats=True)
BundleFeaturesRequest = message("BundleFeaturesRequest", OF15UP, "MULTIPART_REQUEST",
                                (mp(None, 19),), None, tail="body", stats=True)
BundleFeaturesReply = message("BundleFeaturesReply", OF15UP, "MULTIPART_REPLY",
                              (mp(None, 19),), None, tail="body", stats=True)
