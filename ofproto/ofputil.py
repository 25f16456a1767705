"""Version-independent forms of flow requests (Open vSwitch's ``ofputil_*``).

Theory of operation
-------------------
The codec (:mod:`.ofp`) decodes each OpenFlow version into its own wire
dataclasses.  The flow table must not care which version a request came
with, so this module turns them into one form and back:

* :func:`decode_flow_mod` turns OF1.0 ``OFPT_FLOW_MOD``, ``NXT_FLOW_MOD`` and
  OF1.1+ ``OFPT_FLOW_MOD`` into a :class:`FlowModSpec` and validates it the
  way ``ofputil_decode_flow_mod`` + ``ofpacts_check_consistency`` do, raising
  :class:`~.ofp.OFPError` with the name ovs-vswitchd answers with.
* :func:`decode_flow_stats_request` does the same for flow/aggregate stats
  requests (OFPST_*, NXST_*, OFPMP_*) into a :class:`FlowStatsRequest`.
* The encoders (:func:`encode_flow_stats_replies`,
  :func:`encode_aggregate_reply`, :func:`encode_flow_removed`) produce replies
  in the family of the request, re-encoding stored actions for the reply's
  version as OVS does.  OpenFlow 1.5 carries the statistics as OXS
  (:mod:`.ofp.oxs`): flow entries duration, idle_time, packet and byte
  counts; aggregates packet, byte and flow counts; FLOW_REMOVED duration,
  packet and byte counts.  Counters are reported whatever the rule's
  no_packet_counts/no_byte_counts flags (ovs-vswitchd 3.1 keeps them anyway).

* Flow monitors: :func:`decode_flow_monitor_request` turns NXST/ONFST/
  OFPMP_FLOW_MONITOR requests into :class:`FlowMonitorSpec` (OVS's OFPFMF_*
  flags, 16-bit out_port), one at a time so that a bad one comes after the
  good ones before it; :func:`flow_update`/:func:`abbrev_update` make update
  entries in a version's family (NX for OF1.0-1.2, ONF for 1.3, OpenFlow for
  1.4+) and :func:`encode_flow_monitor_replies` cuts them into replies;
  :func:`encode_flow_monitor_pause` is PAUSED/RESUMED in each family.

Ports are Open vSwitch's 16-bit ``ofp_port`` everywhere above the wire
(reserved ports ``0xfff8..0xffff``); OF1.1+ 32-bit ports ``0xffffff00+x``
map to ``0xff00+x`` (:func:`port_from_ofp11` / :func:`port_to_ofp11`).

Ofpacts
~~~~~~~
``FlowModSpec.ofpacts`` is a tuple in OVS's ofpacts order: an optional
:class:`~.ofp.instructions.MeterInstruction`, the apply-actions, then
``ClearActions``, ``WriteActions(actions)``, ``WriteMetadata``,
``GotoTable``.  Actions use one canonical class per meaning, whatever
version they arrived with:

=====================  ==================================================
canonical               arrives as
=====================  ==================================================
``Output10(port16)``    OF1.0 output, OF1.1+ output (port mapped down)
``Enqueue(port16)``     OF1.0 enqueue
``SetField(oxm tlv)``   OF1.0/1.1 ``mod_dl_*``/``mod_nw_*``/``mod_tp_*``, set_field
``SetVlanVid/Pcp``      OF1.0/1.1 ``mod_vlan_*`` (OF1.2+ adds push_vlan if needed)
``PopVlan``             OF1.0 strip_vlan, OF1.1+ pop_vlan
``Group``               OF1.1+ group, NXAST_GROUP
``SetQueue``            OF1.1+ set_queue, NXAST_SET_QUEUE
``DecNwTtl``            OF1.1+ dec_nw_ttl, NXAST_DEC_TTL
``PushMpls``... (OF1.1)  their NXAST_* OF1.0 forms
``WriteMetadata``       OF1.1+ instruction, NXAST_WRITE_METADATA
others                  unchanged (Nicira actions are the same in every version)
=====================  ==================================================

:func:`encode_ofpacts` maps back: OF1.0 gets OF1.0/NX codes (``goto_table``
becomes ``resubmit(,N)``, clear/write_actions and meter are dropped, as OVS
does), OF1.1 its legacy set actions, OF1.2+ ``set_field``.

Public names
------------
``FlowModSpec``, ``decode_flow_mod(msg, *, table_id_ext, max_ports=OFPP_MAX,
n_tables=255)``, ``FlowStatsRequest``, ``decode_flow_stats_request(msg)``,
``encode_flow_stats_replies(request_msg, rules, now)`` (and
``encode_flow_stats_wire``, the same replies as bytes, built from each rule's
cached encoded match and actions: dump-flows),
``encode_aggregate_reply(request_msg, packets, bytes, flows)``,
``encode_flow_removed(rule, reason, version, nx_format)``,
``canonical_actions(actions)``, ``canonical_instructions(insts)``,
``encode_ofpacts(ofpacts, version, match=None)`` -> OF1.0 actions or OF1.1+
instructions, ``output_ports(ofpacts)``, ``groups_of(ofpacts)``,
``meters_of(ofpacts)``, ``port_from_ofp11``, ``port_to_ofp11``,
``flags_from_wire``/``flags_to_wire``, ``FlowMonitorSpec``,
``decode_flow_monitor_request``, ``decode_flow_monitor_cancel``, ``flow_update``,
``abbrev_update``, ``encode_flow_monitor_replies``, ``encode_monitor_reply_for``,
``encode_flow_monitor_pause``, ``monitor_family``, and the ``OFPP_*`` /
``OFPRR_*`` / ``OFPFMF_*`` / ``OFPFME_*`` constants.  Nothing here does I/O or keeps state.
"""

from __future__ import annotations

import dataclasses
import struct

from .ofp import OFPError
from .ofp import actions as A
from .ofp import instructions as I
from .ofp.fields import field_for
from .ofp.match import (_PREREQS, OFPFW10_ALL, FlowMatch, Match10, OxmMatch, Tlv,
                         framed_packer, normalize_match)
from .ofp.messages import FlowMod, FlowRemoved
from .ofp.multipart import (AggregateStatsReply, AggregateStatsRequest, FlowMonitorReply,
                            FlowMonitorRequest, FlowStats, FlowStatsReply, FlowUpdate,
                            _pack_flow_stats)
from .ofp.multipart import FlowStatsRequest as _FlowStatsRequestMsg
from .ofp import nicira as _nx
from .ofp.nicira import (NxAggregateStatsReply, NxAggregateStatsRequest, NxFlowMod,
                         NxFlowRemoved, NxFlowStatsReply, NxFlowStatsRequest)
from .ofp.oxs import OXS_BYTE_COUNT, OXS_DURATION, OXS_IDLE_TIME, OXS_PACKET_COUNT

# Reserved 16-bit ports (OVS's ofp_port_t).
OFPP_MAX = 0xFF00
OFPP_IN_PORT, OFPP_TABLE, OFPP_NORMAL, OFPP_FLOOD = 0xFFF8, 0xFFF9, 0xFFFA, 0xFFFB
OFPP_ALL, OFPP_CONTROLLER, OFPP_LOCAL, OFPP_NONE = 0xFFFC, 0xFFFD, 0xFFFE, 0xFFFF
OFPP_ANY = OFPP_NONE
RESERVED_OUTPUT_PORTS = frozenset(range(OFPP_IN_PORT, OFPP_NONE))   # NONE is not an output
OFPG_ANY = 0xFFFFFFFF
OFPG_ALL = 0xFFFFFFFC
OFPG_MAX = 0xFFFFFF00
OFPTT_ALL = 0xFF
TBL_INTERNAL = 254          # OVS's hidden, read-only table
UINT64_MAX = (1 << 64) - 1

# Flow removed reasons (OF1.4 numbering; older versions fold the new ones into DELETE).
OFPRR_IDLE_TIMEOUT, OFPRR_HARD_TIMEOUT, OFPRR_DELETE = 0, 1, 2
OFPRR_GROUP_DELETE, OFPRR_METER_DELETE, OFPRR_EVICTION = 3, 4, 5

COMMANDS = ("add", "modify", "modify_strict", "delete", "delete_strict")
FLAG_NAMES = ("send_flow_rem", "check_overlap", "reset_counts", "no_packet_counts",
              "no_byte_counts")

# Multipart replies are cut when a part would exceed this (OVS: UINT16_MAX).
MAX_REPLY = 0xFFFF


def port_from_ofp11(p: int, err: str = "OFPBRC_BAD_PORT") -> int:
    """OF1.1+ 32-bit port -> OVS 16-bit ofp_port."""
    if p < OFPP_MAX:
        return p
    if p >= 0xFFFFFF00:
        return p - 0xFFFF0000
    raise OFPError(err, detail=f"port {p:#x} outside the 16-bit range")


def port_to_ofp11(p: int) -> int:
    return p + 0xFFFF0000 if p >= OFPP_MAX else p


# ---------------------------------------------------------------- flags
_WIRE_FLAGS = {   # version range -> {bit: name}
    1: {1: "send_flow_rem", 2: "check_overlap", 4: "emerg"},
    2: {1: "send_flow_rem", 2: "check_overlap"},
    3: {1: "send_flow_rem", 2: "check_overlap", 4: "reset_counts"},
    4: {1: "send_flow_rem", 2: "check_overlap", 4: "reset_counts", 8: "no_packet_counts",
        16: "no_byte_counts"},
}


def _flag_table(version):
    return _WIRE_FLAGS[min(version, 4)]


_FLAGS_CACHE: dict = {}


def flags_from_wire(raw: int, version: int) -> frozenset:
    key = (raw, min(version, 4))
    hit = _FLAGS_CACHE.get(key)
    if hit is None:
        hit = _flags_from_wire(raw, version)
        if len(_FLAGS_CACHE) < 1024:
            _FLAGS_CACHE[key] = hit
    return hit


def _with_reset_counts(flags: frozenset) -> frozenset:
    hit = _FLAGS_CACHE.get(flags)
    if hit is None:
        hit = _FLAGS_CACHE[flags] = flags | {"reset_counts"}
    return hit


def _flags_from_wire(raw: int, version: int) -> frozenset:
    table = _flag_table(version)
    out = set()
    for bit in range(16):
        b = 1 << bit
        if raw & b:
            if b not in table:
                raise OFPError("OFPFMFC_BAD_FLAGS", detail=f"flow_mod flags {raw:#x}")
            out.add(table[b])
    return frozenset(out)


_WIRE_CACHE: dict = {}


def flags_to_wire(flags, version: int) -> int:
    key = (flags, min(version, 4)) if type(flags) is frozenset else None
    hit = _WIRE_CACHE.get(key) if key is not None else None
    if hit is None:
        hit = sum(b for b, n in _flag_table(version).items() if n in flags)
        if key is not None and len(_WIRE_CACHE) < 1024:
            _WIRE_CACHE[key] = hit
    return hit


# ---------------------------------------------------------------- specs
@dataclasses.dataclass(frozen=True, kw_only=True)
class FlowModSpec:
    """One flow_mod, whatever its wire form.  ``new_cookie`` is UINT64_MAX
    when the request does not set a cookie (OF1.2+ modify); ``cookie`` and
    ``cookie_mask`` then filter.  ``out_port`` is 16-bit (OFPP_ANY = no
    filter), ``out_group`` OFPG_ANY = no filter.  ``table_id`` 0xff = all
    tables (and "table 0" for an add).  ``modify_may_add``: a modify that
    matches nothing adds the flow (OF1.0, NXM, OF1.1 without cookie mask)."""
    command: str = "add"
    table_id: int = 0
    match: FlowMatch = FlowMatch()
    priority: int = 0x8000
    cookie: int = 0
    cookie_mask: int = 0
    new_cookie: int = 0
    idle_timeout: int = 0
    hard_timeout: int = 0
    importance: int = 0
    flags: frozenset = frozenset()
    out_port: int = OFPP_ANY
    out_group: int = OFPG_ANY
    buffer_id: int = 0xFFFFFFFF
    ofpacts: tuple = ()
    version: int = 1
    modify_may_add: bool = False

    @property
    def modify_cookie(self) -> bool:
        return self.new_cookie != UINT64_MAX


_SPEC_FIELDS = frozenset(f.name for f in dataclasses.fields(FlowModSpec))


def _new_spec(**kw) -> FlowModSpec:
    """``FlowModSpec(**kw)`` with every field given, without the frozen
    dataclass's per-field ``object.__setattr__`` (one per flow_mod)."""
    spec = object.__new__(FlowModSpec)
    spec.__dict__.update(kw)
    return spec


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlowStatsRequest:
    """A flow or aggregate stats request.  ``family``: ``"of10"``
    (OFPST_*), ``"nx"`` (NXST_*) or ``"of11"`` (OFPMP_*, any 1.1+ version)."""
    aggregate: bool = False
    family: str = "of11"
    version: int = 4
    xid: int = 0
    table_id: int = OFPTT_ALL
    match: FlowMatch = FlowMatch()
    out_port: int = OFPP_ANY
    out_group: int = OFPG_ANY
    cookie: int = 0
    cookie_mask: int = 0


# ---------------------------------------------------------------- ofpacts
_OXM = {n: field_for(n, True) for n in ("eth_src", "eth_dst", "ip_src", "ip_dst", "ip_dscp",
                                         "tcp_src", "tcp_dst", "vlan_vid", "vlan_pcp",
                                         "tun_id", "nw_ttl")}


_L4_FIELDS = ("tcp_src", "tcp_dst")


def _sf(name, value) -> A.Action:
    return A.SetField(tlv=Tlv(_OXM[name], value, None))


def _tp_field(which, match):
    proto = match.value("nw_proto") if match is not None else None
    return {17: "udp_", 132: "sctp_"}.get(proto, "tcp_") + which


_MAC = lambda b: int.from_bytes(b, "big")   # noqa: E731
_CANON = {
    A.Output: lambda a: A.Output10(port=port_from_ofp11(a.port, "OFPBAC_BAD_OUT_PORT"),
                                   max_len=a.max_len),
    A.SetDlSrc10: lambda a: _sf("eth_src", _MAC(a.dl_addr)),
    A.SetDlDst10: lambda a: _sf("eth_dst", _MAC(a.dl_addr)),
    A.SetDlSrc: lambda a: _sf("eth_src", _MAC(a.dl_addr)),
    A.SetDlDst: lambda a: _sf("eth_dst", _MAC(a.dl_addr)),
    A.SetNwSrc10: lambda a: _sf("ip_src", a.nw_addr),
    A.SetNwDst10: lambda a: _sf("ip_dst", a.nw_addr),
    A.SetNwSrc: lambda a: _sf("ip_src", a.nw_addr),
    A.SetNwDst: lambda a: _sf("ip_dst", a.nw_addr),
    A.SetNwTos10: lambda a: _sf("ip_dscp", a.nw_tos >> 2),
    A.SetNwTos: lambda a: _sf("ip_dscp", a.nw_tos >> 2),
    A.SetTpSrc10: lambda a: _sf("tcp_src", a.tp_port),
    A.SetTpDst10: lambda a: _sf("tcp_dst", a.tp_port),
    A.SetTpSrc: lambda a: _sf("tcp_src", a.tp_port),
    A.SetTpDst: lambda a: _sf("tcp_dst", a.tp_port),
    A.StripVlan: lambda a: A.PopVlan(),
    A.NxGroup: lambda a: A.Group(group_id=a.group_id),
    A.NxSetQueue: lambda a: A.SetQueue(queue_id=a.queue_id),
    A.NxDecTtl: lambda a: A.DecNwTtl(),
    A.NxPushMpls: lambda a: A.PushMpls(ethertype=a.ethertype),
    A.NxPopMpls: lambda a: A.PopMpls(ethertype=a.ethertype),
    A.NxSetMplsTtl: lambda a: A.SetMplsTtl(mpls_ttl=a.mpls_ttl),
    A.NxDecMplsTtl: lambda a: A.DecMplsTtl(),
    A.NxSetMplsLabel: lambda a: A.SetMplsLabel(mpls_label=a.mpls_label),
    A.NxSetMplsTc: lambda a: A.SetMplsTc(mpls_tc=a.mpls_tc),
    A.NxWriteMetadata: lambda a: I.WriteMetadata(a.metadata, a.mask),
}


def _canon_tlv(tlv):
    f = tlv.field
    if f is not None and f.is_nxm:
        try:
            f2 = field_for(f.name, True)
        except (KeyError, ValueError):
            return tlv
        return Tlv(f2, tlv.value, tlv.mask)
    return tlv


_CANONICAL: dict = {}


def canonical_actions(actions) -> list:
    """Wire actions of any version -> canonical ofpacts (see module doc)."""
    return list(_canonical_tuple(actions))


def _canonical_tuple(actions) -> tuple:
    """:func:`canonical_actions` as a tuple shared by equal action lists
    (actions are immutable; rules with the same actions share one tuple)."""
    try:
        hit = _CANONICAL.get(actions) if type(actions) is tuple else None
    except TypeError:                       # an unhashable action
        return tuple(_canonical_actions(actions))
    if hit is None:
        hit = tuple(_canonical_actions(actions))
        if type(actions) is tuple:
            if len(_CANONICAL) >= 4096:
                _CANONICAL.clear()
            _CANONICAL[actions] = hit
    return hit


def _canonical_actions(actions) -> list:
    out = []
    for a in actions:
        conv = _CANON.get(type(a))
        if conv is not None:
            a = conv(a)
        elif type(a) is A.SetField:
            a = A.SetField(tlv=_canon_tlv(a.tlv))
        elif type(a) in (A.NxClone, A.NxCt):
            a = dataclasses.replace(a, actions=tuple(_canonical_actions(a.actions)))
        out.append(a)
    return out


_CANONICAL_INSTS: dict = {}


def canonical_instructions(insts) -> tuple:
    """Wire instructions -> canonical ofpacts; equal lists share one result."""
    try:
        hit = _CANONICAL_INSTS.get(insts)
    except TypeError:                       # an unhashable action
        return _canonical_instructions(insts)
    if hit is None:
        hit = _canonical_instructions(insts)
        if len(_CANONICAL_INSTS) >= 4096:
            _CANONICAL_INSTS.clear()
        _CANONICAL_INSTS[insts] = hit
    return hit


def _canonical_instructions(insts) -> tuple:
    meter, apply_, clear, write, md, goto = None, [], None, None, None, None
    for i in insts:
        t = type(i)
        if t is I.ApplyActions:
            apply_ = list(_canonical_tuple(i.actions))
        elif t is I.WriteActions:
            write = I.WriteActions(tuple(canonical_actions(i.actions)))
        elif t is I.ClearActions:
            clear = i
        elif t is I.WriteMetadata:
            md = i
        elif t is I.GotoTable:
            goto = i
        elif t is I.MeterInstruction:
            meter = i
    head = [meter] if meter else []
    tail = [x for x in (clear, write, md, goto) if x is not None]
    return tuple(head + apply_ + tail)


def _of10_setfield(a, v, match):
    tlv = a.tlv
    n = tlv.field.name if tlv.field else None
    if tlv.mask is None:
        if n in ("eth_src", "eth_dst"):
            b = tlv.value.to_bytes(6, "big")
            if v == 1:
                return [(A.SetDlSrc10 if n == "eth_src" else A.SetDlDst10)(dl_addr=b)]
            return [(A.SetDlSrc if n == "eth_src" else A.SetDlDst)(dl_addr=b)]
        if n in ("ip_src", "ip_dst"):
            cls = {("ip_src", 1): A.SetNwSrc10, ("ip_dst", 1): A.SetNwDst10,
                   ("ip_src", 2): A.SetNwSrc, ("ip_dst", 2): A.SetNwDst}[(n, v)]
            return [cls(nw_addr=tlv.value)]
        if n == "ip_dscp":
            return [(A.SetNwTos10 if v == 1 else A.SetNwTos)(nw_tos=tlv.value << 2)]
        if n in ("tcp_src", "udp_src", "sctp_src", "tcp_dst", "udp_dst", "sctp_dst"):
            src = n.endswith("src")
            cls = ((A.SetTpSrc10 if src else A.SetTpDst10) if v == 1
                   else (A.SetTpSrc if src else A.SetTpDst))
            return [cls(tp_port=tlv.value)]
        if n == "vlan_vid":
            return [A.SetVlanVid(vlan_vid=tlv.value & 0xFFF)]
        if n == "vlan_pcp":
            return [A.SetVlanPcp(vlan_pcp=tlv.value)]
        if n == "tun_id":
            return [A.NxSetTunnel64(tun_id=tlv.value)]
    f = tlv.field
    if f is not None and not f.is_nxm:
        try:
            f = field_for(f.name, False)
        except (KeyError, ValueError):
            pass
    return [A.NxRegLoad2(tlv=Tlv(f, tlv.value, tlv.mask) if f is not None else tlv)]


def _vlan_present(match) -> bool:
    vm = match.get("vlan_tci") if match is not None else None
    return bool(vm and vm[0] & vm[1] & 0x1000)


def _encode_actions(acts, v, match) -> list:
    out = []
    vlan = _vlan_present(match)         # as ofpacts_check tracks it along the actions
    for a in acts:
        t = type(a)
        if t is A.Output10:
            out.append(a if v == 1 else A.Output(port=port_to_ofp11(a.port), max_len=a.max_len))
        elif t is A.Enqueue:
            out.extend([a] if v == 1 else [A.SetQueue(queue_id=a.queue_id),
                                           A.Output(port=port_to_ofp11(a.port), max_len=0),
                                           A.NxPopQueue()])
        elif t is A.SetField:
            if v < 3:
                out.extend(_of10_setfield(a, v, match))
            elif a.tlv.field is not None and a.tlv.field.name in _L4_FIELDS:
                # OVS's SET_L4_*_PORT: the field follows the match's protocol.
                n = _tp_field(a.tlv.field.name[4:], match)
                out.append(A.SetField(tlv=Tlv(field_for(n, True), a.tlv.value, a.tlv.mask)))
            else:
                out.append(a)
        elif t in (A.SetVlanVid, A.SetVlanPcp):
            # OVS's mod_vlan_vid/pcp push a tag first where there is none yet (OF1.1+).
            if v > 1 and not vlan:
                out.append(A.PushVlan(ethertype=0x8100))
            vlan = True
            if v < 3:
                out.append(a)
            else:
                out.append(_sf("vlan_vid", a.vlan_vid | 0x1000) if t is A.SetVlanVid
                           else _sf("vlan_pcp", a.vlan_pcp))
        elif t is A.PopVlan:
            out.append(A.StripVlan() if v == 1 else a)
            vlan = False
        elif t is A.PushVlan:
            vlan = True
            if v > 1:
                out.append(a)
            # OVS: in OF1.0 the push is a side effect of the mod_vlan_vid/pcp after it
        elif t is A.Group:
            out.append(A.NxGroup(group_id=a.group_id) if v == 1 else a)
        elif t is A.SetQueue:
            out.append(A.NxSetQueue(queue_id=a.queue_id) if v == 1 else a)
        elif t is A.DecNwTtl:
            out.append(A.NxDecTtl() if v == 1 else a)
        elif t is A.PushMpls:
            out.append(A.NxPushMpls(ethertype=a.ethertype) if v == 1 else a)
        elif t is A.PopMpls:
            out.append(A.NxPopMpls(ethertype=a.ethertype) if v == 1 else a)
        elif t is A.SetMplsTtl:
            out.append(A.NxSetMplsTtl(mpls_ttl=a.mpls_ttl) if v == 1 else a)
        elif t is A.DecMplsTtl:
            out.append(A.NxDecMplsTtl() if v == 1 else a)
        elif t is A.SetMplsLabel:
            out.append(A.NxSetMplsLabel(mpls_label=a.mpls_label) if v == 1 else a)
        elif t is A.SetMplsTc:
            out.append(A.NxSetMplsTc(mpls_tc=a.mpls_tc) if v == 1 else a)
        elif t is A.SetNwTtl and v == 1:
            out.append(A.NxRegLoad(ofs_nbits=7, dst=field_for("nw_ttl", False).header(),
                                   value=a.nw_ttl))
        elif t is A.NxSetTunnel64 and v >= 3:
            out.append(_sf("tun_id", a.tun_id))
        elif t is A.NxSetTunnel and v >= 3:
            out.append(_sf("tun_id", a.tun_id))
        elif t in (A.NxClone, A.NxCt):
            out.append(dataclasses.replace(a, actions=tuple(_encode_actions(a.actions, v, match))))
        else:
            out.append(a)
    return out


def encode_ofpacts(ofpacts, version: int, match=None) -> tuple:
    """Canonical ofpacts -> OF1.0 action list (``version == 1``) or OF1.1+
    instruction list, as Open vSwitch encodes them for ``version``."""
    acts, insts = [], []
    for x in ofpacts:
        if isinstance(x, A.Action):
            acts.append(x)
        else:
            insts.append(x)
    if version == 1:
        out = _encode_actions(acts, 1, match)
        for i in insts:
            if type(i) is I.WriteMetadata:
                out.append(A.NxWriteMetadata(metadata=i.metadata, mask=i.metadata_mask))
            elif type(i) is I.GotoTable:
                out.append(A.NxResubmitTable(in_port=OFPP_IN_PORT, table=i.table_id))
            # meter, clear_actions and write_actions have no OF1.0 form: dropped.
        return tuple(out)
    out = []
    for i in insts:
        if type(i) is I.MeterInstruction:
            if version >= 4:
                out.append(i)
    if acts:
        out.append(I.ApplyActions(tuple(_encode_actions(acts, version, match))))
    for i in insts:
        t = type(i)
        if t is I.WriteActions:
            out.append(I.WriteActions(tuple(_encode_actions(i.actions, version, match))))
        elif t in (I.ClearActions, I.WriteMetadata, I.GotoTable):
            out.append(i)
    return tuple(out)


_NESTS: dict = {}        # action type -> has an ``actions`` list (clone, ct, write_actions)


def _walk(ofpacts):
    """Every ofpact, nested actions right after their container (OVS's
    OFPACT_FOR_EACH_FLATTENED); ``ofpacts`` itself when nothing nests."""
    out = None
    for i, x in enumerate(ofpacts):
        t = type(x)
        nests = _NESTS.get(t)
        if nests is None:
            nests = _NESTS[t] = hasattr(x, "actions")
        if nests and x.actions:
            if out is None:
                out = list(ofpacts[:i])
            out.append(x)
            out.extend(_walk(x.actions))
        elif out is not None:
            out.append(x)
    return ofpacts if out is None else out


def output_ports(ofpacts) -> set:
    """Ports a rule may output to (OVS's ``ofpacts_output_to_port``)."""
    out = set()
    for a in _walk(ofpacts):
        t = type(a)
        if t is A.Output10 or t is A.Enqueue:
            out.add(a.port)
        elif t is A.NxController or t is A.NxController2:
            out.add(OFPP_CONTROLLER)
    return out


_REFS: dict = {}     # id(ofpacts) -> (ofpacts, groups, meters); the entry pins the tuple


def _refs(ofpacts) -> tuple:
    hit = _REFS.get(id(ofpacts))
    if hit is None or hit[0] is not ofpacts:
        flat = _walk(ofpacts)
        hit = (ofpacts,
               frozenset([a.group_id for a in flat if type(a) is A.Group]),
               frozenset([a.meter_id for a in flat if type(a) is I.MeterInstruction]))
        if type(ofpacts) is tuple:          # immutable: may be remembered
            if len(_REFS) >= 4096:
                _REFS.clear()
            _REFS[id(ofpacts)] = hit
    return hit


def groups_of(ofpacts) -> frozenset:
    return _refs(ofpacts)[1]


def meters_of(ofpacts) -> frozenset:
    return _refs(ofpacts)[2]


# ---------------------------------------------------------------- validation
def _prereq_ctx(match: FlowMatch) -> dict:
    return {"eth_type": match.value("dl_type"), "nw_proto": match.value("nw_proto"),
            "icmpv6_type": match.value("tp_src"), "vlan_present": _vlan_present(match)}


def _any_l4(c) -> bool:
    return c.get("eth_type") in (0x0800, 0x86DD) and c.get("nw_proto") in (6, 17, 132)


def check_ofpacts(ofpacts, match: FlowMatch, version: int, table_id: int,
                  max_ports: int = OFPP_MAX, n_tables: int = 255) -> None:
    """``ofpacts_check_consistency``: output ports, goto_table, set_field
    prerequisites, and the OF1.1+-only consistency checks."""
    ctx = None
    for a in _walk(ofpacts):
        t = type(a)
        if t is A.Output10 or t is A.Enqueue:
            p = a.port
            if not (p < max_ports or p in RESERVED_OUTPUT_PORTS) or p == 0:
                raise OFPError("OFPBAC_BAD_OUT_PORT", detail=f"output to port {p:#x}")
        elif t is I.GotoTable:
            if (table_id != OFPTT_ALL and a.table_id <= table_id) or a.table_id >= n_tables:
                raise OFPError("OFPBIC_BAD_TABLE_ID", detail=f"goto_table:{a.table_id}")
        elif t is A.SetField or t is A.NxRegLoad2:
            f = a.tlv.field
            if f is not None:
                ctx = ctx or _prereq_ctx(match)
                check = _PREREQS.get(f.prereq)
                if f.name in _L4_FIELDS:      # SET_L4_*_PORT: TCP, UDP or SCTP
                    check = _any_l4
                if check is not None and not check(ctx):
                    # OF1.0 legacy rewrites are only "inconsistent" for OF1.1+.
                    if version == 1 and f.name in ("eth_src", "eth_dst", "ip_src", "ip_dst",
                                                   "ip_dscp", "tcp_src", "tcp_dst",
                                                   "vlan_vid", "vlan_pcp"):
                        continue
                    raise OFPError("OFPBAC_MATCH_INCONSISTENT",
                                   detail=f"set_field {f.name} lacks prerequisites")
        elif t is A.PopVlan and version > 1 and not _vlan_present(match):
            raise OFPError("OFPBAC_MATCH_INCONSISTENT", detail="pop_vlan without a VLAN match")


# ---------------------------------------------------------------- flow_mod
def decode_flow_mod(msg, *, table_id_ext: bool = False, max_ports: int = OFPP_MAX,
                    n_tables: int = 255) -> FlowModSpec:
    """``FlowMod`` (any version) or ``NxFlowMod`` -> validated FlowModSpec.

    ``table_id_ext``: NXT_FLOW_MOD_TABLE_ID is enabled on the connection
    (OF1.0/NXM: the table id travels in the command's high byte)."""
    v = msg.version
    nx = isinstance(msg, NxFlowMod)
    if nx or v == 1:
        match = msg.match.to_flow()
        priority = msg.priority
        if not nx:
            match = normalize_match(match)      # as OVS does for an ofp10_match
            if not msg.match.wildcards & OFPFW10_ALL:
                priority = 0xFFFF               # OF1.0: exact-match rules are the highest
        ofpacts = _canonical_tuple(msg.actions)
        cmd = msg.command
        if table_id_ext:
            table_id = msg.table_id
        else:
            table_id = OFPTT_ALL           # OVS warns about a non-zero high byte and ignores it
        cookie, cookie_mask, new_cookie = 0, 0, msg.cookie
        if nx and "cookie" in match:
            # nx_pull_match: NXM_NX_COOKIE(_W) is the flow_mod's cookie filter, not a
            # field; an add may not have one (its cookie is nx_flow_mod's).
            cookie, cookie_mask = match["cookie"]
            match = FlowMatch((k, vm) for k, vm in match.items() if k != "cookie")
            if msg.command == 0 and cookie_mask:
                raise OFPError("NXBRC_NXM_INVALID", detail="cookie match in a flow addition")
        out_port = msg.out_port
        out_group = OFPG_ANY
        importance = 0
        flags_v = 1
        may_add = True
    else:
        match = msg.match.to_flow()
        priority = msg.priority
        ofpacts = canonical_instructions(msg.instructions)
        cmd = msg.command
        table_id = msg.table_id
        if cmd == 0 or (v == 2 and cmd in (1, 2) and msg.cookie_mask == 0):
            cookie, cookie_mask, new_cookie = 0, 0, msg.cookie
        else:
            cookie, cookie_mask, new_cookie = msg.cookie, msg.cookie_mask, UINT64_MAX
        out_port = port_from_ofp11(msg.out_port)
        out_group = msg.out_group
        importance = msg.importance if v >= 5 else 0
        flags_v = v
        may_add = v == 2 and msg.cookie_mask == 0
        if table_id == OFPTT_ALL and cmd in (0, 1, 2):
            raise OFPError("OFPFMFC_BAD_TABLE_ID", detail="add/modify to table 255")
    if cmd > 4:
        raise OFPError("OFPFMFC_BAD_COMMAND", detail=f"flow_mod command {cmd}")
    flags = flags_from_wire(msg.flags, flags_v)
    if "emerg" in flags:
        raise OFPError("OFPFMFC_BAD_EMERG_TIMEOUT" if msg.idle_timeout or msg.hard_timeout
                       else "OFPFMFC_TABLE_FULL")
    command = COMMANDS[cmd]
    if command == "add" and v in (1, 2):
        flags = _with_reset_counts(flags)   # OVS: OF1.0/1.1 adds always reset counters
    if command == "add" and new_cookie == UINT64_MAX:
        new_cookie = cookie
    if command.startswith("delete"):
        ofpacts = ()
    else:
        check_ofpacts(ofpacts, match, 1 if nx else v, table_id, max_ports, n_tables)
    return _new_spec(command=command, table_id=table_id, match=match, priority=priority,
                       cookie=cookie, cookie_mask=cookie_mask, new_cookie=new_cookie,
                       idle_timeout=msg.idle_timeout, hard_timeout=msg.hard_timeout,
                       importance=importance, flags=frozenset(flags), out_port=out_port,
                       out_group=out_group, buffer_id=msg.buffer_id, ofpacts=ofpacts,
                       version=v, modify_may_add=may_add and command.startswith("modify"))


# ---------------------------------------------------------------- flow stats
def decode_flow_stats_request(msg) -> FlowStatsRequest:
    """OFPST_FLOW/AGGREGATE (OF1.0), NXST_FLOW/AGGREGATE, OFPMP_FLOW/AGGREGATE."""
    agg = isinstance(msg, (AggregateStatsRequest, NxAggregateStatsRequest))
    if isinstance(msg, (NxFlowStatsRequest, NxAggregateStatsRequest)):
        return FlowStatsRequest(aggregate=agg, family="nx", version=msg.version, xid=msg.xid,
                                table_id=msg.table_id, match=msg.match.to_flow(),
                                out_port=msg.out_port)
    if msg.version == 1:
        return FlowStatsRequest(aggregate=agg, family="of10", version=1, xid=msg.xid,
                                table_id=msg.table_id,
                                match=(msg.match or Match10()).to_flow(),
                                out_port=msg.out_port)
    return FlowStatsRequest(aggregate=agg, family="of11", version=msg.version, xid=msg.xid,
                            table_id=msg.table_id, match=(msg.match or OxmMatch()).to_flow(),
                            out_port=port_from_ofp11(msg.out_port), out_group=msg.out_group,
                            cookie=msg.cookie, cookie_mask=msg.cookie_mask)


def _request(req):
    return req if isinstance(req, FlowStatsRequest) else decode_flow_stats_request(req)


def duration(since: float, now: float) -> tuple[int, int]:
    """(sec, nsec) at millisecond precision, as OVS's ``calc_duration``."""
    ms = max(0, int(round((now - since) * 1000)))
    return ms // 1000, (ms % 1000) * 1000000


def _age(since: float, now: float) -> int:
    """NXST_FLOW's +1 encoded age (0 = unknown)."""
    s = max(0, int((now - since) * 1000)) // 1000
    return s + 1 if s < 0xFFFF else 0xFFFF


def _m10(match):
    try:
        return Match10.from_flow(match)
    except OFPError:
        # Fields OF1.0 cannot carry are dropped (OVS does the same).
        keep = {k: vm for k, vm in match.items()
                if k in ("in_port", "dl_src", "dl_dst", "dl_type", "vlan_tci", "nw_src",
                         "nw_dst", "nw_proto", "nw_tos", "tp_src", "tp_dst")}
        try:
            return Match10.from_flow(FlowMatch(keep))
        except OFPError:
            return Match10()


def _age_secs(since: float, now: float) -> int:
    """OVS's ``age_secs``: whole seconds, 0..65535 (OF1.5 idle_time)."""
    ms = int((now - since) * 1000)
    return 0 if ms < 0 else ms // 1000 if ms < 65535000 else 65535


def flow_stats_entry(rule, family: str, version: int, now: float) -> FlowStats:
    """One entry.  The counters are the rule's whatever its no_packet_counts /
    no_byte_counts flags say: ovs-vswitchd 3.1 keeps and reports them anyway."""
    sec, nsec = duration(rule.created, now)
    common = dict(table_id=rule.table_id, duration_sec=sec, duration_nsec=nsec,
                  priority=rule.priority, idle_timeout=rule.idle_timeout,
                  hard_timeout=rule.hard_timeout, cookie=rule.cookie,
                  packet_count=rule.n_packets, byte_count=rule.n_bytes)
    if family == "nx":
        return FlowStats(match=OxmMatch.from_flow(rule.match, oxm=False),
                         actions=encode_ofpacts(rule.ofpacts, 1, rule.match),
                         idle_age=_age(rule.used, now), hard_age=_age(rule.modified, now),
                         **common)
    if family == "of10":
        return FlowStats(match=_m10(rule.match),
                         actions=encode_ofpacts(rule.ofpacts, 1, rule.match), **common)
    return FlowStats(match=OxmMatch.from_flow(rule.match, version=version),
                     instructions=encode_ofpacts(rule.ofpacts, version, rule.match),
                     flags=flags_to_wire(rule.flags, version) if version >= 3 else 0,
                     importance=rule.importance if version >= 5 else 0,
                     idle_age=_age_secs(rule.used, now) + 1 if version >= 6 else 0, **common)


_NX_FS = struct.Struct("!HBxIIHHHHHHQQQ")


def _nx_entry_len(fs: FlowStats, version) -> int:
    nxm = len(fs.match.pack_tlvs())
    return 48 + ((nxm + 7) & ~7) + len(A.pack_actions(fs.actions, version))


def split_sized(make, items, size_of, limit: int):
    """Multipart replies of variable-size entries: as ofpmp_postappend, an
    entry that would take the body beyond ``limit`` starts the next reply.
    ``make(entries, more)`` builds one reply (``more``: OFPSF_REPLY_MORE)."""
    chunks, cur, n = [], [], 0
    for it in items:
        s = size_of(it)
        if cur and n + s > limit:
            chunks.append(cur)
            cur, n = [], 0
        cur.append(it)
        n += s
    chunks.append(cur)
    return [make(tuple(c), 1 if i < len(chunks) - 1 else 0) for i, c in enumerate(chunks)]


def encode_flow_stats_replies(request_msg, rules, now: float) -> list:
    """Flow stats reply parts for ``rules`` in the request's family;
    every part but the last carries OFPSF_REPLY_MORE (flags=1)."""
    req = _request(request_msg)
    v, fam = req.version, req.family
    cls = NxFlowStatsReply if fam == "nx" else FlowStatsReply
    prefix = 24 if fam == "nx" else (12 if v == 1 else 16)
    size_of = ((lambda fs: _nx_entry_len(fs, v)) if fam == "nx"
               else (lambda fs: len(_pack_flow_stats(fs, v))))
    return split_sized(lambda part, more: cls(version=v, xid=req.xid, flags=more, stats=part),
                       [flow_stats_entry(r, fam, v, now) for r in rules], size_of,
                       MAX_REPLY - prefix)


def _entry_tail(rule, fam: str, v: int):
    """The parts of a rule's flow stats entry that change only with its
    actions: ``((family, version), tail bytes, nx match_len or OF1.1+ wire
    flags)`` (OF1.0: the tail is ``(ofp10_match, actions)``, OF1.5
    ``(match, instructions)``: the OXS statistics go between), cached on the rule
    for the last (family, version) asked when it has a ``_wire`` slot (a
    FlowRule; its ``set_ofpacts`` clears the cache).

    Building one goes through a per-shape encoder kept in the rule's
    classifier subtable (``memo``): rules of a subtable share their mask, so
    only the exact dl_type/nw_proto and VLAN presence - what the match and
    action encodings depend on besides the mask - are looked at per rule."""
    cache = getattr(rule, "_wire", False)
    key = _tail_key(fam, v)
    if cache and cache[0] == key:
        return cache
    match = rule.match
    d = match._d
    dl, pr, vt = d.get("dl_type"), d.get("nw_proto"), d.get("vlan_tci")
    shape = (key, dl and dl[0], pr and pr[0], vt and vt[0] & 0x1000)   # values come masked
    st = getattr(rule, "_subtable", None)
    memo = st.memo if st is not None else {}
    enc = memo.get(shape)
    if enc is None:
        enc = memo[shape] = _TailEncoder(match, fam, v)
    ofpacts = rule.ofpacts
    acts = enc.acts.get(id(ofpacts))
    acts = acts[1] if acts is not None and acts[0] is ofpacts else enc.actions(ofpacts)
    if fam == "nx":
        hit = (key, enc.pack_match(d) + acts, enc.mlen)
    elif fam == "of10":
        hit = (key, (_m10(match).pack(), acts), 0)
    elif v >= 6:
        hit = (key, (enc.pack_match(d), acts), flags_to_wire(rule.flags, v))
    else:
        hit = (key, enc.pack_match(d) + acts, flags_to_wire(rule.flags, v) if v >= 3 else 0)
    if cache is not False:
        rule._wire = hit                # one (family, version) at a time: memory
    return hit


def prefill_stats_entry(rule) -> None:
    """Cache ``rule``'s flow stats entry tail for the dump its adder would
    send: NXST_FLOW for OpenFlow 1.0 (what ovs-ofctl asks), OFPST_FLOW for
    OpenFlow 1.1-1.5."""
    v = rule.added_version
    _entry_tail(rule, "nx" if v == 1 else "of11", v)


class _TailEncoder:
    """Flow stats entry tails for one (match shape, family, version): the
    match as one compiled expression (padded, with its ofp_match header for
    OF1.1+), the actions packed once per ofpacts tuple."""

    __slots__ = ("fam", "v", "match", "pack_match", "mlen", "acts")

    def __init__(self, match, fam: str, v: int):
        self.fam, self.v, self.match = fam, v, match      # match: a sample of the shape
        self.pack_match, self.mlen = None, 0
        if fam == "nx":
            self.pack_match, self.mlen = framed_packer(match, oxm=False)
        elif fam == "of11":
            self.pack_match, _ = framed_packer(match, version=v, ofp11=True)
        self.acts = {}                  # id(ofpacts) -> (ofpacts, packed bytes)

    def actions(self, ofpacts) -> bytes:
        fam, v = self.fam, self.v
        packed = _packed_ofpacts(ofpacts, v if fam == "of11" else 1, self.match,
                                 1 if fam == "of10" else v)
        if len(self.acts) >= 1024:
            self.acts.clear()
        self.acts[id(ofpacts)] = (ofpacts, packed)    # the entry keeps the tuple alive
        return packed


_PACKED: dict = {}


def _packed_ofpacts(ofpacts, version: int, match, wire_version: int) -> bytes:
    """Wire bytes of ``encode_ofpacts(ofpacts, version, match)`` (actions, or
    instructions for OF1.1+) packed for ``wire_version``, shared by rules with
    equal actions.  The match matters only through nw_proto and VLAN presence."""
    # Rules usually share their ofpacts tuple (decode_flow_mod): look it up by
    # identity first (the entry keeps the tuple alive, so the id stays its own).
    key = (id(ofpacts), version, wire_version, match.value("nw_proto"), _vlan_present(match))
    hit = _PACKED.get(key)
    if hit is not None and hit[0] is ofpacts:
        return hit[1]
    enc = encode_ofpacts(ofpacts, version, match)
    packed = (A.pack_actions(enc, wire_version) if version == 1
              else I.pack_instructions(enc, wire_version))
    if len(_PACKED) >= 4096:
        _PACKED.clear()
    _PACKED[key] = (ofpacts, packed)
    return packed


def encode_flow_stats_wire(request_msg, rules, now: float) -> list:
    """The encoded messages of :func:`encode_flow_stats_replies` (the same
    bytes), built from each rule's cached match and actions (dump-flows)."""
    req = _request(request_msg)
    v, fam = req.version, req.family
    cls = NxFlowStatsReply if fam == "nx" else FlowStatsReply
    head = cls(version=v, xid=req.xid, flags=0, stats=()).encode()
    build = _of15_entries if fam == "of11" and v >= 6 else _ENTRY_BUILDERS[fam]
    entries = build(rules, _tail_key(fam, v), v, now)

    def message(part, more):
        body = b"".join(part)
        size = len(head) + len(body)
        if size > 0xFFFF:
            raise OFPError("OFPBRC_BAD_LEN", b"", f"message too long ({size} bytes)")
        h = bytearray(head)
        struct.pack_into("!H", h, 2, size)
        if more:
            struct.pack_into("!H", h, 10, 1)          # OFPSF_REPLY_MORE
        return bytes(h) + body
    return split_sized(message, entries, len, MAX_REPLY - len(head))


# The entry builders, one per family, over _entry_parts: the per-rule
# arithmetic of flow_stats_entry written out (a dump of 100,000 flows runs it
# 100,000 times).  Durations are rounded to milliseconds as OVS's are.
def _entry_parts(rules, key, fam, v, now):
    """(rule, tail, match_len or wire flags, sec, nsec, packets, bytes) per rule."""
    tail_of = _entry_tail
    for r in rules:
        w = r._wire
        _, tail, extra = w if w is not None and w[0] is key else tail_of(r, fam, v)
        ms = int(round((now - r.created) * 1000))
        if ms < 0:
            ms = 0
        yield r, tail, extra, ms // 1000, (ms % 1000) * 1000000, r.n_packets, r.n_bytes


def _nx_entries(rules, key, v, now):
    out, pack = [], _NX_FS_PACK
    for r, tail, mlen, sec, nsec, pk, by in _entry_parts(rules, key, "nx", v, now):
        idle = int((now - r.used) * 1000) // 1000              # _age, inlined
        hard = int((now - r.modified) * 1000) // 1000
        out.append(pack(48 + len(tail), r.table_id, sec, nsec, r.priority,
                        r.idle_timeout, r.hard_timeout, mlen,
                        1 if idle < 0 else idle + 1 if idle < 0xFFFF else 0xFFFF,
                        1 if hard < 0 else hard + 1 if hard < 0xFFFF else 0xFFFF,
                        r.cookie, pk, by) + tail)
    return out


def _of10_entries(rules, key, v, now):
    pack, pack2 = _OF10_FS_PACK, _OF10_FS2_PACK
    return [pack(88 + len(acts), r.table_id) + m10
            + pack2(sec, nsec, r.priority, r.idle_timeout, r.hard_timeout, r.cookie, pk, by) + acts
            for r, (m10, acts), _, sec, nsec, pk, by in _entry_parts(rules, key, "of10", v, now)]


def _of11_entries(rules, key, v, now):
    pack = _OF11_FS_PACK
    return [pack(48 + len(tail), r.table_id, sec, nsec, r.priority, r.idle_timeout,
                 r.hard_timeout, wflags, r.importance if v >= 5 else 0, r.cookie, pk, by) + tail
            for r, tail, wflags, sec, nsec, pk, by in _entry_parts(rules, key, "of11", v, now)]


def _of15_entries(rules, key, v, now):
    """ofp15_flow_desc, match, OXS statistics (duration, idle_time, packets,
    bytes: always these four, 52 bytes padded to 56), instructions.  The loop
    of _entry_parts, inlined (the OXS fields make this the busiest builder)."""
    out, pack, oxs, tail_of, join = [], _OF15_FS_PACK, _OF15_OXS_PACK, _entry_tail, b"".join
    for r in rules:
        w = r._wire
        _, (m, insts), wflags = w if w is not None and w[0] is key else tail_of(r, "of11", v)
        ms = int(round((now - r.created) * 1000))
        if ms < 0:
            ms = 0
        idle = int((now - r.used) * 1000)                   # _age_secs, inlined
        idle = 0 if idle < 0 else idle // 1000 if idle < 65535000 else 65535
        out.append(join((pack(80 + len(m) + len(insts), r.table_id, r.priority, r.idle_timeout,
                              r.hard_timeout, wflags, r.importance, r.cookie), m,
                         oxs(52, OXS_DURATION, (ms // 1000) << 32 | (ms % 1000) * 1000000,
                             OXS_IDLE_TIME, idle << 32, OXS_PACKET_COUNT, r.n_packets,
                             OXS_BYTE_COUNT, r.n_bytes), insts)))
    return out


_ENTRY_BUILDERS = {"nx": _nx_entries, "of10": _of10_entries, "of11": _of11_entries}
_TAIL_KEYS: dict = {}


def _tail_key(fam: str, v: int) -> tuple:
    """(family, version), one object per value: the rule caches compare by identity."""
    return _TAIL_KEYS.setdefault((fam, v), (fam, v))


_NX_FS_PACK = struct.Struct("!HBxIIHHHHHHQQQ").pack
_OF10_FS_PACK = struct.Struct("!HBx").pack
_OF10_FS2_PACK = struct.Struct("!IIHHH6xQQQ").pack
_OF11_FS_PACK = struct.Struct("!HBxIIHHHHH2xQQQ").pack
_OF15_FS_PACK = struct.Struct("!H2xBxHHHHHQ").pack          # ofp15_flow_desc
_OF15_OXS_PACK = struct.Struct("!IIQIQIQIQ4x").pack         # ofp_oxs_stat, 4 statistics


def encode_aggregate_reply(request_msg, packets: int, bytes_: int, flows: int):
    """OFPST/NXST_AGGREGATE reply (OF1.5: OXS packet_count, byte_count, flow_count)."""
    req = _request(request_msg)
    cls = NxAggregateStatsReply if req.family == "nx" else AggregateStatsReply
    return cls(version=req.version, xid=req.xid, packet_count=packets, byte_count=bytes_,
               flow_count=flows)


def aggregate(rules) -> tuple[int, int, int]:
    """(packets, bytes, flows) as OVS sums them: every rule counts, its
    no_packet_counts / no_byte_counts flags notwithstanding (ovs-vswitchd 3.1)."""
    p = b = n = 0
    for r in rules:
        n += 1
        p += r.n_packets
        b += r.n_bytes
    return p, b, n


def _wire_reason(reason: int, version: int) -> int:
    if reason == OFPRR_GROUP_DELETE and version < 4:
        return OFPRR_DELETE
    if reason in (OFPRR_METER_DELETE, OFPRR_EVICTION) and version < 5:
        return OFPRR_DELETE
    return reason


def encode_flow_removed(rule, reason: int, version: int, nx_format: bool, now: float = None):
    """FLOW_REMOVED for ``rule`` (NXT_FLOW_REMOVED when ``nx_format``);
    ``now`` defaults to the rule's ``removed`` time."""
    if now is None:
        now = getattr(rule, "removed", None) or rule.used
    sec, nsec = duration(rule.created, now)
    r = _wire_reason(reason, 4 if nx_format else version)
    kw = dict(version=version, cookie=rule.cookie, priority=rule.priority, reason=r,
              duration_sec=sec, duration_nsec=nsec, idle_timeout=rule.idle_timeout,
              packet_count=rule.n_packets, byte_count=rule.n_bytes)
    if nx_format:
        return NxFlowRemoved(table_id=rule.table_id,
                             match=OxmMatch.from_flow(rule.match, oxm=False), **kw)
    if version == 1:
        return FlowRemoved(match=_m10(rule.match), **kw)
    if version == 2:
        raise OFPError("OFPBRC_BAD_VERSION", detail=f"flow removed in version {version}")
    return FlowRemoved(table_id=rule.table_id, hard_timeout=rule.hard_timeout,
                       match=OxmMatch.from_flow(rule.match, version=version), **kw)


def flow_mod_from_spec(spec: FlowModSpec, version: int | None = None, xid: int = 0):
    """The wire FlowMod for a spec (tests, bundles, learn): OF1.0 falls back
    to NXT_FLOW_MOD when the match needs NXM."""
    v = version or spec.version
    cmd = COMMANDS.index(spec.command)
    cookie = spec.new_cookie if spec.modify_cookie else spec.cookie
    if v == 1:
        fl = flags_to_wire(spec.flags, 1)
        acts = encode_ofpacts(spec.ofpacts, 1, spec.match)
        kw = dict(version=1, xid=xid, cookie=cookie, command=cmd, table_id=spec.table_id
                  if spec.table_id != OFPTT_ALL else 0, idle_timeout=spec.idle_timeout,
                  hard_timeout=spec.hard_timeout, priority=spec.priority,
                  buffer_id=spec.buffer_id, out_port=spec.out_port, flags=fl, actions=acts)
        try:
            return FlowMod(match=Match10.from_flow(spec.match), **kw)
        except OFPError:
            return NxFlowMod(match=OxmMatch.from_flow(spec.match, oxm=False), **kw)
    return FlowMod(version=v, xid=xid, cookie=cookie, cookie_mask=spec.cookie_mask,
                   table_id=spec.table_id, command=cmd, idle_timeout=spec.idle_timeout,
                   hard_timeout=spec.hard_timeout, priority=spec.priority,
                   buffer_id=spec.buffer_id, out_port=port_to_ofp11(spec.out_port),
                   out_group=spec.out_group, flags=flags_to_wire(spec.flags, v),
                   importance=spec.importance, match=OxmMatch.from_flow(spec.match, version=v),
                   instructions=encode_ofpacts(spec.ofpacts, v, spec.match))


# ---------------------------------------------------------------- flow monitors
# Monitor flags as OVS keeps them whatever the wire (enum ofp14_flow_monitor_flags);
# NX/ONF bits map onto them, NXFMF_OWN ("own changes in full") onto ONLY_OWN.
OFPFMF_INITIAL, OFPFMF_ADD, OFPFMF_REMOVED, OFPFMF_MODIFY = 0x1, 0x2, 0x4, 0x8
OFPFMF_INSTRUCTIONS, OFPFMF_NO_ABBREV, OFPFMF_ONLY_OWN = 0x10, 0x20, 0x40
_NX_MONITOR_FLAGS = ((0x1, OFPFMF_INITIAL), (0x2, OFPFMF_ADD), (0x4, OFPFMF_REMOVED),
                     (0x8, OFPFMF_MODIFY), (0x10, OFPFMF_INSTRUCTIONS), (0x20, OFPFMF_ONLY_OWN))
_MONITOR_WHEN = OFPFMF_ADD | OFPFMF_REMOVED | OFPFMF_MODIFY     # one of them is required
_OF14_MONITOR_FLAGS = 0x5F                                      # NO_ABBREV is refused
OFPFMC_ADD, OFPFMC_MODIFY, OFPFMC_DELETE = 0, 1, 2
# Update events as OVS numbers them (OF1.4's); NX/ONF have no INITIAL (an
# initial flow is ADDED) and count from ADDED.
OFPFME_INITIAL, OFPFME_ADDED, OFPFME_REMOVED, OFPFME_MODIFIED = 0, 1, 2, 3
OFPFME_ABBREV, OFPFME_PAUSED, OFPFME_RESUMED = 4, 5, 6
_NX_EVENT = {OFPFME_INITIAL: 0, OFPFME_ADDED: 0, OFPFME_REMOVED: 1, OFPFME_MODIFIED: 2,
             OFPFME_ABBREV: 3}
# The flow monitor messages of each family: (reply, paused, resumed) classes.
# OF1.0-1.2 use the NX ones, OF1.3 ONF's, OF1.4+ OpenFlow's (ofputil_start_flow_update).
_MONITOR_FAMILY = {"nx": (_nx.NxFlowMonitorReply, _nx.NxFlowMonitorPaused,
                          _nx.NxFlowMonitorResumed),
                   "onf": (_nx.OnfFlowMonitorReply, _nx.OnfFlowMonitorPaused,
                           _nx.OnfFlowMonitorResumed),
                   "of14": (FlowMonitorReply, None, None)}
_REQUEST_FAMILY = {_nx.NxFlowMonitorRequest: "nx", _nx.OnfFlowMonitorRequest: "onf",
                   FlowMonitorRequest: "of14"}


def monitor_family(version: int) -> str:
    return "nx" if version <= 3 else "onf" if version == 4 else "of14"


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlowMonitorSpec:
    """One monitor, whatever its wire form (ofputil_flow_monitor_request):
    ``flags`` are OFPFMF_* bits, ``out_port`` is 16-bit (OFPP_NONE: any),
    ``table_id`` 0xff is every table, ``match`` a FlowMatch."""
    id: int
    command: int = OFPFMC_ADD
    flags: int = 0
    out_port: int = OFPP_NONE
    out_group: int = OFPG_ANY
    table_id: int = OFPTT_ALL
    match: FlowMatch = FlowMatch()


def decode_flow_monitor_request(msg):
    """NXST/ONFST/OFPMP_FLOW_MONITOR request -> FlowMonitorSpec, one monitor
    at a time (a generator): as ofputil_decode_flow_monitor_request, a bad
    monitor raises when it is reached, after the ones before it were taken."""
    fam = _REQUEST_FAMILY[type(msg)]
    for r in msg.requests:
        flags = r.flags
        if fam == "of14":
            if r.command == OFPFMC_DELETE:
                yield FlowMonitorSpec(id=r.id, command=OFPFMC_DELETE)
                continue
            if not flags & _MONITOR_WHEN or flags & ~_OF14_MONITOR_FLAGS:
                raise OFPError("OFPMOFC_BAD_FLAGS", detail=f"monitor flags {flags:#x}")
            out_port = port_from_ofp11(r.out_port, "OFPBAC_BAD_OUT_PORT")
            out_group, command = r.out_group, r.command
        else:
            if not flags & 0xE or flags & ~0x3F:
                raise OFPError("OFPMOFC_BAD_FLAGS", detail=f"monitor flags {flags:#x}")
            if r.zeros:
                raise OFPError("NXBRC_MUST_BE_ZERO", detail="flow monitor request padding")
            flags = sum(of for nx, of in _NX_MONITOR_FLAGS if r.flags & nx)
            out_port = (r.out_port if fam == "nx"
                        else port_from_ofp11(r.out_port, "OFPBAC_BAD_OUT_PORT"))
            out_group, command = OFPG_ANY, OFPFMC_ADD
        match = r.match.to_flow()
        if "cookie" in match:                # nx_pull_match without a cookie to fill
            raise OFPError("OFPBMC_BAD_FIELD", detail="cookie in a flow monitor match")
        yield FlowMonitorSpec(id=r.id, command=command, flags=flags, out_port=out_port,
                              out_group=out_group, table_id=r.table_id, match=match)


def decode_flow_monitor_cancel(msg) -> int:
    """NXT/ONFT_FLOW_MONITOR_CANCEL -> the monitor id."""
    return msg.id


def flow_update(rule, event: int, reason: int, with_actions: bool, version: int) -> FlowUpdate:
    """The update entry for ``rule`` in ``version``'s family (ofputil_append_flow_update):
    the rule's whole match, cookie, priority and timeouts, its actions if asked."""
    fam = monitor_family(version)
    kw = dict(reason=reason, priority=rule.priority, idle_timeout=rule.idle_timeout,
              hard_timeout=rule.hard_timeout, table_id=rule.table_id, cookie=rule.cookie)
    if fam == "nx":
        return FlowUpdate(event=_NX_EVENT[event],
                          match=OxmMatch.from_flow(rule.match, oxm=False),
                          actions=_nx_actions(rule, version) if with_actions else (), **kw)
    return FlowUpdate(event=_NX_EVENT[event] if fam == "onf" else event,
                      match=OxmMatch.from_flow(rule.match, version=version),
                      instructions=encode_ofpacts(rule.ofpacts, version, rule.match)
                      if with_actions else (), **kw)


def _nx_actions(rule, version: int) -> tuple:
    """An NX update's actions in ``version`` (ofpacts_put_openflow_actions):
    OF1.0's, or the apply-actions of OF1.1/1.2 (OVS would put the other
    instructions among the actions as they are; we leave them out)."""
    if version == 1:
        return encode_ofpacts(rule.ofpacts, 1, rule.match)
    return tuple(a for i in encode_ofpacts(rule.ofpacts, version, rule.match)
                 if type(i) is I.ApplyActions for a in i.actions)


def abbrev_update(xid: int, version: int) -> FlowUpdate:
    """An ABBREV entry: the change came from the monitoring connection's request ``xid``."""
    return FlowUpdate(event=_NX_EVENT[OFPFME_ABBREV] if version <= 4 else OFPFME_ABBREV,
                      xid=xid)


def encode_flow_monitor_replies(version: int, updates, xid: int = 0, family=None) -> list:
    """Flow monitor replies carrying ``updates`` (FlowUpdate), cut as ofpmp_postappend
    cuts them (REPLY_MORE on all but the last); one empty reply for none.
    ``family`` defaults to the version's (async updates); a reply to a request
    is in the request's."""
    cls = _MONITOR_FAMILY[family or monitor_family(version)][0]
    if len(updates) <= 1:                   # one update is never cut
        return [cls(version=version, xid=xid, updates=tuple(updates))]
    prefix = len(cls(version=version).encode())
    return split_sized(lambda part, more: cls(version=version, xid=xid, flags=more, updates=part),
                       updates, lambda u: len(cls(version=version, updates=(u,)).encode()) - prefix,
                       MAX_REPLY - prefix)


def encode_monitor_reply_for(request_msg, updates) -> list:
    """The reply to a flow monitor request: its family, version and xid."""
    return encode_flow_monitor_replies(request_msg.version, updates, request_msg.xid,
                                       _REQUEST_FAMILY[type(request_msg)])


def encode_flow_monitor_pause(version: int, resumed: bool = False):
    """NXT/ONFT_FLOW_MONITOR_PAUSED (RESUMED), or OF1.4's PAUSED (RESUMED)
    flow update (ofputil_encode_flow_monitor_pause); xid 0."""
    cls, paused_cls, resumed_cls = _MONITOR_FAMILY[monitor_family(version)]
    if paused_cls is None:
        return cls(version=version, xid=0, updates=(FlowUpdate(
            event=OFPFME_RESUMED if resumed else OFPFME_PAUSED),))
    return (resumed_cls if resumed else paused_cls)(version=version, xid=0)
