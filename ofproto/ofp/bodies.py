"""Typed multipart bodies: the per-entry structures of stats/multipart replies.

Theory of operation
-------------------
A multipart reply (and the TABLE_FEATURES request) is a prefix (see
:func:`.base.prefix_len`) followed by a list of *entries*.  An entry codec is
a pair ``unpack(buf, off, end, version, fam) -> (entry, next_off)`` and
``pack(entry, version, fam) -> bytes``; :func:`list_message` declares and
registers the message class around one codec, so every list reply has the
same shape: ``flags`` (OFPMPF_REPLY_MORE) and ``stats``, a tuple of frozen
entry dataclasses.  ``fam`` is the bucket family of :mod:`.groups` (only
group descriptions care).

Entries whose layout is fixed in a version use :class:`FixedEntry`: one
dataclass whose fields are the union over versions, and a ``version ->
Layout`` table; fields a version lacks are dropped on encode and default on
decode.  Entries with OF1.4+ properties (port and queue stats) fold the
standard property into the dataclass and keep the others raw in ``props``,
which encode re-emits after the standard one (Open vSwitch's order), so
replies built by OVS round-trip byte for byte.

Covered here: PORT stats (OF1.0 / OF1.1 / OF1.3 durations / OF1.4
properties), TABLE stats (OF1.0, OF1.1, OF1.2, OF1.3+), QUEUE stats (same
steps as port stats), TABLE_FEATURES with typed properties, and the list
messages for GROUP, GROUP_DESC, METER, METER_CONFIG and Open vSwitch's
NXST_GROUP/NXST_GROUP_DESC, whose entries live in :mod:`.groups`.  The
replies whose bodies stay bytes get their entries from here too:
``ofp14_table_desc`` (TABLE_DESC, TABLE_STATUS; :func:`pack_table_desc`,
:func:`unpack_table_descs`), QUEUE_GET_CONFIG's queues
(:func:`pack_packet_queue`) and QUEUE_DESC's (:func:`pack_queue_desc`);
:func:`iter_props` walks OF1.4 properties.
"""

from __future__ import annotations

import dataclasses
import struct

from . import groups as G
from .base import check_tlv_list, pack_prefix, prefix_len, stats_flags
from .errors import OFPError
from .header import ALL, OF11UP, OF13UP, Message, frozen, pad8, register
from .layout import layout, pad, raw, u8, u16, u32, u64

NX = 0x00002320


def mp(v10, v11):
    """Stats sub-key per version: OF1.0 code ``v10`` else ``v11`` (None = absent)."""
    return lambda v: None if (v10 if v == 1 else v11) is None else ((v10 if v == 1 else v11),)


def nxst(code):
    return lambda v: (0xFFFF, NX, code)


def list_message(name, versions, type_name, sub, unpack, pack, fam=None, doc=""):
    """Declare and register a stats message whose body is a list of entries."""
    fam_of = fam or G.family

    @register(versions, type_name, sub)
    @frozen
    class _List(Message):
        flags: int = 0
        stats: tuple = ()

        @classmethod
        def _decode(cls, key, version, xid, buf):
            off, end, out, f = prefix_len(key), len(buf), [], fam_of(version)
            while off < end:
                e, off = unpack(buf, off, end, version, f)
                out.append(e)
            return cls(version=version, xid=xid, flags=stats_flags(key, buf), stats=tuple(out))

        def _encode_body(self, key):
            f = fam_of(self.version)
            return pack_prefix(key, self) + b"".join(pack(e, self.version, f) for e in self.stats)

    _List.__name__ = _List.__qualname__ = name
    _List.NAME = name
    _List.__doc__ = doc or f"{name}: ``stats`` is a tuple of entries."
    return _List


class FixedEntry:
    """Codec of an entry made of one fixed layout per version.  ``lens``
    names the layout field that repeats the entry length, if any."""

    def __init__(self, cls, lays: dict, length_field: str | None = None):
        self.cls, self.lays, self.length_field = cls, lays, length_field

    def unpack(self, buf, off, end, version, fam=None):
        lay = self.lays[version]
        if end - off < lay.size:
            raise OFPError("OFPBRC_BAD_LEN", detail=f"{lay.name} truncated")
        d = lay.parse_dict(buf, off)
        if self.length_field:
            if d.pop(self.length_field) != lay.size:
                raise OFPError("OFPBRC_BAD_LEN", detail=f"{lay.name} length")
        return self.cls(**d), off + lay.size

    def pack(self, e, version, fam=None):
        lay = self.lays[version]
        return lay.pack(*(lay.size if n == self.length_field else getattr(e, n)
                          for n in lay.names))


def _by_version(v10, v11, v13=None, v14=None):
    out = {1: v10, 2: v11, 3: v11, 4: v13 or v11}
    out[5] = out[6] = v14 or v13 or v11
    return out


# ---------------------------------------------------------------- port stats
_CTRS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped",
         "rx_errors", "tx_errors")
_ETH = ("rx_frame_err", "rx_over_err", "rx_crc_err", "collisions")
ofp10_port_stats = layout("ofp10_port_stats", "port_no"/u16, pad(6),
                          *(n/u64 for n in _CTRS + _ETH))
ofp11_port_stats = layout("ofp11_port_stats", "port_no"/u32, pad(4),
                          *(n/u64 for n in _CTRS + _ETH))
ofp13_port_stats = layout("ofp13_port_stats", "port_no"/u32, pad(4),
                          *(n/u64 for n in _CTRS + _ETH), "duration_sec"/u32,
                          "duration_nsec"/u32)
ofp14_port_stats = layout("ofp14_port_stats", "length"/u16, pad(2), "port_no"/u32,
                          "duration_sec"/u32, "duration_nsec"/u32, *(n/u64 for n in _CTRS))
ofp14_port_stats_prop_ethernet = layout("ofp14_port_stats_prop_ethernet", "type"/u16,
                                        "length"/u16, pad(4), *(n/u64 for n in _ETH))


@frozen
class PortStats:
    """One port's counters, any version.  OF1.4+: the Ethernet property is
    folded into ``rx_frame_err..collisions``; other properties (optical,
    OVS's custom-stats experimenter property) stay raw in ``props``."""
    port_no: int = 0
    rx_packets: int = 0
    tx_packets: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_frame_err: int = 0
    rx_over_err: int = 0
    rx_crc_err: int = 0
    collisions: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    props: bytes = b""


_PORT_FIXED = FixedEntry(PortStats, _by_version(ofp10_port_stats, ofp11_port_stats,
                                                ofp13_port_stats))


def _unpack_with_props(buf, off, end, lay, std_type, std_lay, what):
    """Entry = ``lay`` (leading u16 length) + properties; returns (dict, next)."""
    d = lay.parse_dict(buf, off)
    ln = d.pop("length")
    if ln < lay.size or off + ln > end:
        raise OFPError("OFPBRC_BAD_LEN", detail=f"{what} length {ln}")
    props = bytes(buf[off + lay.size:off + ln])
    rest = []
    for poff, plen in check_tlv_list(props, "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", f"{what} property"):
        ptype = struct.unpack_from("!H", props, poff)[0]
        if std_lay is not None and ptype == std_type and plen == std_lay.size:
            e = std_lay.parse_dict(props, poff)
            del e["type"], e["length"]
            d.update(e)
        else:
            rest.append(props[poff:poff + plen + pad8(plen)])
    d["props"] = b"".join(rest)
    return d, off + ln


def unpack_port_stats(buf, off, end, version, fam=None):
    if version < 5:
        return _PORT_FIXED.unpack(buf, off, end, version)
    d, nxt = _unpack_with_props(buf, off, end, ofp14_port_stats, 0,
                                ofp14_port_stats_prop_ethernet, "port stats")
    return PortStats(**d), nxt


def pack_port_stats(p: PortStats, version, fam=None) -> bytes:
    if version < 5:
        return _PORT_FIXED.pack(p, version)
    props = ofp14_port_stats_prop_ethernet.pack(0, 40, *(getattr(p, n) for n in _ETH)) + p.props
    return ofp14_port_stats.pack(80 + len(props), p.port_no, p.duration_sec, p.duration_nsec,
                                 *(getattr(p, n) for n in _CTRS)) + props


# ---------------------------------------------------------------- queue stats
_QCTRS = ("tx_bytes", "tx_packets", "tx_errors")
ofp10_queue_stats = layout("ofp10_queue_stats", "port_no"/u16, pad(2), "queue_id"/u32,
                           *(n/u64 for n in _QCTRS))
ofp11_queue_stats = layout("ofp11_queue_stats", "port_no"/u32, "queue_id"/u32,
                           *(n/u64 for n in _QCTRS))
ofp13_queue_stats = layout("ofp13_queue_stats", "port_no"/u32, "queue_id"/u32,
                           *(n/u64 for n in _QCTRS), "duration_sec"/u32, "duration_nsec"/u32)
ofp14_queue_stats = layout("ofp14_queue_stats", "length"/u16, pad(6), "port_no"/u32,
                           "queue_id"/u32, *(n/u64 for n in _QCTRS), "duration_sec"/u32,
                           "duration_nsec"/u32)


@frozen
class QueueStats:
    port_no: int = 0
    queue_id: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    props: bytes = b""          # OF1.4+ properties (experimenter only), raw


_QUEUE_FIXED = FixedEntry(QueueStats, _by_version(ofp10_queue_stats, ofp11_queue_stats,
                                                  ofp13_queue_stats))


def unpack_queue_stats(buf, off, end, version, fam=None):
    if version < 5:
        return _QUEUE_FIXED.unpack(buf, off, end, version)
    d, nxt = _unpack_with_props(buf, off, end, ofp14_queue_stats, None, None, "queue stats")
    return QueueStats(**d), nxt


def pack_queue_stats(q: QueueStats, version, fam=None) -> bytes:
    if version < 5:
        return _QUEUE_FIXED.pack(q, version)
    lay = ofp14_queue_stats
    return lay.pack(48 + len(q.props), *(getattr(q, n) for n in lay.names[1:])) + q.props


# ---------------------------------------------------------------- table stats
ofp10_table_stats = layout("ofp10_table_stats", "table_id"/u8, pad(3), "name"/raw(32),
                           "wildcards"/u32, "max_entries"/u32, "active_count"/u32,
                           "lookup_count"/u64, "matched_count"/u64)
ofp11_table_stats = layout("ofp11_table_stats", "table_id"/u8, pad(7), "name"/raw(32),
                           "wildcards"/u32, "match"/u32, "instructions"/u32,
                           "write_actions"/u32, "apply_actions"/u32, "config"/u32,
                           "max_entries"/u32, "active_count"/u32, "lookup_count"/u64,
                           "matched_count"/u64)
ofp12_table_stats = layout("ofp12_table_stats", "table_id"/u8, pad(7), "name"/raw(32),
                           "match"/u64, "wildcards"/u64, "write_actions"/u32,
                           "apply_actions"/u32, "write_setfields"/u64, "apply_setfields"/u64,
                           "metadata_match"/u64, "metadata_write"/u64, "instructions"/u32,
                           "config"/u32, "max_entries"/u32, "active_count"/u32,
                           "lookup_count"/u64, "matched_count"/u64)
ofp13_table_stats = layout("ofp13_table_stats", "table_id"/u8, pad(3), "active_count"/u32,
                           "lookup_count"/u64, "matched_count"/u64)


@frozen
class TableStats:
    """One table's statistics.  OF1.3+ carry only ``table_id`` and the three
    counters; the capability fields are OF1.0-1.2's (the rest moved to
    TABLE_FEATURES)."""
    table_id: int = 0
    active_count: int = 0
    lookup_count: int = 0
    matched_count: int = 0
    name: bytes = bytes(32)
    wildcards: int = 0
    max_entries: int = 0
    match: int = 0
    instructions: int = 0
    write_actions: int = 0
    apply_actions: int = 0
    write_setfields: int = 0
    apply_setfields: int = 0
    metadata_match: int = 0
    metadata_write: int = 0
    config: int = 0

    @property
    def name_str(self) -> str:
        return self.name.split(b"\0", 1)[0].decode("utf-8", "replace")


_TABLE = FixedEntry(TableStats, {1: ofp10_table_stats, 2: ofp11_table_stats,
                                 3: ofp12_table_stats, 4: ofp13_table_stats,
                                 5: ofp13_table_stats, 6: ofp13_table_stats})

# ---------------------------------------------------------------- table features
ofp13_table_features = layout("ofp13_table_features", "length"/u16, "table_id"/u8, pad(5),
                              "name"/raw(32), "metadata_match"/u64, "metadata_write"/u64,
                              "capabilities"/u32, "max_entries"/u32)
ofp15_table_features = layout("ofp15_table_features", "length"/u16, "table_id"/u8,
                              "command"/u8, "features"/u32, "name"/raw(32),
                              "metadata_match"/u64, "metadata_write"/u64,
                              "capabilities"/u32, "max_entries"/u32)
# OFPTFPT13_*: property type -> element kind.  ``ids``: instruction/action
# headers (type, len=4); ``tables``: u8 table ids; ``oxm``: u32 OXM headers
# (8 bytes with the experimenter id for class 0xffff).
TFP_KIND = {0: "ids", 1: "ids", 2: "tables", 3: "tables", 4: "ids", 5: "ids", 6: "ids",
            7: "ids", 8: "oxm", 10: "oxm", 12: "oxm", 13: "oxm", 14: "oxm", 15: "oxm"}
TFP_NAMES = {0: "instructions", 1: "instructions_miss", 2: "next_tables",
             3: "next_tables_miss", 4: "write_actions", 5: "write_actions_miss",
             6: "apply_actions", 7: "apply_actions_miss", 8: "match", 10: "wildcards",
             12: "write_setfield", 13: "write_setfield_miss", 14: "apply_setfield",
             15: "apply_setfield_miss", 0xFFFE: "experimenter", 0xFFFF: "experimenter_miss"}


@frozen
class TableFeatureProp:
    """One table-feature property: ``items`` are ints (instruction or action
    types, table ids, or OXM headers - 64-bit ``header << 32 | experimenter``
    for experimenter OXMs); ``data`` is the raw payload of untyped ones."""
    type: int
    items: tuple = ()
    data: bytes = b""


def _unpack_tfp(data: bytes, off: int, plen: int) -> TableFeatureProp:
    ptype = struct.unpack_from("!H", data, off)[0]
    body = data[off + 4:off + plen]
    kind = TFP_KIND.get(ptype)
    if kind == "tables":
        return TableFeatureProp(type=ptype, items=tuple(body))
    if kind == "ids":
        items = []
        for i in range(0, len(body), 4):
            if len(body) - i < 4:
                break
            t, ln = struct.unpack_from("!HH", body, i)
            if ln != 4:
                break
            items.append(t)
        else:
            return TableFeatureProp(type=ptype, items=tuple(items))
    elif kind == "oxm":
        items, i = [], 0
        while i + 4 <= len(body):
            h = struct.unpack_from("!I", body, i)[0]
            if h >> 16 == 0xFFFF:
                if i + 8 > len(body):
                    break
                h = struct.unpack_from("!Q", body, i)[0]
                i += 4
            items.append(h)
            i += 4
        if i == len(body):
            return TableFeatureProp(type=ptype, items=tuple(items))
    return TableFeatureProp(type=ptype, data=bytes(body))


def _pack_tfp(p: TableFeatureProp) -> bytes:
    kind = TFP_KIND.get(p.type)
    if p.data or kind is None:
        body = p.data
    elif kind == "tables":
        body = bytes(p.items)
    elif kind == "ids":
        body = b"".join(struct.pack("!HH", t, 4) for t in p.items)
    else:
        body = b"".join(struct.pack("!Q" if h > 0xFFFFFFFF else "!I", h) for h in p.items)
    n = 4 + len(body)
    return struct.pack("!HH", p.type, n) + body + bytes(pad8(n))


@frozen
class TableFeatures:
    """``ofp13_table_features``; ``capabilities`` is OF1.3's ``config``;
    ``command``/``features`` are OF1.5's.  ``props``: TableFeatureProp tuple."""
    table_id: int = 0
    name: bytes = bytes(32)
    metadata_match: int = 0
    metadata_write: int = 0
    capabilities: int = 0
    max_entries: int = 0
    command: int = 0
    features: int = 0
    props: tuple = ()


def unpack_table_features(buf, off, end, version, fam=None):
    lay = ofp15_table_features if version >= 6 else ofp13_table_features
    d = lay.parse_dict(buf, off)
    ln = d.pop("length")
    if ln < 64 or off + ln > end:
        raise OFPError("OFPBRC_BAD_LEN", detail=f"table features length {ln}")
    data = buf[off + 64:off + ln]
    props = tuple(_unpack_tfp(data, po, pl) for po, pl in check_tlv_list(
        data, "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", "table feature property"))
    return TableFeatures(props=props, **d), off + ln


def pack_table_features(t: TableFeatures, version, fam=None) -> bytes:
    props = b"".join(_pack_tfp(p) for p in t.props)
    if version >= 6:
        return ofp15_table_features.pack(64 + len(props), t.table_id, t.command, t.features,
                                         t.name, t.metadata_match, t.metadata_write,
                                         t.capabilities, t.max_entries) + props
    return ofp13_table_features.pack(64 + len(props), t.table_id, t.name, t.metadata_match,
                                     t.metadata_write, t.capabilities, t.max_entries) + props


# ---------------------------------------------------------------- table desc, queue config
# These replies keep their bodies as bytes (TableDescReply, QueueDescReply,
# QueueGetConfigReply, TableStatus); here are their entries both ways.
OFPTMPT14_EVICTION, OFPTMPT14_VACANCY = 2, 3
OFPTC14_EVICTION, OFPTC14_VACANCY_EVENTS = 4, 8
OFPROTO_EVICTION_FLAGS = 7          # OTHER|IMPORTANCE|LIFETIME, all OVS supports
ofp14_table_desc = layout("ofp14_table_desc", "length"/u16, "table_id"/u8, pad(1),
                          "config"/u32)


def iter_props(data: bytes):
    """``(type, payload)`` of OF1.4 properties (8-byte aligned; lengths
    checked as ofpprop_pull does: OFPBPC_BAD_LEN)."""
    for off, ln in check_tlv_list(data, "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", "property"):
        yield struct.unpack_from("!H", data, off)[0], bytes(data[off + 4:off + ln])


def pack_table_desc(table_id: int, eviction: bool, vacancy=None,
                    eviction_flags: int | None = OFPROTO_EVICTION_FLAGS) -> bytes:
    """One ofp14_table_desc (ofputil_append_table_desc_reply): the eviction
    flags property, then with vacancy events on (``vacancy`` = (down, up,
    current)) the vacancy property; config says eviction and vacancy on."""
    props = b""
    if eviction_flags is not None:
        props += struct.pack("!HHI", OFPTMPT14_EVICTION, 8, eviction_flags)
    config = OFPTC14_EVICTION if eviction else 0
    if vacancy is not None:
        props += struct.pack("!HHBBBx", OFPTMPT14_VACANCY, 8, *vacancy)
        config |= OFPTC14_VACANCY_EVENTS
    return ofp14_table_desc.pack(8 + len(props), table_id, config) + props


def unpack_table_descs(body: bytes) -> list:
    """``[{table_id, eviction, vacancy_events, eviction_flags, vacancy}]``
    of a TABLE_DESC reply body (or a TABLE_STATUS's table)."""
    out, off = [], 0
    while off < len(body):
        if len(body) - off < 8:
            raise OFPError("OFPBRC_BAD_LEN", detail="table desc truncated")
        ln, tid, config = ofp14_table_desc.unpack(body, off)
        if ln < 8 or off + ln > len(body):
            raise OFPError("OFPBRC_BAD_LEN", detail=f"table desc length {ln}")
        d = dict(table_id=tid, eviction=bool(config & OFPTC14_EVICTION),
                 vacancy_events=bool(config & OFPTC14_VACANCY_EVENTS), eviction_flags=None,
                 vacancy=None)
        for ptype, payload in iter_props(body[off + 8:off + ln]):
            if ptype == OFPTMPT14_EVICTION and len(payload) == 4:
                d["eviction_flags"] = struct.unpack("!I", payload)[0]
            elif ptype == OFPTMPT14_VACANCY and len(payload) == 4:
                d["vacancy"] = tuple(payload[:3])
        out.append(d)
        off += ln
    return out


def pack_packet_queue(version: int, port: int, queue_id: int) -> bytes:
    """A queue of a QUEUE_GET_CONFIG reply without properties: OF1.0/1.1's
    ``ofp10_packet_queue``, OF1.2+'s ``ofp12_packet_queue`` (with the port)."""
    if version < 3:
        return struct.pack("!IH2x", queue_id, 8)
    return struct.pack("!IIH6x", queue_id, port, 16)


def pack_queue_desc(port: int, queue_id: int) -> bytes:
    """An ``ofp14_queue_desc`` without properties (OFPMP_QUEUE_DESC)."""
    return struct.pack("!IIH6x", port, queue_id, 16)


# ---------------------------------------------------------------- the list messages
_R = "MULTIPART_REPLY"
PortStatsReply = list_message("PortStatsReply", ALL, _R, mp(4, 4), unpack_port_stats,
                              pack_port_stats)
TableStatsReply = list_message("TableStatsReply", ALL, _R, mp(3, 3), _TABLE.unpack, _TABLE.pack)
QueueStatsReply = list_message("QueueStatsReply", ALL, _R, mp(5, 5), unpack_queue_stats,
                               pack_queue_stats)
GroupStatsReply = list_message("GroupStatsReply", OF11UP, _R, mp(None, 6),
                               G.unpack_group_stats, G.pack_group_stats)
GroupDescReply = list_message("GroupDescReply", OF11UP, _R, mp(None, 7), G.unpack_group_desc,
                              G.pack_group_desc)
MeterStatsReply = list_message("MeterStatsReply", OF13UP, _R, mp(None, 9),
                               G.unpack_meter_stats, G.pack_meter_stats)
MeterConfigStatsReply = list_message("MeterConfigStatsReply", OF13UP, _R, mp(None, 10),
                                     G.unpack_meter_config, G.pack_meter_config)
TableFeaturesRequest = list_message("TableFeaturesRequest", OF13UP, "MULTIPART_REQUEST",
                                    mp(None, 12), unpack_table_features, pack_table_features)
TableFeaturesReply = list_message("TableFeaturesReply", OF13UP, _R, mp(None, 12),
                                  unpack_table_features, pack_table_features)
# Open vSwitch's OF1.0 group extensions: OF1.3 group stats, OF1.5 group desc.
NxGroupStatsReply = list_message(
    "NxGroupStatsReply", ALL, _R, nxst(7),
    lambda b, o, e, v, f: G.unpack_group_stats(b, o, e, 4),
    lambda g, v, f: G.pack_group_stats(g, 4))
NxGroupDescReply = list_message("NxGroupDescReply", ALL, _R, nxst(8), G.unpack_group_desc,
                                G.pack_group_desc, fam=lambda v: "15")


def ovs_like_table_features(table_id: int, n_tables: int = 254, oxm_headers=(0x80000004,),
                            action_types=(0, 17, 18, 22, 25), name: bytes = b"",
                            max_entries: int = 1000000) -> TableFeatures:
    """A TableFeatures entry shaped like Open vSwitch's: every one of the 14
    standard properties present (OVS's decoder rejects replies missing one),
    each ``_miss`` property equal to its regular twin."""
    insts = (1, 2, 3, 4, 5, 6) if table_id < n_tables - 1 else (2, 3, 4, 5, 6)
    nxt = tuple(range(table_id + 1, n_tables))
    kinds = {0: insts, 2: nxt, 4: action_types, 6: action_types, 8: oxm_headers,
             10: oxm_headers, 12: oxm_headers, 14: oxm_headers}
    props = []
    for t, items in sorted(kinds.items()):
        props.append(TableFeatureProp(type=t, items=tuple(items)))
        if t not in (8, 10):
            props.append(TableFeatureProp(type=t + 1, items=tuple(items)))
    props.sort(key=lambda p: p.type)
    return TableFeatures(table_id=table_id, name=(name or f"table{table_id}".encode()).ljust(
        32, b"\0"), metadata_match=(1 << 64) - 1, metadata_write=(1 << 64) - 1,
        max_entries=max_entries, props=tuple(props))
