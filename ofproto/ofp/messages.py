"""Core OpenFlow messages (everything but multipart and vendor extensions).

Theory of operation
-------------------
Simple messages are declared with :func:`.base.message` (a fixed layout
plus an opaque tail).  Messages that carry matches, actions, instructions
or ports are written out by hand because their layout changes per version;
each reads with the per-version ``Layout`` objects below and writes with
the same ones, so a decode followed by an encode reproduces the input
exactly whenever the input was canonical (zero padding, OVS-style
lengths).  FLOW_MOD is the hot path: it avoids any per-field work beyond
one ``struct`` unpack for the fixed part.
"""

from __future__ import annotations

import struct

from .actions import pack_actions, unpack_actions
from .base import check_tlv_list, message, pack_prefix, prefix_len
from .errors import OFPError
from .header import (ALL, OF10, OF11UP, OF12UP, OF13UP, OF14UP, OF15UP, Message,
                     frozen, register)
from .instructions import pack_instructions, unpack_instructions
from .layout import layout, pad, raw, u8, u16, u32, u64
from .match import Match10, OxmMatch
from .oxs import UNKNOWN32, pack_stats, unpack_stats

# ---------------------------------------------------------------- symmetric
def _check_hello(version, kw):
    check_tlv_list(kw["elements"], "!HH", 1, 4, 8, "OFPBRC_BAD_LEN", "hello element")


Hello = message("Hello", ALL, "HELLO", (), None, tail="elements", validate=_check_hello,
                doc="OFPT_HELLO; ``elements`` holds raw hello elements (version bitmap).")


def hello_bitmap(msg) -> int | None:
    """The OFPHET_VERSIONBITMAP of a Hello, or None when absent."""
    data = msg.elements
    for off, ln in check_tlv_list(data, "!HH", 1, 4, 8, "OFPBRC_BAD_LEN", "hello element"):
        if struct.unpack_from("!H", data, off)[0] == 1 and ln >= 8:
            return struct.unpack_from("!I", data, off + 4)[0]
    return None


def make_hello(version: int, bitmap: int | None = None, xid: int = 0) -> "Hello":
    el = b"" if bitmap is None else struct.pack("!HHI", 1, 8, bitmap)
    return Hello(version=version, xid=xid, elements=el)


ofp_error_msg = layout("ofp_error_msg", "type"/u16, "code"/u16)
Error = message("Error", ALL, "ERROR", (), ofp_error_msg, tail="data",
                doc="OFPT_ERROR; for type 0xffff ``data`` starts with the experimenter id.")
EchoRequest = message("EchoRequest", ALL, "ECHO_REQUEST", (), None, tail="data")
EchoReply = message("EchoReply", ALL, "ECHO_REPLY", (), None, tail="data")
FeaturesRequest = message("FeaturesRequest", ALL, "FEATURES_REQUEST", ())
GetConfigRequest = message("GetConfigRequest", ALL, "GET_CONFIG_REQUEST", ())
ofp_switch_config = layout("ofp_switch_config", "flags"/u16, "miss_send_len"/u16)
GetConfigReply = message("GetConfigReply", ALL, "GET_CONFIG_REPLY", (), ofp_switch_config)
SetConfig = message("SetConfig", ALL, "SET_CONFIG", (), ofp_switch_config)
BarrierRequest = message("BarrierRequest", ALL, "BARRIER_REQUEST", ())
BarrierReply = message("BarrierReply", ALL, "BARRIER_REPLY", ())

# ---------------------------------------------------------------- ports
ofp10_phy_port = layout("ofp10_phy_port", "port_no"/u16, "hw_addr"/raw(6), "name"/raw(16),
                        "config"/u32, "state"/u32, "curr"/u32, "advertised"/u32,
                        "supported"/u32, "peer"/u32)
ofp11_port = layout("ofp11_port", "port_no"/u32, pad(4), "hw_addr"/raw(6), pad(2),
                    "name"/raw(16), "config"/u32, "state"/u32, "curr"/u32,
                    "advertised"/u32, "supported"/u32, "peer"/u32,
                    "curr_speed"/u32, "max_speed"/u32)
ofp14_port = layout("ofp14_port", "port_no"/u32, "length"/u16, pad(2), "hw_addr"/raw(6),
                    pad(2), "name"/raw(16), "config"/u32, "state"/u32)
ofp14_port_desc_prop_ethernet = layout(
    "ofp14_port_desc_prop_ethernet", "type"/u16, "length"/u16, pad(4), "curr"/u32,
    "advertised"/u32, "supported"/u32, "peer"/u32, "curr_speed"/u32, "max_speed"/u32)


@frozen
class Port:
    """A port description in any version (``props``: raw OF1.4+ properties
    other than the Ethernet one, which is folded into the fields)."""
    port_no: int = 0
    hw_addr: bytes = bytes(6)
    name: bytes = bytes(16)
    config: int = 0
    state: int = 0
    curr: int = 0
    advertised: int = 0
    supported: int = 0
    peer: int = 0
    curr_speed: int = 0
    max_speed: int = 0
    props: bytes = b""

    @property
    def name_str(self) -> str:
        return self.name.split(b"\0", 1)[0].decode("utf-8", "replace")


def port_size(version) -> int | None:
    return {1: 48}.get(version, 64 if version < 5 else None)


def unpack_port(buf, off, version) -> tuple[Port, int]:
    if version == 1:
        v = ofp10_phy_port.unpack(buf, off)
        return Port(**dict(zip(ofp10_phy_port.names, v))), off + 48
    if version < 5:
        v = ofp11_port.unpack(buf, off)
        return Port(**dict(zip(ofp11_port.names, v))), off + 64
    d = ofp14_port.parse_dict(buf, off)
    ln = d.pop("length")
    if ln < 40 or off + ln > len(buf):
        raise OFPError("OFPBRC_BAD_LEN", detail=f"port length {ln}")
    props = bytes(buf[off + 40:off + ln])
    rest = []
    for poff, plen in check_tlv_list(props, "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", "port property"):
        if struct.unpack_from("!H", props, poff)[0] == 0 and plen == 32:
            e = ofp14_port_desc_prop_ethernet.parse_dict(props, poff)
            del e["type"], e["length"]
            d.update(e)
        else:
            rest.append(props[poff:poff + ((plen + 7) & ~7)])
    return Port(props=b"".join(rest), **d), off + ln


def pack_port(p: Port, version) -> bytes:
    if version == 1:
        return ofp10_phy_port.pack(*(getattr(p, n) for n in ofp10_phy_port.names))
    if version < 5:
        return ofp11_port.pack(*(getattr(p, n) for n in ofp11_port.names))
    eth = ofp14_port_desc_prop_ethernet.pack(0, 32, p.curr, p.advertised, p.supported,
                                             p.peer, p.curr_speed, p.max_speed)
    props = eth + p.props
    return ofp14_port.pack(p.port_no, 40 + len(props), p.hw_addr, p.name, p.config,
                           p.state) + props


def unpack_ports(buf, off, end, version) -> tuple:
    out = []
    while off < end:
        p, off = unpack_port(buf, off, version)
        out.append(p)
    if off != end:
        raise OFPError("OFPBRC_BAD_LEN", detail="port list overruns message")
    return tuple(out)


# ---------------------------------------------------------------- features
ofp10_switch_features = layout("ofp10_switch_features", "datapath_id"/u64, "n_buffers"/u32,
                               "n_tables"/u8, pad(3), "capabilities"/u32, "actions"/u32)
ofp13_switch_features = layout("ofp13_switch_features", "datapath_id"/u64, "n_buffers"/u32,
                               "n_tables"/u8, "auxiliary_id"/u8, pad(2),
                               "capabilities"/u32, "reserved"/u32)


@register(ALL, "FEATURES_REPLY")
@frozen
class FeaturesReply(Message):
    """OFPT_FEATURES_REPLY.  ``actions`` is OF1.0's action bitmap (``reserved``
    in later versions); ``ports`` only exists before OF1.3."""
    datapath_id: int = 0
    n_buffers: int = 0
    n_tables: int = 0
    auxiliary_id: int = 0
    capabilities: int = 0
    actions: int = 0
    ports: tuple = ()
    NAME = "FeaturesReply"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        if version == 1:
            dp, nb, nt, caps, acts = ofp10_switch_features.unpack(buf, 8)
            aux = 0
        else:
            dp, nb, nt, aux, caps, acts = ofp13_switch_features.unpack(buf, 8)
            if version < 4:
                aux = 0
        ports = unpack_ports(buf, 32, len(buf), version) if version < 4 else ()
        if version >= 4 and len(buf) != 32:
            raise OFPError("OFPBRC_BAD_LEN", detail="features reply with trailing data")
        return cls(version=version, xid=xid, datapath_id=dp, n_buffers=nb, n_tables=nt,
                   auxiliary_id=aux, capabilities=caps, actions=acts, ports=ports)

    def _encode_body(self, key):
        if self.version == 1:
            head = ofp10_switch_features.pack(self.datapath_id, self.n_buffers, self.n_tables,
                                              self.capabilities, self.actions)
        else:
            head = ofp13_switch_features.pack(self.datapath_id, self.n_buffers, self.n_tables,
                                              self.auxiliary_id, self.capabilities, self.actions)
        return head + b"".join(pack_port(p, self.version) for p in self.ports)


@register(ALL, "PORT_STATUS")
@frozen
class PortStatus(Message):
    reason: int = 0        # OFPPR_ADD 0, DELETE 1, MODIFY 2
    port: Port = Port()
    NAME = "PortStatus"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        if len(buf) < 16:
            raise OFPError("OFPBRC_BAD_LEN", detail="port status")
        reason = buf[8]
        if reason > 2:
            raise OFPError("NXBRC_BAD_REASON", detail=f"port status reason {reason}")
        port, end = unpack_port(buf, 16, version)
        if end != len(buf):
            raise OFPError("OFPBRC_BAD_LEN", detail="port status length")
        return cls(version=version, xid=xid, reason=reason, port=port)

    def _encode_body(self, key):
        return bytes((self.reason,)) + bytes(7) + pack_port(self.port, self.version)


# ---------------------------------------------------------------- packet in/out
ofp10_packet_in = layout("ofp10_packet_in", "buffer_id"/u32, "total_len"/u16,
                         "in_port"/u16, "reason"/u8, pad(1))
ofp12_packet_in = layout("ofp12_packet_in", "buffer_id"/u32, "total_len"/u16,
                         "reason"/u8, "table_id"/u8)
ofp13_packet_in = layout("ofp13_packet_in", "buffer_id"/u32, "total_len"/u16,
                         "reason"/u8, "table_id"/u8, "cookie"/u64)


@register((1, 3, 4, 5, 6), "PACKET_IN")
@frozen
class PacketIn(Message):
    """OFPT_PACKET_IN.  OF1.0 carries ``in_port``; OF1.2+ a ``match``."""
    buffer_id: int = 0xFFFFFFFF
    total_len: int = 0
    in_port: int = 0
    reason: int = 0
    table_id: int = 0
    cookie: int = 0
    match: OxmMatch | None = None
    data: bytes = b""
    NAME = "PacketIn"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        if version == 1:
            b, t, p, r = ofp10_packet_in.unpack(buf, 8)
            return cls(version=1, xid=xid, buffer_id=b, total_len=t, in_port=p, reason=r,
                       data=buf[18:])
        if version == 3:
            b, t, r, tid = ofp12_packet_in.unpack(buf, 8)
            ck, off = 0, 16
        else:
            b, t, r, tid, ck = ofp13_packet_in.unpack(buf, 8)
            off = 24
        m, off = OxmMatch.unpack_oxm(buf, off)
        if len(buf) < off + 2:
            raise OFPError("OFPBRC_BAD_LEN", detail="packet-in without pad")
        return cls(version=version, xid=xid, buffer_id=b, total_len=t, reason=r, table_id=tid,
                   cookie=ck, match=m, data=buf[off + 2:])

    def _encode_body(self, key):
        v = self.version
        if v == 1:
            return ofp10_packet_in.pack(self.buffer_id, self.total_len, self.in_port,
                                        self.reason) + self.data
        if v == 3:
            head = ofp12_packet_in.pack(self.buffer_id, self.total_len, self.reason, self.table_id)
        else:
            head = ofp13_packet_in.pack(self.buffer_id, self.total_len, self.reason,
                                        self.table_id, self.cookie)
        return head + (self.match or OxmMatch()).pack_oxm() + b"\0\0" + self.data


ofp10_packet_out = layout("ofp10_packet_out", "buffer_id"/u32, "in_port"/u16, "actions_len"/u16)
ofp11_packet_out = layout("ofp11_packet_out", "buffer_id"/u32, "in_port"/u32,
                          "actions_len"/u16, pad(6))
ofp15_packet_out = layout("ofp15_packet_out", "buffer_id"/u32, "actions_len"/u16, pad(2))


@register(ALL, "PACKET_OUT")
@frozen
class PacketOut(Message):
    """OFPT_PACKET_OUT; OF1.5 puts ``in_port`` etc. in ``match``."""
    buffer_id: int = 0xFFFFFFFF
    in_port: int = 0
    match: OxmMatch | None = None
    actions: tuple = ()
    data: bytes = b""
    NAME = "PacketOut"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        m = None
        if version == 1:
            b, p, alen = ofp10_packet_out.unpack(buf, 8)
            off = 16
        elif version < 6:
            b, p, alen = ofp11_packet_out.unpack(buf, 8)
            off = 24
        else:
            b, alen = ofp15_packet_out.unpack(buf, 8)
            p = 0
            m, off = OxmMatch.unpack_oxm(buf, 16)
        if off + alen > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", detail="actions_len overruns packet-out")
        acts = unpack_actions(buf, off, off + alen, version)
        return cls(version=version, xid=xid, buffer_id=b, in_port=p, match=m, actions=acts,
                   data=buf[off + alen:])

    def _encode_body(self, key):
        v = self.version
        acts = pack_actions(self.actions, v)
        if v == 1:
            head = ofp10_packet_out.pack(self.buffer_id, self.in_port, len(acts))
        elif v < 6:
            head = ofp11_packet_out.pack(self.buffer_id, self.in_port, len(acts))
        else:
            head = ofp15_packet_out.pack(self.buffer_id, len(acts)) + \
                (self.match or OxmMatch()).pack_oxm()
        return head + acts + self.data


# ---------------------------------------------------------------- flow mod
ofp10_flow_mod = layout("ofp10_flow_mod", "cookie"/u64, "command"/u16, "idle_timeout"/u16,
                        "hard_timeout"/u16, "priority"/u16, "buffer_id"/u32,
                        "out_port"/u16, "flags"/u16)
ofp11_flow_mod = layout("ofp11_flow_mod", "cookie"/u64, "cookie_mask"/u64, "table_id"/u8,
                        "command"/u8, "idle_timeout"/u16, "hard_timeout"/u16,
                        "priority"/u16, "buffer_id"/u32, "out_port"/u32,
                        "out_group"/u32, "flags"/u16, "importance"/u16)
_fm10 = struct.Struct("!QHHHHIHH").unpack_from
_fm11 = struct.Struct("!QQBBHHHIIIHH").unpack_from
OFPFC_ADD, OFPFC_MODIFY, OFPFC_MODIFY_STRICT, OFPFC_DELETE, OFPFC_DELETE_STRICT = range(5)


@register(ALL, "FLOW_MOD")
@frozen
class FlowMod(Message):
    """OFPT_FLOW_MOD.  OF1.0: ``match`` is a Match10, ``actions`` the action
    list and ``table_id`` the high byte of ``command`` (NXT_FLOW_MOD_TABLE_ID).
    OF1.1+: ``match`` is an OxmMatch and ``instructions`` hold the actions.
    ``importance`` is padding before OF1.4."""
    cookie: int = 0
    cookie_mask: int = 0
    table_id: int = 0
    command: int = OFPFC_ADD
    idle_timeout: int = 0
    hard_timeout: int = 0
    priority: int = 0x8000
    buffer_id: int = 0xFFFFFFFF
    out_port: int = 0
    out_group: int = 0
    flags: int = 0
    importance: int = 0
    match: object = None
    actions: tuple = ()
    instructions: tuple = ()
    NAME = "FlowMod"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        if version == 1:
            if len(buf) < 72:
                raise OFPError("OFPBRC_BAD_LEN", detail="flow_mod shorter than 72")
            m = Match10.unpack(buf, 8)
            ck, cmd, idle, hard, prio, bid, outp, flags = _fm10(buf, 48)
            acts = unpack_actions(buf, 72, len(buf), 1)
            return cls._make(version=1, xid=xid, cookie=ck, table_id=cmd >> 8,
                             command=cmd & 0xFF, idle_timeout=idle, hard_timeout=hard,
                             priority=prio, buffer_id=bid, out_port=outp, flags=flags, match=m,
                             actions=acts)
        if len(buf) < 56:
            raise OFPError("OFPBRC_BAD_LEN", detail="flow_mod shorter than 56")
        (ck, ckm, tid, cmd, idle, hard, prio, bid, outp, outg, flags,
         imp) = _fm11(buf, 8)
        m, off = OxmMatch.unpack_oxm(buf, 48)
        insts = unpack_instructions(buf, off, len(buf), version)
        return cls._make(version=version, xid=xid, cookie=ck, cookie_mask=ckm, table_id=tid,
                         command=cmd, idle_timeout=idle, hard_timeout=hard, priority=prio,
                         buffer_id=bid, out_port=outp, out_group=outg, flags=flags,
                         importance=imp if version >= 5 else 0, match=m, instructions=insts)

    def _encode_body(self, key):
        v = self.version
        if v == 1:
            return ((self.match or Match10()).pack() +
                    ofp10_flow_mod.pack(self.cookie, (self.table_id << 8) | self.command,
                                        self.idle_timeout, self.hard_timeout, self.priority,
                                        self.buffer_id, self.out_port, self.flags) +
                    pack_actions(self.actions, 1))
        return (ofp11_flow_mod.pack(self.cookie, self.cookie_mask, self.table_id, self.command,
                                    self.idle_timeout, self.hard_timeout, self.priority,
                                    self.buffer_id, self.out_port, self.out_group, self.flags,
                                    self.importance if v >= 5 else 0) +
                (self.match or OxmMatch()).pack_oxm() +
                pack_instructions(self.instructions, v))


# ---------------------------------------------------------------- flow removed
ofp10_flow_removed = layout("ofp10_flow_removed", "cookie"/u64, "priority"/u16, "reason"/u8,
                            pad(1), "duration_sec"/u32, "duration_nsec"/u32,
                            "idle_timeout"/u16, pad(2), "packet_count"/u64, "byte_count"/u64)
ofp12_flow_removed = layout("ofp12_flow_removed", "cookie"/u64, "priority"/u16, "reason"/u8,
                            "table_id"/u8, "duration_sec"/u32, "duration_nsec"/u32,
                            "idle_timeout"/u16, "hard_timeout"/u16, "packet_count"/u64,
                            "byte_count"/u64)
ofp15_flow_removed = layout("ofp15_flow_removed", "table_id"/u8, "reason"/u8, "priority"/u16,
                            "idle_timeout"/u16, "hard_timeout"/u16, "cookie"/u64)


@register((1, 3, 4, 5, 6), "FLOW_REMOVED")
@frozen
class FlowRemoved(Message):
    """OFPT_FLOW_REMOVED.  OF1.5 (``ofp15_flow_removed``, the match, then OXS
    statistics, :mod:`.oxs`) carries duration, packet_count and byte_count as
    OXS; absent ones decode as all ones and are left out when encoded (OVS
    sends all three; other statistics are dropped, as OVS does)."""
    cookie: int = 0
    priority: int = 0
    reason: int = 0
    table_id: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    idle_timeout: int = 0
    hard_timeout: int = 0
    packet_count: int = 0
    byte_count: int = 0
    match: object = None
    NAME = "FlowRemoved"

    @classmethod
    def _decode(cls, key, version, xid, buf):
        if version >= 6:
            d = ofp15_flow_removed.parse_dict(buf, 8)
            m, off = OxmMatch.unpack_oxm(buf, 24)
            st, off = unpack_stats(buf, off)
            if off != len(buf):
                raise OFPError("OFPBRC_BAD_LEN", detail="flow removed length")
            return cls(version=version, xid=xid, match=m, duration_sec=st.duration_sec,
                       duration_nsec=st.duration_nsec, packet_count=st.packet_count,
                       byte_count=st.byte_count, **d)
        if version == 1:
            m = Match10.unpack(buf, 8)
            d = ofp10_flow_removed.parse_dict(buf, 48)
            if len(buf) != 88:
                raise OFPError("OFPBRC_BAD_LEN", detail="flow removed length")
        else:
            d = ofp12_flow_removed.parse_dict(buf, 8)
            m, off = OxmMatch.unpack_oxm(buf, 48)
            if off != len(buf):
                raise OFPError("OFPBRC_BAD_LEN", detail="flow removed length")
        return cls(version=version, xid=xid, match=m, **d)

    def _encode_body(self, key):
        if self.version >= 6:
            lay = ofp15_flow_removed
            return (lay.pack(*(getattr(self, n) for n in lay.names))
                    + (self.match or OxmMatch()).pack_oxm()
                    + pack_stats(self.duration_sec, self.duration_nsec, UNKNOWN32,
                                 self.packet_count, self.byte_count))
        if self.version == 1:
            lay = ofp10_flow_removed
            return (self.match or Match10()).pack() + lay.pack(*(getattr(self, n) for n in lay.names))
        lay = ofp12_flow_removed
        return lay.pack(*(getattr(self, n) for n in lay.names)) + (self.match or OxmMatch()).pack_oxm()


# ---------------------------------------------------------------- port/table mod
ofp10_port_mod = layout("ofp10_port_mod", "port_no"/u16, "hw_addr"/raw(6), "config"/u32,
                        "mask"/u32, "advertise"/u32, pad(4))
ofp11_port_mod = layout("ofp11_port_mod", "port_no"/u32, pad(4), "hw_addr"/raw(6), pad(2),
                        "config"/u32, "mask"/u32, "advertise"/u32, pad(4))
ofp14_port_mod = layout("ofp14_port_mod", "port_no"/u32, pad(4), "hw_addr"/raw(6), pad(2),
                        "config"/u32, "mask"/u32)


def _check_props14(version, kw):
    if "properties" in kw:
        check_tlv_list(kw["properties"], "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", "property")


PortMod = message("PortMod", ALL, "PORT_MOD", (),
                  {1: ofp10_port_mod, 2: ofp11_port_mod, 3: ofp11_port_mod,
                   4: ofp11_port_mod, 5: ofp14_port_mod, 6: ofp14_port_mod},
                  tail="properties", validate=_check_props14,
                  doc="OFPT_PORT_MOD; OF1.4+ ``advertise`` travels in ``properties``.")
ofp11_table_mod = layout("ofp11_table_mod", "table_id"/u8, pad(3), "config"/u32)


def _check_table_mod(version, kw):
    """OF1.4's properties are ``uint8_t[8][]`` (a whole number of 8-byte units,
    else OFPBRC_BAD_LEN, as OVS's message decoder says before the properties');
    OF1.1-1.3's TABLE_MOD has none."""
    props = kw.get("properties", b"")
    if len(props) % 8 or (props and version < 5):
        raise OFPError("OFPBRC_BAD_LEN", detail="table mod properties")
    _check_props14(version, kw)


TableMod = message("TableMod", OF11UP, "TABLE_MOD", (), ofp11_table_mod,
                   tail="properties", validate=_check_table_mod)

# ---------------------------------------------------------------- queues
ofp10_queue_get_config_request = layout("ofp10_queue_get_config_request", "port"/u16, pad(2))
ofp11_queue_get_config_request = layout("ofp11_queue_get_config_request", "port"/u32, pad(4))
_QGC = {1: ofp10_queue_get_config_request, 2: ofp11_queue_get_config_request,
        3: ofp11_queue_get_config_request, 4: ofp11_queue_get_config_request}
QueueGetConfigRequest = message("QueueGetConfigRequest", (1, 2, 3, 4),
                                "QUEUE_GET_CONFIG_REQUEST", (), _QGC)
ofp10_queue_get_config_reply = layout("ofp10_queue_get_config_reply", "port"/u16, pad(6))
ofp11_queue_get_config_reply = layout("ofp11_queue_get_config_reply", "port"/u32, pad(4))


def check_queues(data: bytes, version: int):
    """Validate ``ofp_packet_queue`` records and their properties: a property
    shorter than its own header or overrunning its queue is OFPBRC_BAD_LEN.
    OF1.0 and OF1.1 queues are ``ofp10_packet_queue``; OF1.2+ add the port."""
    if version <= 2:
        qfmt, qhdr, qlen_i = "!IH2x", 8, 1
    else:
        qfmt, qhdr, qlen_i = "!IIH6x", 16, 2
    for off, ln in check_tlv_list(data, qfmt, qlen_i, qhdr, 1, "OFPBRC_BAD_LEN", "queue"):
        check_tlv_list(data[off + qhdr:off + ln], "!HH", 1, 8, 1, "OFPBRC_BAD_LEN",
                       "queue property")


QueueGetConfigReply = message(
    "QueueGetConfigReply", (1, 2, 3, 4), "QUEUE_GET_CONFIG_REPLY", (),
    {1: ofp10_queue_get_config_reply, 2: ofp11_queue_get_config_reply,
     3: ofp11_queue_get_config_reply, 4: ofp11_queue_get_config_reply},
    tail="queues", validate=lambda v, kw: check_queues(kw["queues"], v))

# ---------------------------------------------------------------- roles, async
ofp12_role_request = layout("ofp12_role_request", "role"/u32, pad(4), "generation_id"/u64)
ofp15_role_request = layout("ofp15_role_request", "role"/u32, "short_id"/u16, pad(2),
                            "generation_id"/u64)
_ROLE = {3: ofp12_role_request, 4: ofp12_role_request, 5: ofp12_role_request,
         6: ofp15_role_request}
RoleRequest = message("RoleRequest", OF12UP, "ROLE_REQUEST", (), _ROLE)
RoleReply = message("RoleReply", OF12UP, "ROLE_REPLY", (), _ROLE)
ofp14_role_status = layout("ofp14_role_status", "role"/u32, "reason"/u8, pad(3),
                           "generation_id"/u64)


def _check_role_status(version, kw):
    if kw["reason"] > 2:      # OFPCRR_MASTER_REQUEST, CONFIG, EXPERIMENTER
        raise OFPError("NXBRC_BAD_REASON",
                       detail=f"role status reason {kw['reason']}")
    _check_props14(version, kw)


RoleStatus = message("RoleStatus", OF14UP, "ROLE_STATUS", (), ofp14_role_status,
                     tail="properties", validate=_check_role_status)
GetAsyncRequest = message("GetAsyncRequest", OF13UP, "GET_ASYNC_REQUEST", ())
ofp13_async_config = layout("ofp13_async_config", "packet_in_mask0"/u32,
                            "packet_in_mask1"/u32, "port_status_mask0"/u32,
                            "port_status_mask1"/u32, "flow_removed_mask0"/u32,
                            "flow_removed_mask1"/u32)
_ASYNC = {4: ofp13_async_config, 5: None, 6: None}
GetAsyncReply = message("GetAsyncReply", OF13UP, "GET_ASYNC_REPLY", (), _ASYNC,
                        tail="properties", validate=_check_props14,
                        doc="OF1.3: six masks (index 0 = master/equal, 1 = slave); "
                            "OF1.4+: ``properties``.")
SetAsync = message("SetAsync", OF13UP, "SET_ASYNC", (), _ASYNC, tail="properties",
                   validate=_check_props14)

# ---------------------------------------------------------------- groups, meters
# GROUP_MOD and METER_MOD (typed buckets and bands) live in .groups.

# ---------------------------------------------------------------- bundles
ofp14_bundle_ctrl_msg = layout("ofp14_bundle_ctrl_msg", "bundle_id"/u32, "type"/u16,
                               "flags"/u16)
BundleControl = message("BundleControl", OF14UP, "BUNDLE_CONTROL", (), ofp14_bundle_ctrl_msg,
                        tail="properties", validate=_check_props14)
ofp14_bundle_add_msg = layout("ofp14_bundle_add_msg", "bundle_id"/u32, pad(2), "flags"/u16)


@register(OF14UP, "BUNDLE_ADD_MESSAGE")
@frozen
class BundleAdd(Message):
    """OFPT_BUNDLE_ADD_MESSAGE: ``message`` is the decoded inner message."""
    bundle_id: int = 0
    flags: int = 0
    message: Message | None = None
    properties: bytes = b""
    NAME = "BundleAdd"

    @classmethod
    def _decode(cls, key, version, xid, buf, off=None):
        off = prefix_len(key) if off is None else off
        bid, flags = ofp14_bundle_add_msg.unpack(buf, off)
        off += 8
        inner, props = split_inner(buf, off, version)
        return cls(version=version, xid=xid, bundle_id=bid, flags=flags, message=inner,
                   properties=props)

    def _encode_body(self, key):
        inner = self.message.encode()
        body = ofp14_bundle_add_msg.pack(self.bundle_id, self.flags) + inner
        if self.properties:
            body += bytes((-len(inner)) & 7) + self.properties
        return pack_prefix(key, self) + body


def split_inner(buf, off, version):
    from .header import decode
    if len(buf) - off < 8:
        raise OFPError("OFPBRC_BAD_LEN", detail="bundle without inner message")
    ilen = struct.unpack_from("!H", buf, off + 2)[0]
    if ilen < 8 or off + ilen > len(buf):
        raise OFPError("OFPBFC_MSG_BAD_LEN", detail="inner message length")
    if buf[off] != version:
        raise OFPError("OFPBRC_BAD_VERSION",
                       detail="inner message version")
    inner = decode(buf[off:off + ilen])
    rest = off + ilen
    props = b""
    if rest < len(buf):
        rest = (rest + 7) & ~7 if rest + ((-rest) & 7) <= len(buf) else rest
        props = buf[rest:]
        check_tlv_list(props, "!HH", 1, 4, 8, "OFPBPC_BAD_LEN", "bundle property")
    return inner, props


# ---------------------------------------------------------------- long tail (bytes bodies)
TableStatus = message("TableStatus", OF14UP, "TABLE_STATUS", (),
                      layout("ofp14_table_status", "reason"/u8, pad(7)), tail="table")
RequestForward = message("RequestForward", OF14UP, "REQUESTFORWARD", (), None, tail="request")
ControllerStatus = message("ControllerStatus", OF15UP, "CONTROLLER_STATUS", (), None,
                           tail="status")
