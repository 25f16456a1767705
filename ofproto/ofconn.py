"""One OpenFlow connection, sans-I/O: handshake, session rules, dispatch.

Theory of operation
-------------------
An :class:`OFConn` is the protocol state of one connection between a bridge
and a peer (``ovs-ofctl`` on ``<br>.mgmt``, or a controller).  It owns no
socket and no clock: the I/O edge (:mod:`.connmgr`) calls

* ``receive_data(data, now)`` with bytes read from the stream (``b""`` for
  end of stream),
* ``data_to_send()`` to collect the bytes to write (and, after each write,
  ``output_pending(n)``: the bytes of those not written yet; flow monitors'
  flow control needs it),
* ``get_timer()`` / ``handle_timer(now)`` for inactivity probes and bundle
  timeouts,

and stops when ``closed`` is true (``close_reason`` says why).  Messages the
switch sends on its own (PORT_STATUS, FLOW_REMOVED, ROLE_STATUS) go through
``send_async(kind, reason, make)``, which applies the SET_ASYNC filter and
OVS's rule that service connections get nothing while ``miss_send_len`` is 0.
Packet-ins go through ``send_packet_in``: the same filter, then, on a
controller connection with ``controller_rate_limit`` (``set_rate_limit``),
the connection's two :mod:`.pinsched` schedulers (table misses and the
rest); what they queue comes out of ``handle_timer`` as tokens refill, and
``get_timer`` includes that time.

States (:class:`State`): HELLO (ours sent, waiting for the peer's), ACTIVE,
CLOSED.  Negotiation as lib/vconn.c: our HELLO carries our highest version
and a version bitmap only when the allowed set is not 1..N; the peer's
versions are its bitmap, or 1..its header version; the highest common one
wins.  No common version: OFPET_HELLO_FAILED/OFPHFC_INCOMPATIBLE with OVS's
"We support ..., you support ..., no common versions." text, then close.
A header shorter than 8 bytes (``length < 8``) closes the connection too;
everything else malformed is answered with an OFPT_ERROR and the session
goes on.

Dispatch: every decoded message's class is looked up first in
:data:`SESSION_HANDLERS` (messages about the connection itself: echo,
barrier, roles, async config, flow formats, bundles) and then in the
bridge's ``handlers`` table (``{MessageClass: Handler}``, see
:class:`Handler`).  A handler returns the replies (a message, a list of
them, or None) or raises :class:`~.ofp.OFPError`; the single place that
turns an OFPError into OFPT_ERROR is :meth:`OFConn._error`.  Handlers marked
``write=True`` are refused with OFPBRC_IS_SLAVE (OVS's IS_SECONDARY) while
the connection is a slave.  Messages are handled strictly in arrival order
and replies are queued in that order, so a BARRIER_REPLY follows every reply
and error of the requests before it.

Roles (connmgr.c): ``equal`` at start; the generation id is shared by the
connections of one bridge (:class:`RoleGroup`).  A MASTER/SLAVE request
with a generation id older than the last one (signed 64-bit difference < 0)
is OFPRRFC_STALE.  A new master demotes the previous masters to slave and
they get ROLE_STATUS (OF1.4+; ONF 1911 in OF1.3).  ROLE_REQUEST on a
service connection is allowed (OVS does not refuse it).

Bundles (ofproto/bundles.c): OPEN/ADD/CLOSE/COMMIT/DISCARD with OVS's error
codes; ADD opens implicitly.  An ADD's inner message is checked then
(``validate_bundle_msg(conn, msg, now)``, which returns a flow_mod's spec)
and the bundle keeps ``(spec or None, request)``; COMMIT hands them to the
bridge's ``commit_bundle(conn, entries, now)`` which applies them all or
none.  On failure OVS sends the inner error (with the inner message's xid)
and then OFPBFC_MSG_FAILED for the commit.  Bundles idle for
``BUNDLE_IDLE_TIMEOUT`` seconds are discarded with OFPBFC_TIMEOUT.  A
BUNDLE_ADD_MESSAGE (or ONF's OF1.3 one) carrying an ordinary flow_mod
takes a fast path like a plain flow_mod's (``_bundle_add_fast``): the
headers are read by hand and :func:`.fastpath.flow_mod_spec` makes the
spec from the inner bytes, which the bundle keeps as its request; they are
decoded only when an error must echo them, so errors are the general
path's.  Anything unusual (properties, lengths, versions, another inner
message, a spec the fast path declines) takes the general path.

Flow monitors (connmgr.c ofmonitor_*): ``monitors`` holds the
connection's monitors by id (:class:`.ofputil.FlowMonitorSpec`; the bridge's
flow monitor handlers add and cancel them, and send the initial dump).  The
flow tables' changes come to :meth:`OFConn.monitor_report` in batches, one
per flow_mod (or bundle commit, timeout, group or meter delete, flushed
table), as ``(event, rule, reason, old ofpacts, xid)``: a change goes out
when one of the monitors asks for that kind of change and selects the flow
(table, out_port also in the actions it replaced, out_group, loose match),
with actions when one of them wants actions; the connection's own changes
are one ABBREV (the request's xid) per batch unless a monitor asked for
"own".  The updates of a batch go in as few replies as fit in 64 KiB (xid 0,
REPLY_MORE on all but the last), in the connection's version: NX in OF1.0-1.2,
ONF in OF1.3, OpenFlow in 1.4+.

Flow control is connmgr.c's: the bytes of monitor messages not yet handed to
the peer are counted; beyond ``MONITOR_BACKLOG`` (128 KiB) after a batch the
connection sends PAUSED and from then on only deletions of flows older than
the pause; what is added or modified meanwhile is remembered (only flows
still there).  Once every counted message is handed over, ``get_timer``
says "now" and ``handle_timer`` sends ADDED/MODIFIED for those flows that a
monitor wants, then RESUMED.  "Handed over" needs the I/O edge: after each
write it calls ``output_pending(n)`` with the bytes it took from
``data_to_send`` but could not write yet.  As rconn hands each message to the
socket once all before it is written, a message counts as handed unless the
edge's last report left bytes unwritten and the message came after them;
an edge that never reports never blocks a monitor (and so never pauses it).

Nothing here may import trio (tests/ofproto/test_ofconn.py checks).
"""
from __future__ import annotations

import collections
import enum
import logging
import struct
from dataclasses import dataclass, field
from typing import Callable

from . import ofp
from . import ofputil as U
from . import pinsched
from .fastpath import flow_mod_spec
from .ofp import OFPError
from .ofp import messages as M
from .ofp import nicira as NX
from .ofp.header import VERSION_NAMES

log = logging.getLogger("ofconn")

ALL_VERSIONS = frozenset(VERSION_NAMES)            # 0x01..0x06
PROTOCOL_VERSIONS = {"OpenFlow10": 1, "OpenFlow11": 2, "OpenFlow12": 3,
                     "OpenFlow13": 4, "OpenFlow14": 5, "OpenFlow15": 6}
OFP_DEFAULT_MISS_SEND_LEN = 128      # controllers; service connections start at 0
BUNDLE_IDLE_TIMEOUT = 10.0           # ofproto/bundles.c: discard idle bundles (s)
MAX_BUNDLE_MSGS = 1_000_000              # beyond this, OFPBFC_MSG_TOO_MANY
MAX_ERROR_DATA = 0xFFFF - 16         # an OFPT_ERROR must still fit in 64 KiB
MONITOR_BACKLOG = 128 * 1024         # connmgr.c ofmonitor_flush: pause beyond this in flight

ROLE_NOCHANGE, ROLE_EQUAL, ROLE_MASTER, ROLE_SLAVE = 0, 1, 2, 3
NX_ROLE_TO_OF = {0: ROLE_EQUAL, 1: ROLE_MASTER, 2: ROLE_SLAVE}   # NX_ROLE_OTHER/MASTER/SLAVE
OF_ROLE_TO_NX = {v: k for k, v in NX_ROLE_TO_OF.items()}

# Async message kinds and their default masks (ofputil_async_cfg_default,
# reasons as OF1.3 bits: packet-in no_match/action/invalid_ttl; port status
# add/delete/modify; flow removed idle/hard/delete/group_delete(/meter...)).
PACKET_IN, PORT_STATUS, FLOW_REMOVED = "packet_in", "port_status", "flow_removed"
TABLE_STATUS = "table_status"      # OF1.4 vacancy events: off unless SET_ASYNC asks


def default_async(version: int) -> dict:
    fr = 0x3F if version >= 5 else 0xF if version == 4 else 0x7
    return {PACKET_IN: [0x3, 0], PORT_STATUS: [0x7, 0x7], FLOW_REMOVED: [fr, 0],
            TABLE_STATUS: [0, 0]}


class State(enum.Enum):
    HELLO = "hello"
    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True)
class Handler:
    """A bridge message handler: ``fn(conn, msg, now) -> replies``.
    ``write``: refused for slaves (OFPBRC_IS_SLAVE).  ``bundle``: may be
    added to a bundle."""
    fn: Callable
    write: bool = False
    bundle: bool = False


def versions_from_protocols(protocols) -> frozenset:
    """Bridge.protocols -> allowed versions (empty: OVS's default, 1.0-1.5)."""
    vs = frozenset(PROTOCOL_VERSIONS[p] for p in protocols if p in PROTOCOL_VERSIONS)
    return vs or ALL_VERSIONS


def _bitmap(versions) -> int:
    return sum(1 << v for v in versions)


def version_bitmap_to_string(bitmap: int) -> str:
    """lib/vconn.c version_bitmap_to_string."""
    if not bitmap:
        return "no versions"
    top = bitmap.bit_length() - 1
    if bitmap & (bitmap - 1) == 0:
        return f"version 0x{top:02x}"
    if ((bitmap >> 1) + 1) & (bitmap >> 1) == 0:
        return f"version 0x{top:02x} and earlier"
    return "versions " + ", ".join(f"0x{v:02x}" for v in range(32) if bitmap >> v & 1)


class RoleGroup:
    """What the connections of one bridge share: the master election id
    (generation id) and the list of connections (for master demotion)."""

    def __init__(self):
        self.generation_id: int | None = None
        self.conns: list["OFConn"] = []

    def try_generation(self, gen: int) -> bool:
        if self.generation_id is not None:
            diff = (gen - self.generation_id) & 0xFFFFFFFFFFFFFFFF
            if diff >= 1 << 63:            # (int64_t)(id - current) < 0
                return False
        self.generation_id = gen
        return True


@dataclass
class Bundle:
    id: int
    flags: int
    opened_by: object                   # the OPEN (or first ADD) message or its bytes, for errors
    last_used: float
    msgs: list = field(default_factory=list)    # (flow_mod spec or None, message or bytes)
    closed: bool = False


class OFConn:
    """The protocol state of one OpenFlow connection (see module docstring)."""

    def __init__(self, bridge, *, allowed=ALL_VERSIONS, primary: bool = False,
                 now: float = 0.0, probe_interval: float | None = None,
                 roles: RoleGroup | None = None, name: str = ""):
        self.bridge = bridge                 # an object with .handlers and .commit_bundle
        self.allowed = frozenset(allowed)
        self.primary = primary
        self.name = name
        self.state = State.HELLO
        self.version = max(self.allowed)
        self.close_reason = ""
        self.role = ROLE_EQUAL
        self.roles = roles if roles is not None else RoleGroup()
        self.roles.conns.append(self)
        self.miss_send_len = OFP_DEFAULT_MISS_SEND_LEN if primary else 0
        self.async_cfg = default_async(self.version)
        self.flow_format = NX.NXFF_OPENFLOW10      # NXT_SET_FLOW_FORMAT
        self.flow_mod_table_id = False             # NXT_FLOW_MOD_TABLE_ID
        self.expect_more = False                   # last message: a flow_mod (connmgr polls)
        self.packet_in_format = 0                  # NXT_SET_PACKET_IN_FORMAT
        self.controller_id = 0                     # NXT_SET_CONTROLLER_ID
        # Packet-in schedulers, [ACTION, MISS]; None: not rate limited.
        self.schedulers: list[pinsched.PinSched | None] = [None, None]
        self.bundles: dict[int, Bundle] = {}
        self.cur_xid = 0                           # xid of the message being handled
        # Flow monitors (see "Flow monitors" in the module docstring).
        self.monitors: dict[int, U.FlowMonitorSpec] = {}
        self.monitor_paused = False
        self._mon_changed: dict = {}               # while paused: rule -> added since the pause
        self._mon_prune_at = 1024
        self._mon_flight = collections.deque()     # (offset, size) of monitor messages
        self._mon_flight_bytes = 0                 #   not yet handed to the peer, and their sum
        self._tx_queued = self._tx_taken = self._tx_done = 0   # stream offsets (bytes)
        self._tx_blocked = False                   # the I/O edge could not write it all
        self.probe_interval = probe_interval
        self.last_rx = now
        self.probe_sent_at: float | None = None
        self.n_rx = self.n_tx = 0
        self._rxbuf = b""
        self._out: list[bytes] = []
        self.on_output: Callable[[], None] | None = None   # the I/O edge's wake-up
        self._send_hello()

    # ------------------------------------------------------------ I/O surface
    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def is_service(self) -> bool:
        return not self.primary

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        self._tx_taken += len(out)
        return out

    def output_pending(self, n: int) -> None:
        """The I/O edge's report after each write: ``n`` bytes of what it took
        with ``data_to_send`` are not written yet (0: all of it).  While some
        are not, what is queued after them waits too: flow monitors count it
        (see "Flow monitors")."""
        self._tx_done = self._tx_taken - n
        self._tx_blocked = n > 0
        if self.monitor_paused and self._monitor_drained() and self.on_output is not None:
            self.on_output()                # handle_timer resumes (get_timer says now)

    def send(self, msg) -> None:
        """Queue one message (``msg.version`` is forced to the session's)."""
        if self.state is State.CLOSED:
            return
        data = msg.encode() if not isinstance(msg, (bytes, bytearray)) else bytes(msg)
        self._out.append(data)
        self._tx_queued += len(data)
        self.n_tx += 1
        if self.on_output is not None:
            self.on_output()

    def close(self, reason: str) -> None:
        if self.state is not State.CLOSED:
            self.state = State.CLOSED
            self.close_reason = reason
            if self in self.roles.conns:
                self.roles.conns.remove(self)
            self.bundles.clear()
            self.monitors.clear()
            self._mon_changed.clear()

    def receive_data(self, data: bytes, now: float) -> None:
        if self.state is State.CLOSED:
            return
        if not data:
            self.close("connection closed by peer")
            return
        self.last_rx = now
        self.probe_sent_at = None
        self._rxbuf += data
        try:
            msgs, self._rxbuf = ofp.split(self._rxbuf)
        except OFPError:
            msgs, self._rxbuf = self._split_until_bad(self._rxbuf)
            for raw in msgs:
                self._receive_one(raw, now)
            self.close("received message with length shorter than ofp_header")
            return
        for raw in msgs:
            if self.state is State.CLOSED:
                return
            try:
                self._receive_one(raw, now)
            except Exception:               # noqa: BLE001 - a bug must not end the switch
                # Every refusal is an OFPError; anything else is our bug.  The peer
                # gets a generic error and the connection (and the bridge) go on.
                log.exception("%s: internal error handling %s", self.name, raw[:16].hex())
                self._send_error(OFPError("OFPBRC_EPERM", raw[:64]), raw)

    @staticmethod
    def _split_until_bad(buf: bytes):
        out, off = [], 0
        while len(buf) - off >= 8:
            n = (buf[off + 2] << 8) | buf[off + 3]
            if n < 8 or len(buf) - off < n:
                break
            out.append(buf[off:off + n])
            off += n
        return out, buf[off:]

    def get_timer(self) -> float | None:
        """The next time ``handle_timer`` has work to do, or None."""
        times = []
        if self.probe_interval and self.state is State.ACTIVE:
            base = self.probe_sent_at if self.probe_sent_at is not None else self.last_rx
            times.append(base + self.probe_interval)
        times.extend(b.last_used + BUNDLE_IDLE_TIMEOUT for b in self.bundles.values())
        times.extend(t for ps in self.schedulers
                     if ps is not None and (t := ps.wake_time()) is not None)
        if self.monitor_paused and self._monitor_drained():
            times.append(float("-inf"))     # ofmonitor_run: resume now
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        if self.state is not State.ACTIVE:
            return
        if self.monitor_paused and self._monitor_drained():
            self._monitor_resume()
        for ps in self.schedulers:                 # ofconn_run: queued packet-ins first
            if ps is not None:
                for msg in ps.run(now):
                    self.send(msg)
        if self.probe_interval:
            if self.probe_sent_at is not None:
                if now >= self.probe_sent_at + self.probe_interval:
                    self.close(f"no response to inactivity probe after "
                               f"{self.probe_interval:g} seconds, disconnecting")
                    return
            elif now >= self.last_rx + self.probe_interval:
                self.send(M.EchoRequest(version=self.version, xid=0))
                self.probe_sent_at = now
        for b in list(self.bundles.values()):
            if now >= b.last_used + BUNDLE_IDLE_TIMEOUT:
                del self.bundles[b.id]
                self._send_error(OFPError("OFPBFC_TIMEOUT"), _as_msg(b.opened_by))

    # ------------------------------------------------------------ async messages
    def receives_async(self, kind: str, reason: int) -> bool:
        """connmgr.c ofconn_receives_async_msg."""
        if self.state is not State.ACTIVE:
            return False
        if self.is_service and not self.miss_send_len:
            return False
        masks = self.async_cfg[kind]
        mask = masks[1] if self.role == ROLE_SLAVE else masks[0]
        return bool(mask >> reason & 1)

    def send_async(self, kind: str, reason: int, make: Callable[["OFConn"], object]) -> bool:
        """Send ``make(self)`` if this connection wants (kind, reason)."""
        if not self.receives_async(kind, reason):
            return False
        msg = make(self)
        if msg is not None:
            self.send(msg)
        return True

    def send_packet_in(self, reason: int, is_miss: bool, in_port: int,
                       make: Callable[["OFConn"], object], now: float) -> bool:
        """A packet-in (connmgr_send_async_msg): ``send_async``'s filter, then
        the rate limit of its scheduler, if any (``is_miss``: a table miss)."""
        if not self.receives_async(PACKET_IN, reason):
            return False
        msg = make(self)
        ps = self.schedulers[is_miss]
        if ps is None:
            self.send(msg)
            return True
        idle = not ps.n_queued
        for m in ps.send(in_port, msg, now):
            self.send(m)
        if idle and ps.n_queued and self.on_output is not None:
            self.on_output()          # nothing was sent: the I/O edge must look at get_timer
        return True

    def set_rate_limit(self, rate: int | None, burst: int | None) -> None:
        """connmgr.c ofconn_set_rate_limit (Controller ``controller_rate_limit`` /
        ``controller_burst_limit``, None when unset): a rate creates the schedulers
        or changes their limits in place (queues kept, trimmed to the burst); no
        rate removes them with whatever they queued."""
        for i, ps in enumerate(self.schedulers):
            if not rate or rate <= 0:
                self.schedulers[i] = None
            elif ps is None:
                self.schedulers[i] = pinsched.PinSched(rate, burst or 0)
            else:
                ps.set_limits(rate, burst or 0)

    @property
    def pinsched_backlog(self) -> int:
        """Packet-ins waiting for tokens (``get_timer`` says when)."""
        return sum(ps.n_queued for ps in self.schedulers if ps is not None)

    def pinsched_status(self) -> dict[str, str]:
        """The Controller.status ``packet-in-{action,miss}-*`` counters (only
        while rate limited, as connmgr_get_controller_info)."""
        out: dict[str, str] = {}
        for i, ps in enumerate(self.schedulers):
            if ps is not None:
                out.update(ps.status(pinsched.STATUS_NAMES[i]))
        return out

    # ------------------------------------------------------------ flow monitors
    def monitor_report(self, changes, origin) -> None:
        """connmgr.c ofmonitor_report, then ofmonitor_flush, for one batch of
        flow table changes ``[(event, rule, reason, old ofpacts or None, xid
        or None)]`` made by ``origin`` (a connection or None); see "Flow
        monitors" in the module docstring."""
        if self.state is not State.ACTIVE:
            return
        paused, v = self.monitor_paused, self.version
        own = origin is self
        updates, abbreviated = [], False
        for event, rule, reason, old, xid in changes:
            if paused:
                # Paused: only deletions of flows older than the pause go out; what
                # is added or modified is remembered for the refresh at resume.
                changed = self._mon_changed
                if event != U.OFPFME_REMOVED:
                    if event == U.OFPFME_ADDED:
                        changed[rule] = True
                    else:
                        changed.setdefault(rule, False)
                    continue
                if changed.pop(rule, False):
                    continue
            flags = self._monitor_flags(rule, _EVENT_FLAG[event], old)
            if not flags:
                continue
            if own and xid is not None and not paused and not flags & U.OFPFMF_ONLY_OWN:
                if not abbreviated:         # one ABBREV per batch stands for all of it
                    updates.append(U.abbrev_update(xid, v))
                    abbreviated = True
            else:
                updates.append(U.flow_update(rule, event, reason,
                                             bool(flags & U.OFPFMF_INSTRUCTIONS), v))
        if updates:
            for msg in U.encode_flow_monitor_replies(v, updates):
                self._send_monitor(msg)
        if paused:
            if len(self._mon_changed) > self._mon_prune_at:     # replaced flows stay behind
                self._mon_changed = {r: a for r, a in self._mon_changed.items()
                                     if r.removed is None}
                self._mon_prune_at = 2 * len(self._mon_changed) + 1024
        elif self._monitor_backlog() > MONITOR_BACKLOG:
            self.monitor_paused = True
            self._mon_changed, self._mon_prune_at = {}, 1024
            self._send_monitor(U.encode_flow_monitor_pause(v))

    def _monitor_selects(self, m, rule, old=None) -> bool:
        """Whether monitor ``m``'s table, out_port, out_group and match take
        ``rule`` (out_port also in ``old``, the actions a change replaced)."""
        return ((m.table_id == U.OFPTT_ALL or m.table_id == rule.table_id)
                and (rule.has_out_port(m.out_port)
                     or (old is not None and m.out_port in U.output_ports(old)))
                and rule.has_out_group(m.out_group) and rule.is_loose_match(m.match))

    def _monitor_flags(self, rule, when: int, old) -> int:
        """The union of the flags of the monitors that want this change."""
        flags = 0
        for m in self.monitors.values():
            if m.flags & when and self._monitor_selects(m, rule, old):
                flags |= m.flags
        return flags

    def _send_monitor(self, msg) -> None:
        """Queue a monitor message, counted until handed to the peer."""
        start = self._tx_queued
        self.send(msg)
        n = self._tx_queued - start
        if n:
            self._mon_flight.append((start, n))
            self._mon_flight_bytes += n

    def _monitor_backlog(self) -> int:
        """Bytes of monitor messages not handed to the peer yet (OVS's monitor
        counter).  rconn/vconn hand a message to the socket as soon as all
        before it is written, so while the I/O edge is not blocked everything
        counts as handed; while it is, what follows its unwritten bytes waits."""
        flight = self._mon_flight
        done = self._tx_done if self._tx_blocked else self._tx_queued
        while flight and flight[0][0] <= done:
            self._mon_flight_bytes -= flight.popleft()[1]
        return self._mon_flight_bytes

    def _monitor_drained(self) -> bool:
        return self._monitor_backlog() == 0

    def _monitor_resume(self) -> None:
        """connmgr.c ofmonitor_resume: the flows added (ADDED) or modified
        (MODIFIED) while paused that a monitor wants, then RESUMED; sent as
        replies (outside the monitor count)."""
        v = self.version
        flags_of: dict = {}
        for m in self.monitors.values():
            for rule, added in self._mon_changed.items():
                when = U.OFPFMF_ADD | U.OFPFMF_MODIFY if added else U.OFPFMF_MODIFY
                if (m.flags & when and rule.removed is None
                        and self._monitor_selects(m, rule)):
                    flags_of[rule] = (flags_of.get(rule, 0) | when
                                      | (m.flags & U.OFPFMF_INSTRUCTIONS))
        self.monitor_paused = False
        self._mon_changed = {}
        updates = [U.flow_update(r, U.OFPFME_ADDED if f & U.OFPFMF_ADD else U.OFPFME_MODIFIED,
                                 0, bool(f & U.OFPFMF_INSTRUCTIONS), v)
                   for r, f in flags_of.items()]
        if updates:
            for msg in U.encode_flow_monitor_replies(v, updates):
                self.send(msg)
        self.send(U.encode_flow_monitor_pause(v, resumed=True))

    # ------------------------------------------------------------ handshake
    def _send_hello(self) -> None:
        bits = _bitmap(self.allowed)
        contiguous = ((bits >> 1) + 1) & (bits >> 1) == 0
        self.send(M.make_hello(max(self.allowed), None if contiguous else bits, xid=0))

    def _receive_hello(self, raw: bytes) -> None:
        peer_version = raw[0]
        try:
            hello = ofp.decode(raw) if raw[0] in VERSION_NAMES else None
            peer_bits = M.hello_bitmap(hello) if hello is not None else None
        except OFPError:
            peer_bits = None
        if peer_bits is None:
            peer_bits = ((1 << (peer_version + 1)) - 1) & ~1
        common = _bitmap(self.allowed) & peer_bits
        if not common:
            ours = version_bitmap_to_string(_bitmap(self.allowed))
            theirs = version_bitmap_to_string(peer_bits)
            log.warning("%s: version negotiation failed (we support %s, peer supports %s)",
                        self.name, ours, theirs)
            text = f"We support {ours}, you support {theirs}, no common versions."
            ev = min(peer_version, max(self.allowed)) or 1
            self.send(M.Error(version=ev, xid=struct.unpack_from("!I", raw, 4)[0],
                              type=0, code=0, data=text.encode()))
            self.close("version negotiation failed")
            return
        self.version = common.bit_length() - 1
        self.async_cfg = default_async(self.version)
        self.state = State.ACTIVE

    # ------------------------------------------------------------ receive path
    def _receive_one(self, raw: bytes, now: float) -> None:
        self.n_rx += 1
        if self.state is State.HELLO:
            if raw[1] != 0:                      # first message must be HELLO
                self._send_error(OFPError("OFPBRC_BAD_TYPE", raw[:64]), raw)
                self.close("received non-HELLO message before HELLO")
                return
            self._receive_hello(raw)
            return
        version, mtype = raw[0], raw[1]
        self.cur_xid = _XID(raw, 4)[0]
        # A flow_mod, an experimenter message or a barrier: more is probably on its
        # way (a flow_mod's barrier, or ovs-ofctl's next flow_mod): connmgr polls.
        self.expect_more = (mtype == 14 or mtype == 4 or mtype == 34
                            or mtype == _BARRIER_REQUEST.get(version))
        if len(raw) == 8 and version == self.version and mtype == _BARRIER_REQUEST[version]:
            # The reply ovs-ofctl waits for after every flow_mod: no decoding needed.
            self.send(bytes((version, mtype + 1, 0, 8)) + raw[4:8])
            return
        if version != self.version and mtype not in (0, 1, 2, 3):
            # vconn.c: only HELLO/ERROR/ECHO may come in another version.
            self._send_error(OFPError("OFPBRC_BAD_VERSION", raw[:64]), raw)
            return
        if mtype == 14 or mtype == 4:
            # FLOW_MOD / NXT_FLOW_MOD straight to a spec when the message is an
            # ordinary one (fastpath.py); None means: take the general path.
            fast = getattr(self.bridge, "apply_flow_mod", None)
            spec = flow_mod_spec(raw, self.flow_mod_table_id) if fast is not None else None
            if spec is not None:
                try:
                    self.reject_slave()
                    fast(self, spec, now)
                except OFPError as e:
                    self._send_error(e, raw)
                return
        if (mtype == 34 or mtype == 4) and self._bundle_add_fast(raw, now):
            return
        try:
            msg = ofp.decode(raw)
        except OFPError as e:
            self._send_error(e, raw)
            return
        try:
            replies = self._dispatch(msg, now)
        except OFPError as e:
            self._send_error(e, raw)
            return
        if replies is None:
            return
        if not isinstance(replies, (list, tuple)):
            replies = (replies,)
        for r in replies:
            self.send(r)

    def _dispatch(self, msg, now):
        cls = type(msg)
        h = SESSION_HANDLERS.get(cls)
        if h is not None:
            return h(self, msg, now)
        bh = self.bridge.handlers.get(cls)
        if bh is None:
            if cls in IGNORED:
                return None
            raise OFPError("OFPBRC_BAD_STAT" if _is_stats_request(msg) else "OFPBRC_BAD_TYPE")
        if bh.write:
            self.reject_slave()
        return bh.fn(self, msg, now)

    def reject_slave(self) -> None:
        if self.role == ROLE_SLAVE:
            raise OFPError("OFPBRC_IS_SECONDARY")

    # ------------------------------------------------------------ errors
    def _error(self, err: OFPError, request) -> object:
        """The OFPT_ERROR answering ``request`` (a message or raw bytes)."""
        if isinstance(request, (bytes, bytearray)):
            raw = bytes(request)
            version = raw[0] if raw[0] in VERSION_NAMES else self.version
            xid = struct.unpack_from("!I", raw, 4)[0] if len(raw) >= 8 else 0
        else:
            raw = _encode_quiet(request) or err.data
            version, xid = request.version, request.xid
        # OVS echoes the whole request, after the experimenter id (OF1.2+) or the
        # nx_vendor_error (Nicira errors in OF1.0/1.1): OFPError.encode.
        t, c, prefix = err.encode(version)
        return M.Error(version=version, xid=xid, type=t, code=c,
                       data=prefix + raw[:MAX_ERROR_DATA])

    def _send_error(self, err: OFPError, request) -> None:
        log.debug("%s: error %s for %r", self.name, err, request)
        self.send(self._error(err, request))

    # ------------------------------------------------------------ session handlers
    def _echo_request(self, msg, now):
        return M.EchoReply(version=msg.version, xid=msg.xid, data=msg.data)

    def _barrier(self, msg, now):
        return M.BarrierReply(version=msg.version, xid=msg.xid)

    def _set_role(self, role: int, gen: int | None) -> None:
        """Apply a role request (OVS: handle_role_request / ofconn_set_role)."""
        if role == ROLE_NOCHANGE:
            return
        if role != ROLE_EQUAL and gen is not None and not self.roles.try_generation(gen):
            raise OFPError("OFPRRFC_STALE")
        if role == ROLE_MASTER:
            for other in self.roles.conns:
                if other is not self and other.role == ROLE_MASTER:
                    other.role = ROLE_SLAVE
                    other._send_role_status(ROLE_SLAVE, 0)
        self.role = role

    def _send_role_status(self, role: int, reason: int) -> None:
        gen = self.roles.generation_id
        gen = 0xFFFFFFFFFFFFFFFF if gen is None else gen
        if self.version >= 5:
            self.send(M.RoleStatus(version=self.version, xid=0, role=role, reason=reason,
                                   generation_id=gen))
        elif self.version == 4:
            self.send(NX.OnfRoleStatus(version=4, xid=0, role=role, reason=reason,
                                       generation_id=gen))

    def _role_request(self, msg, now):
        if msg.role > ROLE_SLAVE:
            raise OFPError("OFPRRFC_BAD_ROLE")
        self._set_role(msg.role, msg.generation_id)
        gen = self.roles.generation_id
        return M.RoleReply(version=msg.version, xid=msg.xid, role=self.role,
                           generation_id=0xFFFFFFFFFFFFFFFF if gen is None else gen)

    def _nx_role_request(self, msg, now):
        if msg.role not in NX_ROLE_TO_OF:
            raise OFPError("OFPRRFC_BAD_ROLE")
        self._set_role(NX_ROLE_TO_OF[msg.role], None)
        return NX.NxRoleReply(version=msg.version, xid=msg.xid, role=OF_ROLE_TO_NX[self.role])

    def _async_masks(self):
        a = self.async_cfg
        return dict(packet_in_mask0=a[PACKET_IN][0], packet_in_mask1=a[PACKET_IN][1],
                    port_status_mask0=a[PORT_STATUS][0], port_status_mask1=a[PORT_STATUS][1],
                    flow_removed_mask0=a[FLOW_REMOVED][0],
                    flow_removed_mask1=a[FLOW_REMOVED][1])

    def _set_async_masks(self, msg) -> None:
        self.async_cfg = {PACKET_IN: [msg.packet_in_mask0, msg.packet_in_mask1],
                          PORT_STATUS: [msg.port_status_mask0, msg.port_status_mask1],
                          FLOW_REMOVED: [msg.flow_removed_mask0, msg.flow_removed_mask1],
                          TABLE_STATUS: self.async_cfg.get(TABLE_STATUS, [0, 0])}

    def _set_async(self, msg, now):
        if msg.version == 4:
            self._set_async_masks(msg)
        else:
            self._apply_async_props(msg.properties)
        self._async_set()
        return None

    def _async_set(self) -> None:
        """handle_nxt_set_async_config: a service connection that sets its async
        config wants async messages, so it gets the default miss_send_len."""
        if self.is_service and not self.miss_send_len:
            self.miss_send_len = OFP_DEFAULT_MISS_SEND_LEN

    def _apply_async_props(self, props: bytes) -> None:
        # OF1.4 async properties: type 0/1 packet-in slave/master, 2/3 port
        # status, 4/5 flow removed; 6..11 role/table/requestforward status.
        kinds = {0: (PACKET_IN, 1), 1: (PACKET_IN, 0), 2: (PORT_STATUS, 1),
                 3: (PORT_STATUS, 0), 4: (FLOW_REMOVED, 1), 5: (FLOW_REMOVED, 0),
                 8: (TABLE_STATUS, 1), 9: (TABLE_STATUS, 0)}
        off = 0
        while off + 4 <= len(props):
            ptype, plen = struct.unpack_from("!HH", props, off)
            if plen < 4:
                raise OFPError("OFPBPC_BAD_LEN")
            if ptype in kinds and plen == 8:
                kind, idx = kinds[ptype]
                self.async_cfg[kind][idx] = struct.unpack_from("!I", props, off + 4)[0]
            elif ptype > 11 and ptype < 0xFFFE:
                raise OFPError("OFPACFC_INVALID")
            off += (plen + 7) & ~7

    def _get_async(self, msg, now):
        if msg.version == 4:
            return M.GetAsyncReply(version=4, xid=msg.xid, **self._async_masks())
        kinds = ((PACKET_IN, 1, 0), (PACKET_IN, 0, 1), (PORT_STATUS, 1, 2),
                 (PORT_STATUS, 0, 3), (FLOW_REMOVED, 1, 4), (FLOW_REMOVED, 0, 5))
        props = b"".join(struct.pack("!HHI", t, 8, self.async_cfg[k][i]) for k, i, t in kinds)
        return M.GetAsyncReply(version=msg.version, xid=msg.xid, properties=props)

    def _nx_set_async(self, msg, now):
        self._set_async_masks(msg)
        self._async_set()

    def _nx_async2(self, msg, now):
        self._apply_async_props(msg.properties)
        self._async_set()

    def _set_flow_format(self, msg, now):
        if msg.format not in (NX.NXFF_OPENFLOW10, NX.NXFF_NXM):
            raise OFPError("OFPBRC_EPERM")
        self.flow_format = msg.format

    def _flow_mod_table_id(self, msg, now):
        self.flow_mod_table_id = bool(msg.set)

    def _set_packet_in_format(self, msg, now):
        if msg.format > 2:
            raise OFPError("OFPBRC_EPERM")
        self.packet_in_format = msg.format

    def _set_controller_id(self, msg, now):
        self.controller_id = msg.controller_id

    # ------------------------------------------------------------ bundles
    def _bundle_reply(self, msg, type_):
        cls = type(msg)
        return cls(version=msg.version, xid=msg.xid, bundle_id=msg.bundle_id, type=type_,
                   flags=msg.flags)

    def _bundle_control(self, msg, now):
        self.reject_slave()
        bid, t = msg.bundle_id, msg.type
        if msg.flags & ~0x3:
            raise OFPError("OFPBFC_BAD_FLAGS")
        b = self.bundles.get(bid)
        if t == 0:                                         # OPEN_REQUEST
            if b is not None:
                del self.bundles[bid]
                raise OFPError("OFPBFC_BAD_ID")
            self.bundles[bid] = Bundle(bid, msg.flags, msg, now)
            return self._bundle_reply(msg, 1)
        if b is None:
            raise OFPError("OFPBFC_BAD_ID")
        if t == 2:                                         # CLOSE_REQUEST
            if b.closed:
                del self.bundles[bid]
                raise OFPError("OFPBFC_BUNDLE_CLOSED")
            if msg.flags != b.flags:
                del self.bundles[bid]
                raise OFPError("OFPBFC_BAD_FLAGS")
            b.closed = True
            b.last_used = now
            return self._bundle_reply(msg, 3)
        if t == 4:                                         # COMMIT_REQUEST
            del self.bundles[bid]
            if msg.flags != b.flags:
                raise OFPError("OFPBFC_BAD_FLAGS")
            failed = self.bridge.commit_bundle(self, b.msgs, now)
            if failed is not None:
                err, inner = failed
                self._send_error(err, _as_msg(inner))
                raise OFPError("OFPBFC_MSG_FAILED")
            return self._bundle_reply(msg, 5)
        if t == 6:                                         # DISCARD_REQUEST
            del self.bundles[bid]
            return self._bundle_reply(msg, 7)
        raise OFPError("OFPBFC_BAD_TYPE")

    def _bundle_add(self, msg, now):
        self.reject_slave()
        inner = msg.message
        h = self.bridge.handlers.get(type(inner))
        if h is None or not h.bundle:
            raise OFPError("OFPBFC_MSG_UNSUP")
        b = self._bundle_for_add(msg.bundle_id, msg.flags, inner.xid == msg.xid, msg, now)
        validate = getattr(self.bridge, "validate_bundle_msg", None)
        spec = validate(self, inner, now) if validate is not None else None
        b.msgs.append((spec, inner))
        b.last_used = now
        return None

    def _bundle_for_add(self, bid, flags, same_xid, opened_by, now) -> Bundle:
        """The bundle an ADD goes to (opened if need be), after OVS's checks."""
        if not same_xid:
            raise OFPError("OFPBFC_MSG_BAD_XID")
        b = self.bundles.get(bid)
        if b is None:
            b = self.bundles[bid] = Bundle(bid, flags, opened_by, now)
        elif b.closed:
            del self.bundles[bid]
            raise OFPError("OFPBFC_BUNDLE_CLOSED")
        elif flags != b.flags:
            del self.bundles[bid]
            raise OFPError("OFPBFC_BAD_FLAGS")
        if len(b.msgs) >= MAX_BUNDLE_MSGS:
            raise OFPError("OFPBFC_MSG_TOO_MANY")
        return b

    def _bundle_add_fast(self, raw: bytes, now) -> bool:
        """``_bundle_add`` for a BUNDLE_ADD_MESSAGE (OF1.4+, or ONF's in OF1.3+)
        that carries nothing but an ordinary flow_mod, from the bytes (see the
        module docstring); False: take the general path."""
        v = raw[0]
        if raw[1] == 34:
            if v < 5:
                return False
            off = 16                        # ofp_header, bundle_id, pad, flags
        elif raw[8:16] == _ONF_BUNDLE_ADD and v >= 4:
            off = 24                        # ofp_header, ONF experimenter header, ...
        else:
            return False
        n = len(raw)
        # The inner message must fill the rest exactly (no properties).
        if (n < off + 8 or raw[off] != v or (raw[off + 2] << 8 | raw[off + 3]) != n - off
                or getattr(self.bridge, "apply_flow_mod", None) is None):
            return False
        inner = raw[off:]
        spec = flow_mod_spec(inner, self.flow_mod_table_id)
        if spec is None:
            return False
        bid, flags = _BUNDLE_ID_FLAGS(raw, off - 8)
        b = self.bundles.get(bid)
        if (b is None or b.closed or b.flags != flags or len(b.msgs) >= MAX_BUNDLE_MSGS
                or self.role == ROLE_SLAVE or raw[4:8] != inner[4:8]):
            try:                                # not the next ADD of an open bundle
                self.reject_slave()
                b = self._bundle_for_add(bid, flags, raw[4:8] == inner[4:8], raw, now)
            except OFPError as e:
                self._send_error(e, raw)
                return True
        b.msgs.append((spec, inner))
        b.last_used = now
        return True


def _as_msg(request):
    """A request a bundle kept as bytes, decoded (errors echo the decoded
    message re-encoded, as for the general path's messages)."""
    if isinstance(request, (bytes, bytearray)):
        try:
            return ofp.decode(bytes(request))
        except OFPError:
            return request
    return request


def _encode_quiet(msg) -> bytes:
    try:
        return msg.encode()
    except Exception:                    # pragma: no cover - odd test doubles
        return b""


def _is_stats_request(msg) -> bool:
    key = type(msg)._keys.get(msg.version, ())
    return len(key) >= 2 and key[1] == (16 if msg.version == 1 else 18)


# ONF experimenter id and ONFT_BUNDLE_ADD_MESSAGE (2301): OF1.3's BUNDLE_ADD.
_ONF_BUNDLE_ADD = bytes.fromhex("4f4e4600000008fd")
_BUNDLE_ID_FLAGS = struct.Struct("!I2xH").unpack_from
_XID = struct.Struct("!I").unpack_from
# The monitor flag that asks for each kind of change.
_EVENT_FLAG = {U.OFPFME_ADDED: U.OFPFMF_ADD, U.OFPFME_REMOVED: U.OFPFMF_REMOVED,
               U.OFPFME_MODIFIED: U.OFPFMF_MODIFY}

# OFPT_BARRIER_REQUEST by version (OF1.0 numbers differ); the reply is the next type.
_BARRIER_REQUEST = {1: 18, 2: 20, 3: 20, 4: 20, 5: 20, 6: 20}

# Messages about the session itself.
SESSION_HANDLERS: dict[type, Callable] = {
    M.EchoRequest: OFConn._echo_request,
    M.BarrierRequest: OFConn._barrier,
    M.RoleRequest: OFConn._role_request,
    NX.NxRoleRequest: OFConn._nx_role_request,
    M.SetAsync: OFConn._set_async,
    M.GetAsyncRequest: OFConn._get_async,
    NX.NxSetAsyncConfig: OFConn._nx_set_async,
    NX.NxAsyncConfig2: OFConn._nx_async2,
    NX.NxSetFlowFormat: OFConn._set_flow_format,
    NX.NxFlowModTableId: OFConn._flow_mod_table_id,
    NX.NxSetPacketInFormat: OFConn._set_packet_in_format,
    NX.NxSetControllerId: OFConn._set_controller_id,
    M.BundleControl: OFConn._bundle_control,
    NX.OnfBundleControl: OFConn._bundle_control,
    M.BundleAdd: OFConn._bundle_add,
    NX.OnfBundleAdd: OFConn._bundle_add,
}

# Messages a switch receives without answering (replies to its own requests,
# a HELLO repeated mid-session, errors from the controller).
IGNORED = frozenset((M.Hello, M.Error, M.EchoReply))
