"""Packet-ins: one event, encoded per connection as Open vSwitch does.

Theory of operation
-------------------
A :class:`PacketInEvent` is OVS's ``ofputil_packet_in`` plus the routing
bits of ``ofproto_async_msg``: the frame as the datapath had it when the
``userspace(controller(...))`` action ran, the *internal* reason (OVS's
``enum ofp_packet_in_reason``, which has reasons no wire version has:
``EXPLICIT_MISS``, ``IMPLICIT_MISS``), the table and cookie of the rule, the
pipeline metadata at that point (``in_port``, registers, ``metadata``,
``pkt_mark``; only ``in_port`` is always present) and the controller id.

:func:`deliver` is ``connmgr_send_async_msg``: every connection whose
controller id equals the event's and that wants the reason *as encoded for
its version* (:func:`wire_reason`, also the async-config bit tested; service
connections need ``miss_send_len != 0``, see
:meth:`~.ofconn.OFConn.receives_async`) gets :func:`encode` in its version
and packet-in format (``NXT_SET_PACKET_IN_FORMAT``: 0 standard, 1
``NXT_PACKET_IN``, 2 ``NXT_PACKET_IN2``).  A table miss
(``IMPLICIT_MISS``) goes only to the sessions that asked for misses
(:func:`wants_packet_in_on_miss`, the same test that makes translation send
misses to the controller at all).  A rate-limited controller connection
passes each packet-in through its scheduler (:mod:`.pinsched`) for misses
(internal reason NO_MATCH, EXPLICIT_MISS or IMPLICIT_MISS) or for the rest,
queued by ``in_port``; :func:`deliver` counts a queued one as sent, as
connmgr.c does.

Frames are never buffered (OVS has ``n_buffers`` 0): ``buffer_id`` is
``NO_BUFFER`` and the *whole* frame is sent whatever ``max_len`` says
(captured: OVS 3.1 sent 110 bytes to faucet's ``CONTROLLER:96``), so
``total_len`` is the frame length and NXT_PACKET_IN2 has no ``full_len``.

Nothing here does I/O; ``now`` (seconds) is the rate limiters' clock.
"""
from __future__ import annotations

import dataclasses
import struct

from . import ofconn as oc
from .ofp import messages as M
from .ofp import nicira as NX
from .ofp.match import FlowMatch, OxmMatch

NO_BUFFER = 0xFFFFFFFF
# OVS's enum ofp_packet_in_reason (internal numbering = OF1.4 wire numbering
# for the first six).
OFPR_NO_MATCH, OFPR_ACTION, OFPR_INVALID_TTL = 0, 1, 2
OFPR_ACTION_SET, OFPR_GROUP, OFPR_PACKET_OUT = 3, 4, 5
OFPR_EXPLICIT_MISS, OFPR_IMPLICIT_MISS = 6, 7
# NXT_SET_PACKET_IN_FORMAT values.
NXPIF_STANDARD, NXPIF_NXT_PACKET_IN, NXPIF_NXT_PACKET_IN2 = 0, 1, 2
# NXT_PACKET_IN2 property types (nicira-ext.h enum nx_packet_in2_prop_type).
NXPINT_PACKET, NXPINT_FULL_LEN, NXPINT_BUFFER_ID, NXPINT_TABLE_ID = 0, 1, 2, 3
NXPINT_COOKIE, NXPINT_REASON, NXPINT_METADATA, NXPINT_USERDATA = 4, 5, 6, 7
NO_COOKIE = 0xFFFFFFFFFFFFFFFF
# Reasons that go to the connection's "miss" scheduler (connmgr_send_async_msg).
MISS_REASONS = frozenset((OFPR_NO_MATCH, OFPR_EXPLICIT_MISS, OFPR_IMPLICIT_MISS))

_META_WIDTH = {"in_port": 0xFFFF, "metadata": (1 << 64) - 1, "pkt_mark": 0xFFFFFFFF,
               **{f"reg{i}": 0xFFFFFFFF for i in range(16)}}


@dataclasses.dataclass(frozen=True)
class PacketInEvent:
    packet: bytes
    reason: int                     # internal reason (OFPR_*)
    table_id: int
    cookie: int
    metadata: dict                  # member -> value: in_port, regN, metadata, pkt_mark
    max_len: int = 0xFFFF
    controller_id: int = 0
    userdata: bytes = b""


def wire_reason(reason: int, version: int) -> int:
    """ofp-packet.c encode_packet_in_reason: the reason a version can carry."""
    if reason in (OFPR_ACTION_SET, OFPR_GROUP, OFPR_PACKET_OUT):
        return OFPR_ACTION if version < 5 else reason
    if reason == OFPR_EXPLICIT_MISS:
        return OFPR_ACTION if version < 4 else OFPR_NO_MATCH
    if reason == OFPR_IMPLICIT_MISS:
        return OFPR_NO_MATCH
    return reason


def metadata_match(ev: PacketInEvent) -> FlowMatch:
    """The flow metadata OVS puts in a packet-in: in_port always, the rest
    only when non-zero (``flow_get_metadata``)."""
    items = {}
    for k, v in ev.metadata.items():
        m = _META_WIDTH.get(k)
        if m is not None and (v or k == "in_port"):
            items[k] = (v, m)
    items.setdefault("in_port", (0, 0xFFFF))
    return FlowMatch(items)


def _prop(ptype: int, value: bytes) -> bytes:
    n = 4 + len(value)
    return struct.pack("!HH", ptype, n) + value + bytes((-n) & 7)


def encode(ev: PacketInEvent, version: int, fmt: int = NXPIF_STANDARD):
    """The packet-in message for a connection of ``version`` and format ``fmt``."""
    reason = wire_reason(ev.reason, version)
    data = bytes(ev.packet)
    in_port = ev.metadata.get("in_port", 0)
    if fmt == NXPIF_NXT_PACKET_IN2:
        tlvs = OxmMatch.from_flow(metadata_match(ev), oxm=version >= 3,
                                  version=version).pack_tlvs()
        props = [_prop(NXPINT_PACKET, data), _prop(NXPINT_TABLE_ID, bytes((ev.table_id,)))]
        if ev.cookie != NO_COOKIE:
            props.append(_prop(NXPINT_COOKIE, bytes(4) + ev.cookie.to_bytes(8, "big")))
        props.append(_prop(NXPINT_REASON, bytes((reason,))))
        props.append(_prop(NXPINT_METADATA, tlvs))
        if ev.userdata:
            props.append(_prop(NXPINT_USERDATA, ev.userdata))
        return NX.NxPacketIn2(version=version, xid=0, properties=b"".join(props))
    if fmt == NXPIF_NXT_PACKET_IN:
        match = OxmMatch.from_flow(metadata_match(ev), oxm=False, version=version)
        return NX.NxPacketIn(version=version, xid=0, buffer_id=NO_BUFFER,
                             total_len=len(data), reason=reason, table_id=ev.table_id,
                             cookie=ev.cookie, match=match, data=data)
    if version == 1:
        return M.PacketIn(version=1, xid=0, buffer_id=NO_BUFFER, total_len=len(data),
                          in_port=in_port, reason=reason, data=data)
    match = OxmMatch.from_flow(metadata_match(ev), oxm=True, version=version)
    return M.PacketIn(version=version, xid=0, buffer_id=NO_BUFFER, total_len=len(data),
                      reason=reason, table_id=ev.table_id, cookie=ev.cookie, match=match,
                      data=data)


def wants_packet_in_on_miss(conn) -> bool:
    """connmgr.c ofconn_wants_packet_in_on_miss: a table miss goes to the
    controller (the bridge's hidden miss rule) only for OF1.0-1.2 sessions
    with controller id 0; OF1.3+ drops misses."""
    return (conn.state is oc.State.ACTIVE and getattr(conn, "controller_id", 0) == 0
            and conn.version < 4)


def deliver(conns, ev: PacketInEvent, now: float) -> int:
    """Send ``ev`` to every connection of ``conns`` that wants it (now or,
    rate limited, later); returns how many took it."""
    n = 0
    is_miss = ev.reason in MISS_REASONS
    in_port = ev.metadata.get("in_port", 0)
    for c in list(conns):
        if getattr(c, "controller_id", 0) != ev.controller_id:
            continue
        if ev.reason == OFPR_IMPLICIT_MISS and not wants_packet_in_on_miss(c):
            continue
        reason = wire_reason(ev.reason, c.version)
        if c.send_packet_in(reason, is_miss, in_port,
                            lambda conn: encode(ev, conn.version, conn.packet_in_format), now):
            n += 1
    return n

