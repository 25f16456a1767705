"""Render whole OpenFlow messages the way ``ovs-ofctl ofp-print HEX`` does.

Theory of operation
-------------------
:func:`format_message` returns exactly the text ``ovs-ofctl ofp-print``
prints for a message at its default verbosity (2): a header line
``NAME (OFx.y) (xid=0x..):`` (no version tag for OF1.0), then the body as
Open vSwitch's ``ofp_to_string`` formats it, ending in a newline.

Names come from one table (:data:`_NAMES`, class name -> OVS raw name, with
``{}`` where the OF1.0 "STATS" and later "MULTIPART" spellings agree on
OFPST_*).  Bodies come from one dispatch table (:data:`_BODY`, class name ->
``f(msg) -> str``); each function is a transcription of the matching
``*_format`` function of Open vSwitch 3.1 (lib/ofp-print.c, ofp-port.c,
ofp-flow.c, ofp-group.c, ofp-meter.c, ofp-monitor.c, ofp-packet.c,
ofp-switch.c, ofp-async.c, ofp-role.c) and names that function.  Matches and
actions go through :mod:`.render`; packets carried by PACKET_IN/OUT are
summarised with :func:`datapath.flow.extract` and
:func:`datapath.odp.format_flow` (OVS's ``ofp_packet_to_string``).

Messages without an entry raise :class:`KeyError`: the comparison test keeps
a short list of what is not rendered (see ``tests/ofproto/test_render_msgs.py``).
Pure functions over decoded dataclasses; nothing here touches the decoder.
"""

from __future__ import annotations

import struct

from . import render as R
from .errors import NX_VENDOR_ID, error_name
from .header import VERSION_NAMES
from .render_ports import (format_duration, format_phy_port, format_port, format_port_config,
                           format_port_features, hex_dump, packet_to_string, port_list)

# ---------------------------------------------------------------- names
_NAMES = {
    "Hello": "OFPT_HELLO", "Error": "OFPT_ERROR", "EchoRequest": "OFPT_ECHO_REQUEST",
    "EchoReply": "OFPT_ECHO_REPLY", "FeaturesRequest": "OFPT_FEATURES_REQUEST",
    "FeaturesReply": "OFPT_FEATURES_REPLY", "GetConfigRequest": "OFPT_GET_CONFIG_REQUEST",
    "GetConfigReply": "OFPT_GET_CONFIG_REPLY", "SetConfig": "OFPT_SET_CONFIG",
    "PacketIn": "OFPT_PACKET_IN", "NxPacketIn": "NXT_PACKET_IN", "NxPacketIn2": "NXT_PACKET_IN2",
    "PacketOut": "OFPT_PACKET_OUT", "FlowMod": "OFPT_FLOW_MOD", "NxFlowMod": "NXT_FLOW_MOD",
    "FlowRemoved": "OFPT_FLOW_REMOVED", "NxFlowRemoved": "NXT_FLOW_REMOVED",
    "PortStatus": "OFPT_PORT_STATUS", "PortMod": "OFPT_PORT_MOD",
    "BarrierRequest": "OFPT_BARRIER_REQUEST", "BarrierReply": "OFPT_BARRIER_REPLY",
    "RoleRequest": "OFPT_ROLE_REQUEST", "RoleReply": "OFPT_ROLE_REPLY",
    "RoleStatus": "OFPT_ROLE_STATUS", "NxRoleRequest": "NXT_ROLE_REQUEST",
    "NxRoleReply": "NXT_ROLE_REPLY", "SetAsync": "OFPT_SET_ASYNC",
    "GetAsyncRequest": "OFPT_GET_ASYNC_REQUEST", "GetAsyncReply": "OFPT_GET_ASYNC_REPLY",
    "GroupMod": "OFPT_GROUP_MOD", "NxGroupMod": "NXT_GROUP_MOD", "MeterMod": "OFPT_METER_MOD",
    "NxSetFlowFormat": "NXT_SET_FLOW_FORMAT", "NxFlowModTableId": "NXT_FLOW_MOD_TABLE_ID",
    "NxSetPacketInFormat": "NXT_SET_PACKET_IN_FORMAT",
    "NxSetControllerId": "NXT_SET_CONTROLLER_ID",
    "DescStatsRequest": "OFPST_DESC request", "DescStatsReply": "OFPST_DESC reply",
    "FlowStatsRequest": "OFPST_FLOW request", "FlowStatsReply": "OFPST_FLOW reply",
    "NxFlowStatsRequest": "NXST_FLOW request", "NxFlowStatsReply": "NXST_FLOW reply",
    "AggregateStatsRequest": "OFPST_AGGREGATE request",
    "AggregateStatsReply": "OFPST_AGGREGATE reply",
    "NxAggregateStatsRequest": "NXST_AGGREGATE request",
    "NxAggregateStatsReply": "NXST_AGGREGATE reply",
    "TableStatsRequest": "OFPST_TABLE request",
    "PortStatsRequest": "OFPST_PORT request", "PortStatsReply": "OFPST_PORT reply",
    "PortDescRequest": "OFPST_PORT_DESC request", "PortDescReply": "OFPST_PORT_DESC reply",
    "QueueStatsRequest": "OFPST_QUEUE request", "QueueStatsReply": "OFPST_QUEUE reply",
    "GroupStatsRequest": "OFPST_GROUP request", "GroupStatsReply": "OFPST_GROUP reply",
    "GroupDescRequest": "OFPST_GROUP_DESC request", "GroupDescReply": "OFPST_GROUP_DESC reply",
    "GroupFeaturesRequest": "OFPST_GROUP_FEATURES request",
    "GroupFeaturesReply": "OFPST_GROUP_FEATURES reply",
    "NxGroupStatsRequest": "NXST_GROUP request", "NxGroupStatsReply": "NXST_GROUP reply",
    "NxGroupDescRequest": "NXST_GROUP_DESC request", "NxGroupDescReply": "NXST_GROUP_DESC reply",
    "NxGroupFeaturesRequest": "NXST_GROUP_FEATURES request",
    "MeterStatsRequest": "OFPST_METER request", "MeterStatsReply": "OFPST_METER reply",
    "MeterConfigStatsRequest": "OFPST_METER_CONFIG request",
    "MeterConfigStatsReply": "OFPST_METER_CONFIG reply",
    "MeterFeaturesRequest": "OFPST_METER_FEATURES request",
    "MeterFeaturesReply": "OFPST_METER_FEATURES reply",
    "TableFeaturesRequest": "OFPST_TABLE_FEATURES request",
    "QueueGetConfigRequest": "OFPT_QUEUE_GET_CONFIG_REQUEST",
    "NxIpfixBridgeRequest": "NXST_IPFIX_BRIDGE request",
    "NxIpfixFlowRequest": "NXST_IPFIX_FLOW request",
    "NxTlvTableRequest": "NXT_TLV_TABLE_REQUEST", "TableDescRequest": "OFPST_TABLE_DESC request",
    "NxFlowMonitorRequest": "NXST_FLOW_MONITOR request",
    "NxFlowMonitorReply": "NXST_FLOW_MONITOR reply",
    "OnfFlowMonitorRequest": "ONFST_FLOW_MONITOR request",
    "OnfFlowMonitorReply": "ONFST_FLOW_MONITOR reply",
    "FlowMonitorRequest": "OFPST_FLOW_MONITOR request",
    "FlowMonitorReply": "OFPST_FLOW_MONITOR reply",
    "NxFlowMonitorCancel": "NXT_FLOW_MONITOR_CANCEL",
    "OnfFlowMonitorCancel": "ONFT_FLOW_MONITOR_CANCEL",
    "NxFlowMonitorPaused": "NXT_FLOW_MONITOR_PAUSED",
    "OnfFlowMonitorPaused": "ONFT_FLOW_MONITOR_PAUSED",
    "NxFlowMonitorResumed": "NXT_FLOW_MONITOR_RESUMED",
    "OnfFlowMonitorResumed": "ONFT_FLOW_MONITOR_RESUMED",
}


def message_name(msg) -> str:
    return _NAMES[type(msg).__name__]


def format_message(msg) -> str:
    """The full ``ovs-ofctl ofp-print`` text of ``msg`` (newline-terminated)."""
    name = type(msg).__name__
    body = _BODY.get(name, _empty)(msg)
    ver = "" if msg.version == 1 else f" ({VERSION_NAMES[msg.version]})"
    out = f"{_NAMES[name]}{ver} (xid={msg.xid:#x}):{body}"
    return out if out.endswith("\n") else out + "\n"


def _empty(msg) -> str:
    return ""


# ---------------------------------------------------------------- symmetric (ofp-print.c)
def _hello(msg) -> str:
    """ofp_print_hello: the version bitmap (implied by the header when absent)."""
    from .messages import hello_bitmap
    bm = hello_bitmap(msg)
    if bm is None:
        bm = (1 << (msg.version + 1)) - 2
    return "\n version bitmap: " + ", ".join(f"{v:#04x}" for v in range(32) if bm >> v & 1)


def _error(msg) -> str:
    """ofp_print_error_msg: the error's name, then the offending message."""
    exp = None
    data = msg.data
    if msg.type == 0xB0C2 and len(data) >= 8:       # OVS's OF1.0/1.1 nx_vendor_error
        t, c = struct.unpack_from("!HH", data, 4)
        data = data[8:]
        name = error_name(msg.version, t, c)
    elif msg.type == 0xFFFF:
        exp_type = msg.code
        exp = struct.unpack_from("!I", data)[0] if len(data) >= 4 else None
        data = data[4:]
        name = error_name(msg.version, msg.type, exp_type, exp)
    else:
        name = error_name(msg.version, msg.type, msg.code)
        if name is None:
            name = error_name(msg.version, msg.type, msg.code, NX_VENDOR_ID)
    if name is None:
        raise KeyError("unknown error code")
    out = f" {name}\n"
    if name in ("OFPHFC_INCOMPATIBLE", "OFPHFC_EPERM"):
        return out + "".join(chr(b) if 32 <= b < 127 else "." for b in data)
    return out + _nested(data)


def _nested(data: bytes) -> str:
    """ofp_to_string of the bytes echoed in an error (verbosity 1)."""
    from .header import decode
    if len(data) < 8:
        return f"OpenFlow packet too short (only {len(data)} bytes):\n" + hex_dump(data)
    ln = struct.unpack_from("!H", data, 2)[0]
    if len(data) < ln:
        raise KeyError("truncated echoed message")
    return format_message(decode(bytes(data[:ln])))


def _echo(msg) -> str:
    return f" {len(msg.data)} bytes of payload\n" + hex_dump(msg.data)


# ---------------------------------------------------------------- switch (ofp-switch.c)
_CAPS10 = ((1, "FLOW_STATS"), (2, "TABLE_STATS"), (4, "PORT_STATS"), (8, "STP"),
           (32, "IP_REASM"), (64, "QUEUE_STATS"), (128, "ARP_MATCH_IP"))
_CAPS11 = ((1, "FLOW_STATS"), (2, "TABLE_STATS"), (4, "PORT_STATS"), (8, "GROUP_STATS"),
           (32, "IP_REASM"), (64, "QUEUE_STATS"), (256, "PORT_BLOCKED"), (512, "BUNDLES"),
           (1024, "FLOW_MONITORING"))
# OF1.0 action bitmap in Open vSwitch's ofpact order (ofpact_bitmap_format).
_ACTS10 = ((0, "output"), (11, "enqueue"), (1, "set_vlan_vid"), (2, "set_vlan_pcp"),
           (3, "strip_vlan"), (4, "mod_dl_src"), (5, "mod_dl_dst"), (6, "mod_nw_src"),
           (7, "mod_nw_dst"), (8, "mod_nw_tos"), (9, "mod_tp_src"), (10, "mod_tp_dst"))
# OF1.2+ action bitmap (group features), same ordering rule.
_ACTS12 = ((0, "output"), (22, "group"), (25, "set_field"), (18, "strip_vlan"),
           (17, "push_vlan"), (23, "mod_nw_ttl"), (24, "dec_ttl"), (15, "set_mpls_ttl"),
           (16, "dec_mpls_ttl"), (19, "push_mpls"), (20, "pop_mpls"), (21, "set_queue"))


def bit_names(v: int, names) -> str:
    """ofp_print_bit_names with ' ': known names, then leftover bits in hex."""
    out = [n for b, n in names if v & b]
    rest = v & ~sum(b for b, _ in names)
    if rest:
        out.append(f"{rest:#x}")
    return " ".join(out) or "0"


def _action_bitmap(bits: int, table) -> str:
    known = sum(1 << b for b, _ in table)
    if bits & ~known:
        raise KeyError("action bitmap outside the rendered table")
    return " ".join(n for b, n in table if bits >> b & 1) or "<none>"


def _features_reply(msg) -> str:
    """ofputil_switch_features_format (+ ofputil_phy_ports_format)."""
    out = f" dpid:{msg.datapath_id:016x}\nn_tables:{msg.n_tables}, n_buffers:{msg.n_buffers}"
    if msg.auxiliary_id:
        out += f", auxiliary_id:{msg.auxiliary_id}"
    out += "\ncapabilities: " + bit_names(msg.capabilities,
                                          _CAPS10 if msg.version == 1 else _CAPS11) + "\n"
    if msg.version == 1:
        out += "actions: " + _action_bitmap(msg.actions, _ACTS10) + "\n"
    if msg.version >= 4:
        return out
    return out + port_list(msg.ports, msg.version)


_FRAGS = {0: "normal", 1: "drop", 2: "reassemble", 3: "nx-match"}


def _switch_config(msg) -> str:
    """ofputil_switch_config_format."""
    out = f" frags={_FRAGS[msg.flags & 3]}"
    if msg.version in (2, 3) and msg.flags & 4:
        out += " invalid_ttl_to_controller"
    return out + f" miss_send_len={msg.miss_send_len}"


# ---------------------------------------------------------------- packets (ofp-packet.c)
_PIN_REASONS = {0: "no_match", 1: "action", 2: "invalid_ttl", 3: "action_set", 4: "group",
                5: "packet_out"}


def _packet_in(msg) -> str:
    """ofputil_packet_in_private_format for OFPT_PACKET_IN / NXT_PACKET_IN."""
    name = type(msg).__name__
    out = ""
    if msg.table_id:
        out += f" table_id={msg.table_id}"
    if (msg.version >= 4 or name == "NxPacketIn") and msg.cookie != (1 << 64) - 1:
        out += f" cookie={msg.cookie:#x}"
    if msg.version == 1 and name == "PacketIn":
        meta = R.FlowMatch.exact(in_port=msg.in_port)
    else:
        meta = msg.match
    out += f" total_len={msg.total_len} " + R.format_match(meta)
    out += f" (via {_PIN_REASONS.get(msg.reason, msg.reason)}) data_len={len(msg.data)}"
    out += " (unbuffered)" if msg.buffer_id == 0xFFFFFFFF else f" buffer={msg.buffer_id:#010x}"
    return out + "\n" + packet_to_string(msg.data)


def _packet_out(msg) -> str:
    """ofputil_packet_out_format."""
    if msg.version < 6:
        p = msg.in_port
        if msg.version > 1 and p >= 0xFFFFFF00:
            p -= 0xFFFF0000
        meta = R.FlowMatch.exact(in_port=p)
    else:
        meta = msg.match
    out = " " + R.format_match(meta) + " actions=" + R.format_actions(msg.actions)
    if msg.buffer_id != 0xFFFFFFFF:
        return out + f" buffer={msg.buffer_id:#010x}"
    out += f" data_len={len(msg.data)}"
    if msg.data:
        out += "\n" + packet_to_string(msg.data)
    return out


# ---------------------------------------------------------------- flows (ofp-flow.c)
_FR_REASONS = {0: "idle", 1: "hard", 2: "delete", 3: "group_delete", 4: "meter_delete",
               5: "eviction"}


def _flow_removed(msg) -> str:
    """ofputil_flow_removed_format."""
    out = " " + R.format_match(msg.match, msg.priority)
    out += f" reason={_FR_REASONS.get(msg.reason, msg.reason)}"
    name = type(msg).__name__
    if name == "NxFlowRemoved":                 # NX encodes table_id + 1 (0 = unknown)
        table = msg.table_id - 1 if msg.table_id else 255
    else:
        table = 255 if msg.version == 1 else msg.table_id
    if table != 255:
        out += f" table_id={table}"
    if msg.cookie:
        out += f" cookie:{msg.cookie:#x}"
    out += " duration" + format_duration(msg.duration_sec, msg.duration_nsec)
    out += f" idle{msg.idle_timeout}"
    if getattr(msg, "hard_timeout", 0):
        out += f" hard{msg.hard_timeout}"
    return out + f" pkts{msg.packet_count} bytes{msg.byte_count}\n"


def _flow_mod(msg) -> str:
    return " " + R.format_flow_mod(msg)


_FLOW_FLAGS = ((1, "send_flow_rem"), (2, "check_overlap"), (4, "reset_counts"),
               (8, "no_packet_counts"), (16, "no_byte_counts"))


def _stat(n: int) -> str:
    """print_flow_stat: UINT64_MAX is unknown."""
    return "?" if n == 0xFFFFFFFFFFFFFFFF else str(n)


def format_flow_stats(fs, version: int, nx: bool = False) -> str:
    """ofputil_flow_stats_format (one entry, show_stats, table shown).  Ages
    come with NXST_FLOW (idle and hard) and OF1.5 (idle_time only)."""
    out = f" cookie={fs.cookie:#x}, duration=" + format_duration(fs.duration_sec,
                                                                 fs.duration_nsec)
    out += (f", table={fs.table_id}, n_packets={_stat(fs.packet_count)}, "
            f"n_bytes={_stat(fs.byte_count)}, ")
    if fs.idle_timeout:
        out += f"idle_timeout={fs.idle_timeout}, "
    if fs.hard_timeout:
        out += f"hard_timeout={fs.hard_timeout}, "
    flags = fs.flags if version >= 4 else 0      # OF1.0-1.2 flow stats carry no flags
    if flags:
        out += "".join(n + " " for b, n in _FLOW_FLAGS if flags & b)
    if fs.importance:
        out += f"importance={fs.importance}, "
    if nx or version >= 6:
        if fs.idle_age:
            out += f"idle_age={fs.idle_age - 1}, "
        if nx and fs.hard_age and fs.hard_age - 1 != fs.duration_sec:
            out += f"hard_age={fs.hard_age - 1}, "
    m = R.format_match(fs.match, fs.priority)
    acts = (R.format_actions(instructions=fs.instructions) if version > 1 and not nx
            else R.format_actions(fs.actions))
    return out + (m + " " if m else "") + "actions=" + acts


def _flow_stats_reply(msg) -> str:
    nx = type(msg).__name__.startswith("Nx")
    return "".join("\n" + format_flow_stats(fs, msg.version, nx) for fs in msg.stats)


def _flow_stats_request(msg) -> str:
    """ofputil_flow_stats_request_format."""
    out = ""
    if msg.table_id != 0xFF:
        out += f" table={msg.table_id}"
    anyp = 0xFFFF if msg.version == 1 else 0xFFFFFFFF
    if msg.out_port != anyp:
        out += " out_port=" + format_port(msg.out_port)
    m = R.format_match(msg.match)
    return out + (" " + m if m else "")


def _aggregate_reply(msg) -> str:
    return (f" packet_count={msg.packet_count} byte_count={msg.byte_count} "
            f"flow_count={msg.flow_count}")


def _desc_reply(msg) -> str:
    def s(b):
        return b.split(b"\0", 1)[0].decode("latin-1")
    return (f"\nManufacturer: {s(msg.mfr_desc)}\nHardware: {s(msg.hw_desc)}\n"
            f"Software: {s(msg.sw_desc)}\nSerial Num: {s(msg.serial_num)}\n"
            f"DP Description: {s(msg.dp_desc)}\n")


# ---------------------------------------------------------------- ports (ofp-port.c)
def _port_status(msg) -> str:
    return " " + {0: "ADD", 1: "DEL", 2: "MOD"}[msg.reason] + ":" + \
        format_phy_port(msg.port, msg.version)


def _port_mod(msg) -> str:
    """ofputil_port_mod_format."""
    adv = getattr(msg, "advertise", 0)
    if msg.version >= 5:
        props = msg.properties
        off = 0
        while off + 8 <= len(props):
            t, ln = struct.unpack_from("!HH", props, off)
            if t == 0 and ln >= 8:
                adv = struct.unpack_from("!I", props, off + 4)[0]
            off += max(8, (ln + 7) & ~7)
    out = " port: " + format_port(msg.port_no) + ": addr:" + R.mac(
        int.from_bytes(msg.hw_addr, "big")) + "\n"
    out += "     config: " + format_port_config(msg.config, msg.version)
    out += "     mask:   " + format_port_config(msg.mask, msg.version)
    out += "     advertise: "
    return out + (format_port_features(adv, msg.version) if adv else "UNCHANGED\n")


def _port_desc_reply(msg) -> str:
    return "\n" + port_list(msg.ports, msg.version)


def _port_desc_request(msg) -> str:
    return " port=" + format_port(msg.port_no if msg.version >= 6 else 0xFFFFFFFF)


def _stat(v: int, width: int = 64) -> str:
    return "?" if v == (1 << width) - 1 else str(v)


def _port_stats_reply(msg) -> str:
    """ofputil_format_port_stats, one per entry."""
    out = [f" {len(msg.stats)} ports\n"]
    for ps in msg.stats:
        if ps.props:
            raise KeyError("custom port statistics")
        p = format_port(ps.port_no)
        short = (ps.port_no - 0xFFFF0000 if ps.port_no >= 0xFFFFFF00 else ps.port_no) < 10
        out.append(f"  port {' ' if short else ''}{p}: rx pkts={_stat(ps.rx_packets)}, "
                   f"bytes={_stat(ps.rx_bytes)}, drop={_stat(ps.rx_dropped)}, "
                   f"errs={_stat(ps.rx_errors)}, frame={_stat(ps.rx_frame_err)}, "
                   f"over={_stat(ps.rx_over_err)}, crc={_stat(ps.rx_crc_err)}\n")
        out.append(f"           tx pkts={_stat(ps.tx_packets)}, bytes={_stat(ps.tx_bytes)}, "
                   f"drop={_stat(ps.tx_dropped)}, errs={_stat(ps.tx_errors)}, "
                   f"coll={_stat(ps.collisions)}\n")
        if msg.version >= 4:
            out.append("           duration=" + format_duration(ps.duration_sec,
                                                                ps.duration_nsec) + "\n")
    return "".join(out)


def _port_stats_request(msg) -> str:
    return " port_no=" + format_port(msg.port_no)


def _queue_name(q: int) -> str:
    return "ALL" if q == 0xFFFFFFFF else str(q)


def _queue_stats_reply(msg) -> str:
    out = [f" {len(msg.stats)} queues\n"]
    for q in msg.stats:
        dur = (format_duration(q.duration_sec, q.duration_nsec)
               if msg.version >= 4 and q.duration_sec != 0xFFFFFFFF else "?")
        out.append(f"  port {format_port(q.port_no)} queue {_queue_name(q.queue_id)}: "
                   f"bytes={_stat(q.tx_bytes)}, pkts={_stat(q.tx_packets)}, "
                   f"errors={_stat(q.tx_errors)}, duration={dur}\n")
    return "".join(out)


def _queue_stats_request(msg) -> str:
    p = msg.port_no
    if msg.version == 1 and p == 0xFFFC:
        p = 0xFFFF
    return f" port={format_port(p)} queue={_queue_name(msg.queue_id)}"


# ---------------------------------------------------------------- groups (ofp-group.c)
_GROUP_TYPES = ("all", "select", "indirect", "ff")


def _group_id(g: int) -> str:
    return {0xFFFFFFFC: "ALL", 0xFFFFFFFF: "ANY"}.get(g, str(g))


def format_group(gid, gtype, buckets, version, fam15, suppress_type=False) -> str:
    """ofp_print_group (without selection-method properties)."""
    out = f"group_id={gid}"
    if not suppress_type:
        out += f",type={_GROUP_TYPES[gtype] if gtype < 4 else 'unknown'}"
    if buckets is None:
        return out
    out += ","
    for b in buckets:
        out += "bucket="
        if fam15:
            out += f"bucket_id:{b.bucket_id},"
        if b.weight != (1 if (gtype == 1 and fam15) else 0):
            out += f"weight:{b.weight},"
        wp = b.watch_port
        if wp not in (0xFFFFFFFF, 0xFFFF):
            out += "watch_port:" + format_port(wp) + ","
        if b.watch_group != 0xFFFFFFFF:
            out += f"watch_group:{b.watch_group},"
        out += "actions=" + R.format_actions(b.actions) + ","
    return out.rstrip(",")


_GROUP_CMDS = {0: "ADD", 1: "MOD", 2: "DEL", 3: "INSERT_BUCKET", 4: "REMOVE_BUCKET",
               0x8000: "ADD_OR_MOD"}


def _group_mod(msg) -> str:
    if msg.properties:
        raise KeyError("group properties")
    fam15 = msg.version >= 6 or type(msg).__name__ == "NxGroupMod"
    out = "\n " + _GROUP_CMDS.get(msg.command, f"cmd:{msg.command}") + " "
    bucket_cmd = msg.command in (3, 4)
    if bucket_cmd:
        cb = msg.command_bucket_id
        out += "command_bucket_id:" + {0xFFFFFFFD: "first", 0xFFFFFFFE: "last",
                                       0xFFFFFFFF: "all"}.get(cb, str(cb)) + ","
    return out + format_group(msg.group_id, msg.type, msg.buckets, msg.version, fam15,
                              suppress_type=bucket_cmd)


def _group_desc_reply(msg) -> str:
    fam15 = msg.version >= 6 or type(msg).__name__.startswith("Nx")
    for g in msg.stats:
        if g.props:
            raise KeyError("group properties")
    return "".join("\n " + format_group(g.group_id, g.type, g.buckets, msg.version, fam15)
                   for g in msg.stats)


def _group_stats_reply(msg) -> str:
    out = ""
    for g in msg.stats:
        out += f"\n group_id={g.group_id},"
        if msg.version >= 4 or type(msg).__name__.startswith("Nx"):
            out += "duration=" + format_duration(g.duration_sec, g.duration_nsec) + ","
        out += f"ref_count={g.ref_count},packet_count={g.packet_count},byte_count={g.byte_count}"
        for i, (p, b) in enumerate(g.bucket_stats):
            if p != (1 << 64) - 1:
                out += f",bucket{i}:packet_count={p},byte_count={b}"
    return out


def _group_request(msg) -> str:
    plain = type(msg).__name__ == "GroupDescRequest" and msg.version < 6
    return " group_id=" + _group_id(0xFFFFFFFC if plain else msg.group_id)


def _queue_config_request(msg) -> str:
    return " port=" + format_port(msg.port)


def _cx(v: int) -> str:
    """C's ``%#x``: no prefix for zero."""
    return f"{v:#x}" if v else "0"


def _group_features_reply(msg) -> str:
    """ofputil_group_features_format."""
    table = _ACTS10 if msg.version == 1 else _ACTS12
    out = (f"\n Group table:\n    Types:  {_cx(msg.types)}\n"
           f"    Capabilities:  {_cx(msg.capabilities)}\n")
    for i, name in enumerate(("all", "select", "indirect", "fast failover")):
        if msg.types >> i & 1:
            mg = getattr(msg, f"max_groups{i}")
            out += f"    {name} group:\n       max_groups={_cx(mg)}\n"
            out += "       actions: " + _action_bitmap(getattr(msg, f"actions{i}"),
                                                       table) + "\n"
    return out


# ---------------------------------------------------------------- meters (ofp-meter.c)
def _meter_id(m: int, sep: str) -> str:
    name = {0xFFFFFFFF: "all", 0xFFFFFFFD: "controller", 0xFFFFFFFE: "slowpath"}.get(m)
    return f"meter{sep}{name}" if name else f"meter{sep}{m}"


_METER_FLAGS = ((1, "kbps"), (2, "pktps"), (4, "burst"), (8, "stats"))


def format_meter_config(flags, meter_id, bands) -> str:
    out = _meter_id(meter_id, "=") + " "
    out += "".join(n + " " for b, n in _METER_FLAGS if flags & b)
    if flags & ~15:
        out += f"flags:{flags & ~15:#x} "
    out += "bands="
    for b in bands:
        out += "\ntype=" + {1: "drop", 2: "dscp_remark"}.get(b.type, str(b.type))
        out += f" rate={b.rate}"
        if flags & 4:
            out += f" burst_size={b.burst_size}"
        if b.type == 2:
            out += f" prec_level={b.prec_level}"
    return out + "\n"


def _meter_mod(msg) -> str:
    cmd = {0: "ADD", 1: "MOD", 2: "DEL"}.get(msg.command, f"cmd:{msg.command}")
    bands = msg.bands if msg.command != 2 else ()
    return f" {cmd} " + format_meter_config(msg.flags, msg.meter_id, bands)


def _meter_config_reply(msg) -> str:
    return "".join("\n" + format_meter_config(m.flags, m.meter_id, m.bands) for m in msg.stats)


def _meter_stats_reply(msg) -> str:
    out = ""
    for m in msg.stats:
        out += (f"\n{_meter_id(m.meter_id, ':')} flow_count:{m.flow_count} "
                f"packet_in_count:{m.packet_in_count} byte_in_count:{m.byte_in_count} "
                f"duration:{format_duration(m.duration_sec, m.duration_nsec)} bands:\n")
        for i, (p, b) in enumerate(m.band_stats):
            out += f"{i}: packet_count:{p} byte_count:{b}\n"
    return out


def _meter_request(msg) -> str:
    return " " + _meter_id(msg.meter_id, "=")


def _meter_features_reply(msg) -> str:
    bt = msg.band_types
    return (f"\nmax_meter:{msg.max_meter} max_bands:{msg.max_bands} max_color:{msg.max_color}\n"
            "band_types: " + bit_names(bt, ((2, "drop"), (4, "dscp_remark"))) + "\n"
            "capabilities: " + bit_names(msg.capabilities, _METER_FLAGS) + "\n")


# ---------------------------------------------------------------- roles, async (ofp-role.c, ofp-async.c)
_ROLES = {0: "nochange", 1: "equal", 2: "primary", 3: "secondary"}
_NX_ROLES = {0: "equal", 1: "primary", 2: "secondary"}


def _role(msg) -> str:
    if type(msg).__name__.startswith("Nx"):
        return f" role={_NX_ROLES[msg.role]}"
    out = f" role={_ROLES[msg.role]}"
    if msg.role and msg.generation_id != (1 << 64) - 1:
        out += f" generation_id={msg.generation_id}"
    return out


def _role_status(msg) -> str:
    out = _role(msg)
    return out + " reason=" + ("primary_request", "configuration_changed",
                               "experimenter_data_changed")[msg.reason]


_ASYNC_TYPES = (("PACKET_IN", ("no_match", "action", "invalid_ttl", "action_set", "group",
                               "packet_out")),
                ("PORT_STATUS", ("add", "delete", "modify")),
                ("FLOW_REMOVED", ("idle", "hard", "delete", "group_delete", "eviction",
                                  "meter_delete")),
                ("ROLE_STATUS", ("primary_request", "configuration_changed",
                                 "experimenter_data_changed")),
                ("TABLE_STATUS", ("", "", "", "vacancy_down", "vacancy_up")),
                ("REQUESTFORWARD", ("group_mod_request", "meter_mod_request")))


def _async(msg) -> str:
    """ofputil_format_set_async_config (OF1.3 masks; OF1.4+ properties)."""
    if msg.version == 4:
        masks = [[msg.packet_in_mask0, msg.port_status_mask0, msg.flow_removed_mask0, 0, 0, 0],
                 [msg.packet_in_mask1, msg.port_status_mask1, msg.flow_removed_mask1, 0, 0, 0]]
    else:
        masks = [[0] * 6, [0] * 6]
        props = msg.properties
        off = 0
        while off + 8 <= len(props):
            t, ln = struct.unpack_from("!HH", props, off)
            if t < 12:
                masks[1 - (t & 1)][t >> 1] = struct.unpack_from("!I", props, off + 4)[0]
            else:
                raise KeyError("experimenter async property")
            off += (ln + 7) & ~7
    out = ""
    for i, role in enumerate(("primary", "secondary")):
        out += f"\n {role}:\n"
        for (tname, reasons), m in zip(_ASYNC_TYPES, masks[i]):
            out += f"{tname:>16}:"
            out += "".join(f" {reasons[j]}" for j in range(len(reasons))
                           if m >> j & 1 and reasons[j])
            if m & ~((1 << len(reasons)) - 1):
                raise KeyError("unknown async reason bit")
            out += " (off)\n" if not m else "\n"
    return out


# ---------------------------------------------------------------- Nicira (ofp-print.c)
def _set_flow_format(msg) -> str:
    return " format=" + {0: "openflow10", 2: "nxm"}.get(msg.format, str(msg.format))


def _flow_mod_table_id(msg) -> str:
    return " " + ("enable" if msg.set else "disable")


def _set_packet_in_format(msg) -> str:
    return " format=" + {0: "standard", 1: "nxt_packet_in", 2: "nxt_packet_in2"}.get(
        msg.format, str(msg.format))


def _set_controller_id(msg) -> str:
    return f" id={msg.controller_id}"


# Flow monitors (lib/ofp-monitor.c).  NX/ONF flags are shown as OVS maps them
# to OF1.4's (NXFMF_OWN is "own"); events likewise (NX/ONF have no INITIAL).
_MONITOR_FLAGS = ((0x1, "initial"), (0x2, "add"), (0x4, "delete"), (0x8, "modify"),
                  (0x10, "actions"), (0x20, "no-abbrev"), (0x40, "own"))
_NX_FLAGS_TO_OF = ((0x1, 0x1), (0x2, 0x2), (0x4, 0x4), (0x8, 0x8), (0x10, 0x10), (0x20, 0x40))
_NX_EVENTS = {0: 1, 1: 2, 2: 3, 3: 4}


def _stats_flags(msg) -> str:
    """ofp_print_stats: a reply's REPLY_MORE flag."""
    return " flags=[more]" if msg.flags & 1 else ""


def _monitor_request(msg) -> str:
    """ofputil_flow_monitor_request_format, per monitor."""
    of14 = type(msg).__name__ == "FlowMonitorRequest"
    out = ""
    for r in msg.requests:
        if of14 and r.command == 2:
            out += f"\n id={r.id} command=delete"
            continue
        flags = r.flags if of14 else sum(o for n, o in _NX_FLAGS_TO_OF if r.flags & n)
        out += f"\n id={r.id} flags=" + bit_names(flags, _MONITOR_FLAGS).replace(" ", ",")
        port = r.out_port - 0xFFFF0000 if r.out_port >= 0xFFFFFF00 else r.out_port
        if port != 0xFFFF:
            out += " out_port=" + format_port(port)
        if r.out_group and r.out_group != 0xFFFFFFFF:
            out += f" out_group={r.out_group}"
        if r.table_id != 0xFF:
            out += f" table={r.table_id}"
        m = R.format_match(r.match)
        out += " " + m if m else ""
    return out


def _monitor_reply(msg) -> str:
    """ofputil_flow_update_format, per update."""
    name = type(msg).__name__
    out = _stats_flags(msg)
    for u in msg.updates:
        event = u.event if name == "FlowMonitorReply" else _NX_EVENTS[u.event]
        out += "\n event="
        if event == 4:
            out += f"ABBREV xid={u.xid:#x}"
            continue
        if event in (5, 6):
            out += "PAUSED" if event == 5 else "RESUMED"
            continue
        out += ("INITIAL", "ADDED", "DELETED", "MODIFIED")[event]
        if event == 2:
            out += f" reason={_FR_REASONS.get(u.reason, u.reason)}"
        out += f" table={u.table_id}"
        if u.idle_timeout:
            out += f" idle_timeout={u.idle_timeout}"
        if u.hard_timeout:
            out += f" hard_timeout={u.hard_timeout}"
        out += f" cookie={u.cookie:#x}" if u.cookie else " cookie=0"
        out += " " + R.format_match(u.match)
        acts = u.instructions if name != "NxFlowMonitorReply" else u.actions
        if acts:
            out += ("" if out.endswith(" ") else " ") + "actions=" + (
                R.format_actions(u.actions) if name == "NxFlowMonitorReply"
                else R.format_actions(instructions=u.instructions))
    return out[:-1] if out.endswith(" ") else out      # ofp_to_string's final ds_chomp


def _monitor_cancel(msg) -> str:
    return f" id={msg.id}"


_BODY = {
    "Hello": _hello, "Error": _error, "EchoRequest": _echo, "EchoReply": _echo,
    "FeaturesReply": _features_reply, "GetConfigReply": _switch_config,
    "SetConfig": _switch_config, "PacketIn": _packet_in, "NxPacketIn": _packet_in,
    "PacketOut": _packet_out, "FlowMod": _flow_mod, "NxFlowMod": _flow_mod,
    "FlowRemoved": _flow_removed, "NxFlowRemoved": _flow_removed,
    "PortStatus": _port_status, "PortMod": _port_mod,
    "RoleRequest": _role, "RoleReply": _role, "NxRoleRequest": _role, "NxRoleReply": _role,
    "RoleStatus": _role_status, "SetAsync": _async, "GetAsyncReply": _async,
    "GroupMod": _group_mod, "NxGroupMod": _group_mod, "MeterMod": _meter_mod,
    "DescStatsReply": _desc_reply,
    "FlowStatsRequest": _flow_stats_request, "AggregateStatsRequest": _flow_stats_request,
    "NxFlowStatsRequest": _flow_stats_request, "NxAggregateStatsRequest": _flow_stats_request,
    "FlowStatsReply": _flow_stats_reply, "NxFlowStatsReply": _flow_stats_reply,
    "AggregateStatsReply": _aggregate_reply, "NxAggregateStatsReply": _aggregate_reply,
    "PortStatsRequest": _port_stats_request, "PortStatsReply": _port_stats_reply,
    "PortDescRequest": _port_desc_request, "PortDescReply": _port_desc_reply,
    "QueueStatsRequest": _queue_stats_request, "QueueStatsReply": _queue_stats_reply,
    "GroupStatsRequest": _group_request, "GroupDescRequest": _group_request,
    "NxGroupStatsRequest": _group_request, "NxGroupDescRequest": _group_request,
    "GroupStatsReply": _group_stats_reply, "NxGroupStatsReply": _group_stats_reply,
    "GroupDescReply": _group_desc_reply, "NxGroupDescReply": _group_desc_reply,
    "GroupFeaturesReply": _group_features_reply,
    "MeterStatsRequest": _meter_request, "MeterConfigStatsRequest": _meter_request,
    "MeterStatsReply": _meter_stats_reply, "MeterConfigStatsReply": _meter_config_reply,
    "MeterFeaturesReply": _meter_features_reply,
    "QueueGetConfigRequest": _queue_config_request,
    "NxSetFlowFormat": _set_flow_format, "NxFlowModTableId": _flow_mod_table_id,
    "NxSetPacketInFormat": _set_packet_in_format, "NxSetControllerId": _set_controller_id,
    "NxFlowMonitorRequest": _monitor_request, "OnfFlowMonitorRequest": _monitor_request,
    "FlowMonitorRequest": _monitor_request, "NxFlowMonitorReply": _monitor_reply,
    "OnfFlowMonitorReply": _monitor_reply, "FlowMonitorReply": _monitor_reply,
    "NxFlowMonitorCancel": _monitor_cancel, "OnfFlowMonitorCancel": _monitor_cancel,
}
