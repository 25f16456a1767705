"""LACP (IEEE 802.1AX) as Open vSwitch implements it (``lib/lacp.c``).

Theory of operation
-------------------
One :class:`Lacp` object per bonded port; each member (a bond link) is
registered with :meth:`Lacp.add_member` under a caller-chosen handle (the
OpenFlow port number, usually).  The object is sans-I/O: no socket, no clock.

* Input: :meth:`Lacp.receive` with each frame of ethertype 0x8809 that arrives
  on a member, :meth:`Lacp.set_carrier` when a member's link changes.
* Output: :meth:`Lacp.run` returns the LACPDUs to send now, as
  ``(member, pdu_payload)`` pairs; :func:`lacp_frame` wraps a payload in its
  Ethernet header (dst ``01:80:c2:00:00:02``, src the member's MAC).
* Timers: :meth:`Lacp.next_wake` says when ``run`` must be called again.

Every entry point that depends on time takes ``now`` in **seconds** (the
project's clock, ``trio.current_time()``); protocol constants are kept in
milliseconds like OVS and converted at the edge.

Per member, the receive machine has three states (OVS's ``member_status``):
``current`` (a PDU came within 3 x the partner's tx period), ``expired`` (the rx
timer ran out once: we ask the partner for fast PDUs and give it 3 s) and
``defaulted`` (no partner; partner info zeroed).  Selection
(:meth:`_update_attached`) attaches members whose partner agrees with the
lead member's partner (same system id and key); a member may carry traffic
(:meth:`may_enable`) when attached and the partner says "synchronized", or,
with ``fallback_ab``, when it is defaulted.

Malformed PDUs never raise: they are counted (``RX Bad PDUs``) and dropped.
Marker PDUs are counted and ignored, as OVS does.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace
from enum import Enum
from typing import Hashable, Iterable, NamedTuple

__all__ = [
    "ETH_TYPE_LACP", "LACP_DST", "LacpInfo", "LacpPdu", "Lacp", "LacpError",
    "lacp_frame", "status_of", "show", "show_stats",
    "STATE_ACT", "STATE_TIME", "STATE_AGG", "STATE_SYNC", "STATE_COL",
    "STATE_DIST", "STATE_DEF", "STATE_EXP",
]

ETH_TYPE_LACP = 0x8809          # Slow Protocols ethertype.
LACP_DST = 0x0180C2000002       # Slow Protocols multicast address.

# Actor/partner state bits (802.1AX 5.4.2.2 item s).
STATE_ACT = 0x01   # Activity: active (1) or passive (0).
STATE_TIME = 0x02  # Timeout: short (fast, 1) or long (slow, 0).
STATE_AGG = 0x04   # Aggregation: the link may be bundled.
STATE_SYNC = 0x08  # Synchronization: the link is in the right aggregator.
STATE_COL = 0x10   # Collecting: receiving frames.
STATE_DIST = 0x20  # Distributing: sending frames.
STATE_DEF = 0x40   # Defaulted: using default partner info.
STATE_EXP = 0x80   # Expired: partner info timed out once.

_STATE_NAMES = ((STATE_ACT, "activity"), (STATE_TIME, "timeout"),
                (STATE_AGG, "aggregation"), (STATE_SYNC, "synchronized"),
                (STATE_COL, "collecting"), (STATE_DIST, "distributing"),
                (STATE_DEF, "defaulted"), (STATE_EXP, "expired"))

FAST_TIME_TX = 1000    # ms between PDUs when the partner asks for fast.
SLOW_TIME_TX = 30000   # ms between PDUs otherwise.
RX_MULTIPLIER = 3      # rx timeout = 3 x tx period.

SUBTYPE_LACP = 1
SUBTYPE_MARKER = 2
PDU_LEN = 110          # subtype .. end of the 64 reserved bytes after the collector TLV.
_INFO = struct.Struct("!H6sHHHB")          # 15 bytes: the body of an actor/partner TLV.
_PDU = struct.Struct("!BBBB15s3xBB15s3xBBH64x")
assert _PDU.size == PDU_LEN


def _mac_str(mac: int) -> str:
    return ":".join(f"{b:02x}" for b in mac.to_bytes(6, "big"))


def _state_str(state: int) -> str:
    return "".join(" " + name for bit, name in _STATE_NAMES if state & bit)


class LacpError(Exception):
    """An ovs-appctl command failed; ``str(err)`` is the reply text."""


@dataclass(frozen=True)
class LacpInfo:
    """The 15-byte actor or partner information of a LACPDU."""
    sys_priority: int = 0
    sys_id: int = 0
    key: int = 0
    port_priority: int = 0
    port_id: int = 0
    state: int = 0

    def pack(self) -> bytes:
        return _INFO.pack(self.sys_priority, self.sys_id.to_bytes(6, "big"), self.key,
                          self.port_priority, self.port_id, self.state)

    @classmethod
    def unpack(cls, data: bytes) -> "LacpInfo":
        prio, sysid, key, pprio, pid, state = _INFO.unpack(data)
        return cls(prio, int.from_bytes(sysid, "big"), key, pprio, pid, state)

    def tx_equal(self, other: "LacpInfo") -> bool:
        """True if the change from ``other`` needs no new PDU (802.1AX NTT rule)."""
        mask = STATE_ACT | STATE_TIME | STATE_SYNC | STATE_AGG
        return (not (self.state ^ other.state) & mask
                and (self.port_id, self.port_priority, self.key, self.sys_priority, self.sys_id)
                == (other.port_id, other.port_priority, other.key, other.sys_priority,
                    other.sys_id))


@dataclass(frozen=True)
class LacpPdu:
    actor: LacpInfo
    partner: LacpInfo
    collector_delay: int = 0     # OVS sends 0.

    def encode(self) -> bytes:
        return _PDU.pack(SUBTYPE_LACP, 1, 1, 20, self.actor.pack(), 2, 20,
                         self.partner.pack(), 3, 16, self.collector_delay)

    @staticmethod
    def decode(payload: bytes) -> tuple[int, "LacpPdu | None"]:
        """Parses the bytes after the ethertype.  Returns ``(subtype, pdu)``:
        ``(1, pdu)`` for a LACPDU OVS accepts, ``(2, None)`` for a marker PDU,
        ``(0, None)`` for anything malformed.  Never raises."""
        if len(payload) < PDU_LEN:
            return (SUBTYPE_MARKER, None) if payload[:1] == b"\x02" else (0, None)
        (subtype, _ver, atype, alen, actor, ptype, plen, partner,
         _ctype, _clen, delay) = _PDU.unpack_from(payload)
        if subtype == SUBTYPE_LACP and (atype, alen, ptype, plen) == (1, 20, 2, 20):
            return SUBTYPE_LACP, LacpPdu(LacpInfo.unpack(actor), LacpInfo.unpack(partner), delay)
        if subtype == SUBTYPE_MARKER:
            return SUBTYPE_MARKER, None
        return 0, None


def lacp_frame(src_mac: int, pdu: bytes) -> bytes:
    """Ethernet frame carrying ``pdu`` as OVS sends it (no padding: 124 bytes)."""
    return LACP_DST.to_bytes(6, "big") + src_mac.to_bytes(6, "big") + b"\x88\x09" + pdu


def _frame_payload(frame: bytes) -> bytes | None:
    """The L3 payload of a Slow Protocols frame (VLAN tags skipped), else None."""
    off = 12
    while len(frame) >= off + 2:
        etype = int.from_bytes(frame[off:off + 2], "big")
        if etype in (0x8100, 0x88A8):
            off += 4
            continue
        return frame[off + 2:] if etype == ETH_TYPE_LACP else None
    return None


class Status(str, Enum):
    CURRENT = "current"
    EXPIRED = "expired"
    DEFAULTED = "defaulted"


class Transmit(NamedTuple):
    member: Hashable
    pdu: bytes       # 110-byte LACPDU payload; wrap with lacp_frame().


class _Member:
    __slots__ = ("handle", "name", "port_id", "port_priority", "key", "status", "attached",
                 "carrier_up", "partner", "ntt_actor", "tx_deadline", "rx_deadline",
                 "rx_pdus", "rx_bad", "rx_marker", "tx_pdus", "link_expired",
                 "link_defaulted", "carrier_changed")

    def __init__(self, handle, name, carrier_up):
        self.handle, self.name = handle, name
        self.port_id = self.port_priority = self.key = 0
        self.status = Status.DEFAULTED
        self.attached = False
        self.carrier_up = carrier_up
        self.partner = LacpInfo()
        self.ntt_actor = LacpInfo()
        self.tx_deadline = -math.inf     # OVS timers start expired.
        self.rx_deadline = -math.inf
        self.rx_pdus = self.rx_bad = self.rx_marker = self.tx_pdus = 0
        self.link_expired = self.link_defaulted = self.carrier_changed = 0


class Lacp:
    """The LACP state of one bond (OVS ``struct lacp``)."""

    def __init__(self, name: str, sys_id: int, sys_priority: int = 65534, active: bool = True,
                 fast: bool = False, fallback_ab: bool = False):
        if not sys_id:
            raise ValueError("LACP system id must be nonzero")
        self.name = name
        self.sys_id = sys_id
        self.sys_priority = sys_priority
        self.active = active
        self.fast = fast
        self.fallback_ab = fallback_ab
        self.negotiated = False
        self._update = False
        self._members: dict[Hashable, _Member] = {}
        self._key_member: _Member | None = None

    # ---- configuration -------------------------------------------------
    def configure(self, *, sys_id=None, sys_priority=None, active=None, fast=None,
                  fallback_ab=None) -> None:
        """Reconfigures like ``lacp_configure``: changes of identity or fallback
        re-run selection."""
        if sys_id is not None and sys_id != self.sys_id or \
                sys_priority is not None and sys_priority != self.sys_priority:
            self.sys_id = sys_id if sys_id is not None else self.sys_id
            self.sys_priority = sys_priority if sys_priority is not None else self.sys_priority
            self._update = True
        if active is not None:
            self.active = active
        if fast is not None:
            self.fast = fast
        if fallback_ab is not None and fallback_ab != self.fallback_ab:
            self.fallback_ab = fallback_ab
            self._update = True

    def add_member(self, member: Hashable, port_id: int, port_priority: int = 65535, *,
                   name: str | None = None, key: int = 0, carrier_up: bool = True,
                   now: float = 0.0) -> None:
        """Registers (or reconfigures) ``member``.  ``port_id`` is OVS's
        ``other_config:lacp-port-id`` or the OpenFlow port number; ``key`` the
        ``lacp-aggregation-key`` (0: the first member's port id is the key)."""
        m = self._members.get(member)
        if m is None:
            m = self._members[member] = _Member(member, name or str(member), carrier_up)
            self._set_defaulted(m)
            if self._key_member is None:
                self._key_member = m
        if name is not None:
            m.name = name
        if (m.port_id, m.port_priority, m.key) != (port_id, port_priority, key):
            m.port_id, m.port_priority, m.key = port_id, port_priority, key
            self._update = True
            if self.active or self.negotiated:
                self._set_expired(m, now)

    def remove_member(self, member: Hashable) -> None:
        m = self._members.pop(member, None)
        if m is None:
            return
        self._update = True
        if self._key_member is m:
            self._key_member = next(iter(self._members.values()), None)

    @property
    def members(self) -> list:
        return list(self._members)

    def set_carrier(self, member: Hashable, up: bool, now: float) -> None:
        """The member's carrier changed (``lacp_member_carrier_changed``)."""
        m = self._members.get(member)
        if m is None:
            return
        if m.status == Status.CURRENT or self.active:
            self._set_expired(m, now)
        if m.carrier_up != up:
            m.carrier_up = up
            m.carrier_changed += 1

    # ---- input ---------------------------------------------------------
    def receive(self, member: Hashable, frame: bytes, now: float) -> bool:
        """Processes a Slow Protocols Ethernet frame received on ``member``.
        Returns whether the member may now be enabled (OVS's fast path hint).
        Malformed frames are counted as bad PDUs and dropped."""
        m = self._members.get(member)
        if m is None:
            return False
        m.rx_pdus += 1
        payload = _frame_payload(bytes(frame))
        subtype, pdu = LacpPdu.decode(payload) if payload is not None else (0, None)
        if subtype == SUBTYPE_MARKER:
            m.rx_marker += 1
            return False
        if pdu is None:
            m.rx_bad += 1
            return False
        if not m.carrier_up:
            return False          # OVS: PDU while L1 still down is dropped.
        m.status = Status.CURRENT
        tx = FAST_TIME_TX if self.fast else SLOW_TIME_TX
        m.rx_deadline = now + RX_MULTIPLIER * tx / 1000
        m.ntt_actor = pdu.partner
        if m.partner != pdu.actor:
            self._update = True
            m.partner = pdu.actor
        return self._may_enable(m)

    # ---- periodic work -------------------------------------------------
    def run(self, now: float) -> list[Transmit]:
        """Runs timers and selection; returns the PDUs to send now."""
        for m in self._members.values():
            if now >= m.rx_deadline:
                if m.status == Status.CURRENT:
                    self._set_expired(m, now)
                    m.link_expired += 1
                elif m.status == Status.EXPIRED:
                    self._set_defaulted(m)
                    m.link_defaulted += 1
        if self._update:
            self._update_attached()
        out = []
        for m in self._members.values():
            if not self._may_tx(m):
                continue
            actor = self._actor(m)
            if now >= m.tx_deadline or not actor.tx_equal(m.ntt_actor):
                m.ntt_actor = actor
                out.append(Transmit(m.handle, LacpPdu(actor, m.partner).encode()))
                m.tx_pdus += 1
                period = FAST_TIME_TX if m.partner.state & STATE_TIME else SLOW_TIME_TX
                m.tx_deadline = now + period / 1000
        return out

    def should_transmit(self, member: Hashable, now: float) -> bool:
        """Whether ``run(now)`` would send a PDU on ``member`` (selection aside)."""
        m = self._members.get(member)
        if m is None or not self._may_tx(m):
            return False
        return now >= m.tx_deadline or not self._actor(m).tx_equal(m.ntt_actor)

    def next_wake(self, now: float) -> float:
        """Earliest time ``run`` has work to do (``lacp_wait``); ``inf`` if none."""
        if self._update:
            return now
        t = math.inf
        for m in self._members.values():
            if self._may_tx(m):
                t = min(t, m.tx_deadline)
            if m.status != Status.DEFAULTED:
                t = min(t, m.rx_deadline)
        return max(t, now) if t != math.inf else t

    # ---- queries -------------------------------------------------------
    @property
    def status(self) -> str:
        return "negotiated" if self.negotiated else "configured"

    def may_enable(self, member: Hashable) -> bool:
        """Attached and partner synchronized (or defaulted with fallback)."""
        m = self._members.get(member)
        return m is not None and self._may_enable(m)

    def is_current(self, member: Hashable) -> bool:
        """``Interface:lacp_current``: true unless the member is defaulted."""
        m = self._members.get(member)
        return m is not None and m.status != Status.DEFAULTED

    def member_status(self, member: Hashable) -> str:
        return self._members[member].status.value

    def is_attached(self, member: Hashable) -> bool:
        return self._members[member].attached

    def actor(self, member: Hashable) -> LacpInfo:
        return self._actor(self._members[member])

    def partner(self, member: Hashable) -> LacpInfo:
        return self._members[member].partner

    def actor_state(self, member: Hashable) -> set[str]:
        """Names of the actor state bits (``activity`` ... ``expired``)."""
        s = self._actor(self._members[member]).state
        return {name for bit, name in _STATE_NAMES if s & bit}

    def partner_state(self, member: Hashable) -> set[str]:
        s = self._members[member].partner.state
        return {name for bit, name in _STATE_NAMES if s & bit}

    @property
    def aggregation_key(self) -> int | None:
        k = self._key_member
        return None if k is None else (k.key or k.port_id)

    def stats(self, member: Hashable) -> dict:
        m = self._members[member]
        return {"tx_pdus": m.tx_pdus, "rx_pdus": m.rx_pdus, "rx_bad_pdus": m.rx_bad,
                "rx_marker_pdus": m.rx_marker, "link_expired": m.link_expired,
                "link_defaulted": m.link_defaulted, "carrier_changed": m.carrier_changed}

    # ---- internals -----------------------------------------------------
    def _may_enable(self, m: _Member) -> bool:
        return m.attached and bool(m.partner.state & STATE_SYNC
                                   or self.fallback_ab and m.status == Status.DEFAULTED)

    def _may_tx(self, m: _Member) -> bool:
        return m.carrier_up and (self.active or m.status != Status.DEFAULTED)

    def _set_defaulted(self, m: _Member) -> None:
        m.partner = LacpInfo()
        self._update = True
        m.status = Status.DEFAULTED

    def _set_expired(self, m: _Member, now: float) -> None:
        m.status = Status.EXPIRED
        m.partner = replace(m.partner, state=(m.partner.state | STATE_TIME) & ~STATE_SYNC)
        m.rx_deadline = now + RX_MULTIPLIER * FAST_TIME_TX / 1000

    def _actor(self, m: _Member) -> LacpInfo:
        state = 0
        if self.active:
            state |= STATE_ACT
        if self.fast:
            state |= STATE_TIME
        if m.attached:
            state |= STATE_SYNC
        if m.status == Status.DEFAULTED:
            state |= STATE_DEF
        if m.status == Status.EXPIRED:
            state |= STATE_EXP
        if len(self._members) > 1:
            state |= STATE_AGG
        if m.attached or not self.negotiated:
            state |= STATE_COL | STATE_DIST
        return LacpInfo(self.sys_priority, self.sys_id, self.aggregation_key or 0,
                        m.port_priority, m.port_id, state)

    def _priority(self, m: _Member) -> bytes:
        """Link priority as comparable bytes: smaller is better (memcmp order)."""
        p = m.partner
        if (self.sys_priority, self.sys_id) < (p.sys_priority, p.sys_id):
            info = self._actor(m)
        else:
            info = p
        return replace(info, key=0, state=0).pack()

    def _update_attached(self) -> None:
        self._update = False
        lead = lead_current = None
        lead_pri = b""
        lead_enable = False
        for m in self._members.values():
            if m.status == Status.CURRENT and m.attached:
                pri = self._priority(m)
                if lead_current is None or pri < lead_pri:
                    lead = lead_current = m
                    lead_pri, lead_enable = pri, True
        for m in self._members.values():
            m.attached = False
            if m.partner.sys_id == self.sys_id:
                continue                       # Loopback: connected to ourselves.
            if m.status == Status.DEFAULTED:
                if self.fallback_ab:
                    m.attached = True
                continue
            pri = self._priority(m)
            enable = self._may_enable(m)
            if lead_current is None or m.partner.sys_id == lead_current.partner.sys_id:
                m.attached = True
            if m.attached and (lead is None or enable > lead_enable
                               or (enable == lead_enable and pri < lead_pri)):
                lead, lead_enable, lead_pri = m, enable, pri
        self.negotiated = lead is not None
        if lead is not None:
            for m in self._members.values():
                if (self.fallback_ab and m.status == Status.DEFAULTED
                        or lead.partner.key != m.partner.key
                        or lead.partner.sys_id != m.partner.sys_id):
                    m.attached = False

    # ---- ovs-appctl renderings ------------------------------------------
    def show(self) -> str:
        """``ovs-appctl lacp/show PORT`` for this object."""
        out = [f"---- {self.name} ----",
               f"  status: {'active' if self.active else 'passive'}"
               + (" negotiated" if self.negotiated else ""),
               f"  sys_id: {_mac_str(self.sys_id)}",
               f"  sys_priority: {self.sys_priority}",
               "  aggregation key: " + (str(self.aggregation_key)
                                        if self._key_member else "none"),
               f"  lacp_time: {'fast' if self.fast else 'slow'}"]
        for m in sorted(self._members.values(), key=lambda m: m.name):
            a, p = self._actor(m), m.partner
            out += ["", f"member: {m.name}: {m.status.value} "
                        f"{'attached' if m.attached else 'detached'}",
                    f"  port_id: {m.port_id}",
                    f"  port_priority: {m.port_priority}",
                    f"  may_enable: {'true' if self._may_enable(m) else 'false'}",
                    ""]
            for who, i in (("actor", a), ("partner", p)):
                out += [f"  {who} sys_id: {_mac_str(i.sys_id)}",
                        f"  {who} sys_priority: {i.sys_priority}",
                        f"  {who} port_id: {i.port_id}",
                        f"  {who} port_priority: {i.port_priority}",
                        f"  {who} key: {i.key}",
                        f"  {who} state:{_state_str(i.state)}"]
                if who == "actor":
                    out.append("")
        return "\n".join(out) + "\n"

    def show_stats(self) -> str:
        """``ovs-appctl lacp/show-stats PORT`` for this object."""
        out = [f"---- {self.name} statistics ----"]
        for m in sorted(self._members.values(), key=lambda m: m.name):
            out += ["", f"member: {m.name}:",
                    f"  TX PDUs: {m.tx_pdus}",
                    f"  RX PDUs: {m.rx_pdus}",
                    f"  RX Bad PDUs: {m.rx_bad}",
                    f"  RX Marker Request PDUs: {m.rx_marker}",
                    f"  Link Expired: {m.link_expired}",
                    f"  Link Defaulted: {m.link_defaulted}",
                    f"  Carrier Status Changed: {m.carrier_changed}"]
        return "\n".join(out) + "\n"


def status_of(lacp: Lacp | None) -> str:
    """OVS's ``lacp_status_description(lacp_status(lacp))``."""
    return "off" if lacp is None else lacp.status


def _select(lacps: Iterable[Lacp], name: str | None) -> list[Lacp]:
    lacps = list(lacps)
    if name is None:
        return lacps
    for lacp in lacps:
        if lacp.name == name:
            return [lacp]
    raise LacpError("no such lacp object")


def show(lacps: Iterable[Lacp], name: str | None = None) -> str:
    """``ovs-appctl lacp/show [PORT]``; raises LacpError for an unknown port."""
    return "".join(lacp.show() for lacp in _select(lacps, name))


def show_stats(lacps: Iterable[Lacp], name: str | None = None) -> str:
    """``ovs-appctl lacp/show-stats [PORT]``."""
    return "".join(lacp.show_stats() for lacp in _select(lacps, name))
