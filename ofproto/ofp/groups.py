"""Groups and meters: buckets, bands, and every message that carries them.

Theory of operation
-------------------
Two nested TLV families live here:

* **buckets** (``ofp_bucket``): OF1.1-1.4 put ``len, weight, watch_port,
  watch_group`` in a fixed 16-byte header followed by actions; OF1.5 (and
  Open vSwitch's NXT_GROUP_MOD / NXST_GROUP_DESC for OF1.0) use ``len,
  action_array_len, bucket_id``, the actions, then properties (WEIGHT,
  WATCH_PORT, WATCH_GROUP).  One :class:`Bucket` covers both.  In the OF1.5
  form we write properties exactly as Open vSwitch does
  (``ofputil_put_ofp15_bucket``): WEIGHT only for select groups,
  WATCH_PORT/WATCH_GROUP only when not ANY; unknown properties are kept raw
  in ``Bucket.props`` and re-emitted after the known ones.  So OVS-built
  messages round-trip byte for byte.
* **meter bands** (``ofp13_meter_band_*``): 16 bytes each; DROP, DSCP_REMARK
  and EXPERIMENTER differ only in their last four bytes, so one
  :class:`MeterBand` and a ``type -> Layout`` table serve all three.

Which bucket form a message uses is its *family*: ``"11"`` (OF1.1-1.4) or
``"15"``; the action encoding follows the message version (OF1.0 actions
inside NX group messages).  Message classes: :class:`GroupMod`,
:class:`NxGroupMod`, :class:`MeterMod` (typed ``buckets``/``bands``), and
the reply entries :class:`GroupDesc`, :class:`GroupStats`,
:class:`MeterStats`, :class:`MeterConfig` whose list messages are
declared in :mod:`.bodies`.

Errors follow OVS: a bucket shorter than its header or overrunning the list
is OFPGMFC_BAD_BUCKET, an unknown group type OFPGMFC_BAD_TYPE, a bad band
OFPMMFC_BAD_BAND.
"""

from __future__ import annotations

import struct

from .actions import pack_actions, unpack_actions
from .base import check_tlv_list, pack_prefix, prefix_len
from .errors import OFPError
from .header import ALL, OF11UP, OF13UP, Message, frozen, pad8, register
from .layout import layout, pad, u8, u16, u32, u64

OFPGT_ALL, OFPGT_SELECT, OFPGT_INDIRECT, OFPGT_FF = range(4)
OFPG_ANY = 0xFFFFFFFF
OFPP_ANY = 0xFFFFFFFF
OFPGBPT15_WEIGHT, OFPGBPT15_WATCH_PORT, OFPGBPT15_WATCH_GROUP = 0, 1, 2
OFPMBT_DROP, OFPMBT_DSCP_REMARK, OFPMBT_EXPERIMENTER = 1, 2, 0xFFFF

# ---------------------------------------------------------------- declarations
ofp11_bucket = layout("ofp11_bucket", "len"/u16, "weight"/u16, "watch_port"/u32,
                      "watch_group"/u32, pad(4))
ofp15_bucket = layout("ofp15_bucket", "len"/u16, "action_array_len"/u16, "bucket_id"/u32)
ofp15_group_bucket_prop_u16 = layout("ofp15_group_bucket_prop_weight", "type"/u16,
                                     "length"/u16, "weight"/u16, pad(2))
ofp15_group_bucket_prop_u32 = layout("ofp15_group_bucket_prop_watch", "type"/u16,
                                     "length"/u16, "watch"/u32)
ofp11_group_mod = layout("ofp11_group_mod", "command"/u16, "type"/u8, pad(1), "group_id"/u32)
ofp15_group_mod = layout("ofp15_group_mod", "command"/u16, "type"/u8, pad(1), "group_id"/u32,
                         "bucket_array_len"/u16, pad(2), "command_bucket_id"/u32)
ofp11_group_desc_stats = layout("ofp11_group_desc_stats", "length"/u16, "type"/u8, pad(1),
                                "group_id"/u32)
ofp15_group_desc_stats = layout("ofp15_group_desc_stats", "length"/u16, "type"/u8, pad(1),
                                "group_id"/u32, "bucket_list_len"/u16, pad(6))
ofp11_group_stats = layout("ofp11_group_stats", "length"/u16, pad(2), "group_id"/u32,
                           "ref_count"/u32, pad(4), "packet_count"/u64, "byte_count"/u64)
ofp13_group_stats = layout("ofp13_group_stats", "length"/u16, pad(2), "group_id"/u32,
                           "ref_count"/u32, pad(4), "packet_count"/u64, "byte_count"/u64,
                           "duration_sec"/u32, "duration_nsec"/u32)
ofp11_bucket_counter = layout("ofp11_bucket_counter", "packet_count"/u64, "byte_count"/u64)
ofp13_meter_band_drop = layout("ofp13_meter_band_drop", "type"/u16, "len"/u16, "rate"/u32,
                               "burst_size"/u32, pad(4))
ofp13_meter_band_dscp_remark = layout("ofp13_meter_band_dscp_remark", "type"/u16, "len"/u16,
                                      "rate"/u32, "burst_size"/u32, "prec_level"/u8, pad(3))
ofp13_meter_band_experimenter = layout("ofp13_meter_band_experimenter", "type"/u16,
                                       "len"/u16, "rate"/u32, "burst_size"/u32,
                                       "experimenter"/u32)
ofp13_meter_mod = layout("ofp13_meter_mod", "command"/u16, "flags"/u16, "meter_id"/u32)
ofp13_meter_config = layout("ofp13_meter_config", "length"/u16, "flags"/u16, "meter_id"/u32)
ofp13_meter_stats = layout("ofp13_meter_stats", "meter_id"/u32, "len"/u16, pad(6),
                           "flow_count"/u32, "packet_in_count"/u64, "byte_in_count"/u64,
                           "duration_sec"/u32, "duration_nsec"/u32)
ofp13_meter_band_stats = layout("ofp13_meter_band_stats", "packet_band_count"/u64,
                                "byte_band_count"/u64)
_BANDS = {OFPMBT_DROP: ofp13_meter_band_drop, OFPMBT_DSCP_REMARK: ofp13_meter_band_dscp_remark,
          OFPMBT_EXPERIMENTER: ofp13_meter_band_experimenter}


def family(version: int) -> str:
    """Bucket/group-desc layout of a standard message in ``version``."""
    return "15" if version >= 6 else "11"


# ---------------------------------------------------------------- buckets
@frozen
class Bucket:
    """A group bucket.  ``bucket_id`` exists on the wire only in the OF1.5
    form; ``props`` holds unknown OF1.5 bucket properties verbatim."""
    bucket_id: int = 0
    weight: int = 0
    watch_port: int = OFPP_ANY
    watch_group: int = OFPG_ANY
    actions: tuple = ()
    props: bytes = b""


def unpack_buckets(buf: bytes, off: int, end: int, version: int, fam: str) -> tuple:
    out = []
    while off < end:
        if end - off < (16 if fam == "11" else 8):
            raise OFPError("OFPGMFC_BAD_BUCKET", detail="truncated bucket")
        if fam == "11":
            ln, w, wp, wg = ofp11_bucket.unpack(buf, off)
            if ln < 16 or ln % 8 or off + ln > end:
                raise OFPError("OFPGMFC_BAD_BUCKET", detail=f"bucket length {ln}")
            acts = unpack_actions(buf, off + 16, off + ln, version)
            out.append(Bucket(weight=w, watch_port=wp, watch_group=wg, actions=acts))
        else:
            ln, alen, bid = ofp15_bucket.unpack(buf, off)
            if ln < 8 or ln % 8 or off + ln > end or 8 + alen > ln:
                raise OFPError("OFPGMFC_BAD_BUCKET", detail=f"bucket length {ln}")
            acts = unpack_actions(buf, off + 8, off + 8 + alen, version)
            kw = _unpack_bucket_props(buf[off + 8 + alen:off + ln])
            out.append(Bucket(bucket_id=bid, actions=acts, **kw))
        off += ln
    return tuple(out)


def _unpack_bucket_props(data: bytes) -> dict:
    kw, rest = {}, []
    for poff, plen in check_tlv_list(data, "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", "bucket property"):
        ptype = struct.unpack_from("!H", data, poff)[0]
        if ptype == OFPGBPT15_WEIGHT and plen == 8:
            kw["weight"] = ofp15_group_bucket_prop_u16.unpack(data, poff)[2]
        elif ptype in (OFPGBPT15_WATCH_PORT, OFPGBPT15_WATCH_GROUP) and plen == 8:
            kw["watch_port" if ptype == 1 else "watch_group"] = \
                ofp15_group_bucket_prop_u32.unpack(data, poff)[2]
        else:
            rest.append(data[poff:poff + plen + pad8(plen)])
    kw["props"] = b"".join(rest)
    return kw


def pack_bucket(b: Bucket, version: int, fam: str, group_type: int) -> bytes:
    acts = pack_actions(b.actions, version)
    if fam == "11":
        return ofp11_bucket.pack(16 + len(acts), b.weight, b.watch_port, b.watch_group) + acts
    props = b""
    if group_type == OFPGT_SELECT:
        props += ofp15_group_bucket_prop_u16.pack(OFPGBPT15_WEIGHT, 8, b.weight)
    if b.watch_port != OFPP_ANY:
        props += ofp15_group_bucket_prop_u32.pack(OFPGBPT15_WATCH_PORT, 8, b.watch_port)
    if b.watch_group != OFPG_ANY:
        props += ofp15_group_bucket_prop_u32.pack(OFPGBPT15_WATCH_GROUP, 8, b.watch_group)
    props += b.props
    return ofp15_bucket.pack(8 + len(acts) + len(props), len(acts), b.bucket_id) + acts + props


def pack_buckets(buckets, version: int, fam: str, group_type: int) -> bytes:
    return b"".join(pack_bucket(b, version, fam, group_type) for b in buckets)


def _check_type(t):
    if t > 3:
        raise OFPError("OFPGMFC_BAD_TYPE", detail=f"group type {t}")


# ---------------------------------------------------------------- group mod
def _group_mod_cls(name, versions, type_name, extra, fam_of):
    @register(versions, type_name, *extra)
    @frozen
    class _GroupMod(Message):
        command: int = 0               # OFPGC_ADD 0, MODIFY 1, DELETE 2 (+OF1.5 3, 4)
        type: int = OFPGT_ALL
        group_id: int = 0
        command_bucket_id: int = 0xFFFFFFFF   # OF1.5 form only (OFPG15_BUCKET_ALL)
        buckets: tuple = ()
        properties: bytes = b""        # OF1.5 form: group properties, raw

        @classmethod
        def _decode(cls, key, version, xid, buf):
            off = prefix_len(key)
            if fam_of(version) == "11":
                cmd, gt, gid = ofp11_group_mod.unpack(buf, off)
                _check_type(gt)
                bk = unpack_buckets(buf, off + 8, len(buf), version, "11")
                return cls(version=version, xid=xid, command=cmd, type=gt, group_id=gid,
                           buckets=bk)
            cmd, gt, gid, blen, cbid = ofp15_group_mod.unpack(buf, off)
            _check_type(gt)
            off += 16
            if off + blen > len(buf):
                raise OFPError("OFPGMFC_BAD_BUCKET", detail="bucket_array_len")
            bk = unpack_buckets(buf, off, off + blen, version, "15")
            props = buf[off + blen:]
            check_tlv_list(props, "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", "group property")
            return cls(version=version, xid=xid, command=cmd, type=gt, group_id=gid,
                       command_bucket_id=cbid, buckets=bk, properties=props)

        def _encode_body(self, key):
            fam = fam_of(self.version)
            bk = pack_buckets(self.buckets, self.version, fam, self.type)
            if fam == "11":
                head = ofp11_group_mod.pack(self.command, self.type, self.group_id)
                return pack_prefix(key, self) + head + bk
            head = ofp15_group_mod.pack(self.command, self.type, self.group_id, len(bk),
                                        self.command_bucket_id)
            return pack_prefix(key, self) + head + bk + self.properties

    _GroupMod.__name__ = _GroupMod.__qualname__ = name
    _GroupMod.NAME = name
    return _GroupMod


GroupMod = _group_mod_cls("GroupMod", OF11UP, "GROUP_MOD", (), family)
NxGroupMod = _group_mod_cls("NxGroupMod", ALL, "EXPERIMENTER", (0x00002320, 31),
                            lambda v: "15")


# ---------------------------------------------------------------- meter bands
@frozen
class MeterBand:
    """``ofp13_meter_band_*``: ``prec_level`` is DSCP_REMARK's, ``experimenter``
    EXPERIMENTER's (its extra bytes, if any, in ``data``)."""
    type: int = OFPMBT_DROP
    rate: int = 0
    burst_size: int = 0
    prec_level: int = 0
    experimenter: int = 0
    data: bytes = b""


def unpack_bands(buf: bytes, off: int, end: int) -> tuple:
    out = []
    while off < end:
        if end - off < 16:
            raise OFPError("OFPMMFC_BAD_BAND", detail="truncated meter band")
        btype, ln = struct.unpack_from("!HH", buf, off)
        lay = _BANDS.get(btype)
        if lay is None:
            raise OFPError("OFPMMFC_BAD_BAND", detail=f"meter band type {btype}")
        if ln < 16 or ln % 8 or off + ln > end or (ln != 16 and btype != OFPMBT_EXPERIMENTER):
            raise OFPError("OFPMMFC_BAD_BAND", detail=f"meter band length {ln}")
        d = lay.parse_dict(buf, off)
        del d["len"]
        out.append(MeterBand(data=bytes(buf[off + 16:off + ln]), **d))
        off += ln
    return tuple(out)


def pack_band(b: MeterBand) -> bytes:
    lay = _BANDS[b.type]
    vals = {"type": b.type, "len": 16 + len(b.data), "rate": b.rate,
            "burst_size": b.burst_size, "prec_level": b.prec_level,
            "experimenter": b.experimenter}
    return lay.pack(*(vals[n] for n in lay.names)) + b.data


def pack_bands(bands) -> bytes:
    return b"".join(pack_band(b) for b in bands)


@register(OF13UP, "METER_MOD")
@frozen
class MeterMod(Message):
    """OFPT_METER_MOD: ``command`` OFPMC_ADD 0 / MODIFY 1 / DELETE 2,
    ``flags`` OFPMF_KBPS 1, PKTPS 2, BURST 4, STATS 8."""
    command: int = 0
    flags: int = 0
    meter_id: int = 0
    bands: tuple = ()
    NAME = "MeterMod"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        cmd, fl, mid = ofp13_meter_mod.unpack(buf, 8)
        return cls(version=version, xid=xid, command=cmd, flags=fl, meter_id=mid,
                   bands=unpack_bands(buf, 16, len(buf)))

    def _encode_body(self, key):
        return ofp13_meter_mod.pack(self.command, self.flags, self.meter_id) + \
            pack_bands(self.bands)


# ---------------------------------------------------------------- reply entries
@frozen
class GroupDesc:
    """One group description (``ofp11_group_desc_stats`` / ``ofp15_...``)."""
    type: int = OFPGT_ALL
    group_id: int = 0
    buckets: tuple = ()
    props: bytes = b""          # OF1.5 form: group properties, raw


def unpack_group_desc(buf, off, end, version, fam):
    if fam == "11":
        ln, gt, gid = ofp11_group_desc_stats.unpack(buf, off)
        if ln < 8 or off + ln > end:
            raise OFPError("OFPBRC_BAD_LEN", detail=f"group desc length {ln}")
        _check_type(gt)
        return GroupDesc(type=gt, group_id=gid,
                         buckets=unpack_buckets(buf, off + 8, off + ln, version, "11")), off + ln
    ln, gt, gid, blen = ofp15_group_desc_stats.unpack(buf, off)
    if ln < 16 or off + ln > end or 16 + blen > ln:
        raise OFPError("OFPBRC_BAD_LEN", detail=f"group desc length {ln}")
    _check_type(gt)
    bk = unpack_buckets(buf, off + 16, off + 16 + blen, version, "15")
    props = bytes(buf[off + 16 + blen:off + ln])
    check_tlv_list(props, "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", "group property")
    return GroupDesc(type=gt, group_id=gid, buckets=bk, props=props), off + ln


def pack_group_desc(g: GroupDesc, version, fam) -> bytes:
    bk = pack_buckets(g.buckets, version, fam, g.type)
    if fam == "11":
        return ofp11_group_desc_stats.pack(8 + len(bk), g.type, g.group_id) + bk
    return ofp15_group_desc_stats.pack(16 + len(bk) + len(g.props), g.type, g.group_id,
                                       len(bk)) + bk + g.props


@frozen
class GroupStats:
    """One group's counters; ``bucket_stats`` is ``((packets, bytes), ...)``.
    The durations exist from OF1.3 on."""
    group_id: int = 0
    ref_count: int = 0
    packet_count: int = 0
    byte_count: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    bucket_stats: tuple = ()


def unpack_group_stats(buf, off, end, version, fam=None):
    lay = ofp11_group_stats if version < 4 else ofp13_group_stats
    d = lay.parse_dict(buf, off)
    ln = d.pop("length")
    if ln < lay.size or (ln - lay.size) % 16 or off + ln > end:
        raise OFPError("OFPBRC_BAD_LEN", detail=f"group stats length {ln}")
    bs = tuple(ofp11_bucket_counter.unpack(buf, o) for o in range(off + lay.size, off + ln, 16))
    return GroupStats(bucket_stats=bs, **d), off + ln


def pack_group_stats(g: GroupStats, version, fam=None) -> bytes:
    tail = b"".join(ofp11_bucket_counter.pack(p, b) for p, b in g.bucket_stats)
    if version < 4:
        return ofp11_group_stats.pack(32 + len(tail), g.group_id, g.ref_count,
                                      g.packet_count, g.byte_count) + tail
    return ofp13_group_stats.pack(40 + len(tail), g.group_id, g.ref_count, g.packet_count,
                                  g.byte_count, g.duration_sec, g.duration_nsec) + tail


@frozen
class MeterConfig:
    flags: int = 0
    meter_id: int = 0
    bands: tuple = ()


def unpack_meter_config(buf, off, end, version, fam=None):
    ln, fl, mid = ofp13_meter_config.unpack(buf, off)
    if ln < 8 or off + ln > end:
        raise OFPError("OFPBRC_BAD_LEN", detail=f"meter config length {ln}")
    return MeterConfig(flags=fl, meter_id=mid, bands=unpack_bands(buf, off + 8, off + ln)), \
        off + ln


def pack_meter_config(m: MeterConfig, version, fam=None) -> bytes:
    bands = pack_bands(m.bands)
    return ofp13_meter_config.pack(8 + len(bands), m.flags, m.meter_id) + bands


@frozen
class MeterStats:
    """One meter's counters; ``band_stats`` is ``((packets, bytes), ...)``."""
    meter_id: int = 0
    flow_count: int = 0
    packet_in_count: int = 0
    byte_in_count: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    band_stats: tuple = ()


def unpack_meter_stats(buf, off, end, version, fam=None):
    d = ofp13_meter_stats.parse_dict(buf, off)
    ln = d.pop("len")
    if ln < 40 or (ln - 40) % 16 or off + ln > end:
        raise OFPError("OFPBRC_BAD_LEN", detail=f"meter stats length {ln}")
    bs = tuple(ofp13_meter_band_stats.unpack(buf, o) for o in range(off + 40, off + ln, 16))
    return MeterStats(band_stats=bs, **d), off + ln


def pack_meter_stats(m: MeterStats, version, fam=None) -> bytes:
    tail = b"".join(ofp13_meter_band_stats.pack(p, b) for p, b in m.band_stats)
    return ofp13_meter_stats.pack(m.meter_id, 40 + len(tail), m.flow_count, m.packet_in_count,
                                  m.byte_in_count, m.duration_sec, m.duration_nsec) + tail
