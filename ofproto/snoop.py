"""Snoopers: ``ovs-ofctl snoop br0``, copies of a controller's OpenFlow traffic.

Theory of operation
-------------------
Snoopers (connmgr.c add_snooper, rconn.c rconn_add_monitor/copy_to_monitor):
a connection accepted on ``<bridge>.snoop`` is attached as a monitor to one
*active* controller target (``tcp:``/``ssl:``/``unix:``; passive ones and
service connections are never copied): the one whose live connection has the
highest role (master, then equal, then slave, then not connected), ties going
to the first in OVS's hmap of ofservices (``Snoopers.services``: targets keyed
by ``hash_string``, the management socket included, new ones inserted in the
order of a fresh shash of the bridge's controllers by uuid - what
``ovs-vswitchd`` iterates).  With no active target the connection is closed at
once ("no controller connection to snoop"; ``ovs-ofctl snoop`` then fails
with "Connection reset by peer" or "Broken pipe", whichever the timing gives,
as with OVS); a target takes at most ``MAX_MONITORS`` (8), further
snoopers are closed likewise.  A snooper stays with its target across
reconnections and setting changes, and is closed when the target is removed.

Each snooper is a :class:`SnoopConn` (sans-I/O, the vconn of lib/vconn.c):
our HELLO offers 1.0-1.5 (the snoop pvconn's default), the peer's HELLO is
negotiated as vconn.c does (none in common: OFPHFC_INCOMPATIBLE error, sent
in OF1.0 when the peer's top version is unknown, then close; anything but a
HELLO first: close; ovs-vswitchd 3.1.0 forgets such a snooper without
closing its socket, later versions close it, as we do).  Afterwards
whatever the snooper sends is dropped, but a message in another version
than the negotiated one (other than HELLO, ERROR, ECHO) gets
OFPBRC_BAD_VERSION, as vconn_recv answers.  Copies are the
controller's messages in their own version, whatever the snooper negotiated
(``ovs-ofctl snoop`` accepts any version).

The controller's side (:class:`_Tap`, per session of an active target): the
copies are what rconn_send/rconn_recv see - every complete message read from
and queued to the controller once the OpenFlow handshake is done; the HELLOs
and what vconn.c itself answers (a message in another version and its
OFPBRC_BAD_VERSION) are not copied.  The tap always knows where the
controller's next message starts; while the target has snoopers the reader
hands the connection one message at a time and copies, in order, the message
and then the replies it caused, as OVS's snoop shows them.  A copy never
waits: a snooper takes a message only when nothing of the previous one is
still unwritten (vconn_stream_send's txbuf), otherwise that copy is dropped;
a snooper whose socket fails is closed.  The snooper's own task writes the
rest of a partly written message when its socket drains.

Layout and interface: the first part of this module does no I/O
(:class:`SnoopConn`, :class:`_Tap`, and the controller choice:
:func:`sync_services` and :func:`choose_target`); the second is the trio side,
used by :mod:`.connmgr` (which knows the controller targets and their
connections):

* ``Snoopers(mgmt)``, one per bridge: its snoopers by target (``monitors``)
  and the order of its services; ``set_controllers(controllers)`` whenever
  the bridge's controllers change (the snoopers of removed targets are
  closed);
* ``await serve(stream, target)``, the ``<bridge>.snoop`` listener's handler,
  ``target`` being ``choose_target(services, roles)`` for the bridge's active
  targets' live roles;
* ``tap(target, conn)``: a :class:`SessionTap` for a session of an active
  target; the session hands it what it read (``receive``, which feeds the
  connection) and what the connection queued (``outgoing``).

Resource handling: a snooper's socket belongs to its ``serve`` task and is
closed when that task ends; closing a snooper from outside (its target
removed) cancels the task's scope, so it ends even while it cannot write.
Error handling: a snooper whose stream breaks ends only itself.
"""
from __future__ import annotations

import errno
import itertools
import os
import struct

import trio

from ovsdb_server.daemon import get_logger
from ovsdb_server.ovsjson import Hmap, Shash, hash_string

from . import ofconn as oc
from .ofp import messages as M

log = get_logger("connmgr")         # the vlog module of connmgr.py, whose part this is

MAX_MONITORS = 8                    # rconn.c MAXIMUM_MONITORS: snoopers per controller target
SNOOP_VERSIONS = oc.ALL_VERSIONS    # the snoop pvconn's versions (OVS's default: 1.0-1.5)
SNOOP_PREFERENCE = {oc.ROLE_MASTER: 3, oc.ROLE_EQUAL: 2, oc.ROLE_SLAVE: 1}   # snoop_preference()
OFPT_HELLO, OFPT_ERROR, OFPT_ECHO_REPLY = 0, 1, 3
OFP_MAX_KNOWN = 7                   # OVS 3.1 decodes HELLO/ERROR/ECHO up to OF1.6 (0x07)
OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE = 0, 0
OFPET_BAD_REQUEST, OFPBRC_BAD_VERSION = 1, 0
_unix_ids = itertools.count(1)      # "unix#N", how OVS names accepted Unix connections


# ---------------------------------------------------------------- sans-I/O: the vconns
def _messages(data: bytes):
    """The OpenFlow messages in `data`, a run of whole messages (what a connection queued)."""
    off, n = 0, len(data)
    while n - off >= 8:
        length = (data[off + 2] << 8) | data[off + 3]
        if length < 8:
            return
        yield data[off:off + length]
        off += length


def _hello_versions(raw: bytes) -> int:
    """ofputil_decode_hello: the peer's version bitmap, from its HELLO's header
    version unless a well-formed OFPHET_VERSIONBITMAP element says otherwise."""
    v = raw[0]
    bits = (((1 << v) if v < 32 else 0) - 1) << 1 & 0xFFFFFFFF
    off, n = 8, len(raw)
    while n - off >= 4:
        etype, elen = struct.unpack_from("!HH", raw, off)
        padded = (elen + 7) // 8 * 8
        if elen < 4 or off + padded > n:
            break
        blen = elen - 4
        if etype == 1 and blen and blen % 4 == 0:       # OFPHET_VERSIONBITMAP
            b = struct.unpack_from("!I", raw, off + 4)[0] & ~1
            if b:
                bits = b
        off += padded
    return bits


def _error(version: int, xid: int, etype: int, code: int, data: bytes) -> bytes:
    """An OFPT_ERROR as ofperr_encode_msg__ makes it: an unknown version falls back to 1.0."""
    if version not in oc.ALL_VERSIONS:
        version = 1
    return struct.pack("!BBHIHH", version, OFPT_ERROR, 12 + len(data), xid, etype, code) + data


class SnoopConn:
    """One snooper, sans-I/O: the vconn OVS adds as a monitor to a controller's
    rconn (see the module docstring).

    ``txbuf`` is what is to be written to the snooper (the I/O edge writes
    what the socket takes and calls ``sent(n)``); ``copy(msg)`` offers it a
    copy of a controller message and says whether it took it;
    ``receive_data(data)`` takes what the snooper sent (``b""``: end of
    stream).  ``closed``/``close_reason`` as for OFConn."""

    def __init__(self, name: str = ""):
        self.name = name
        self.state = "hello"            # our HELLO sent, waiting for the peer's; "active"; "closed"
        self.version = 0
        self.close_reason = ""
        bits = sum(1 << v for v in SNOOP_VERSIONS)
        contiguous = ((bits >> 1) + 1) & (bits >> 1) == 0
        self.txbuf = M.make_hello(max(SNOOP_VERSIONS), None if contiguous else bits).encode()
        self._rx = b""

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    def close(self, reason: str) -> None:
        if self.state != "closed":
            self.state, self.close_reason = "closed", reason

    def sent(self, n: int) -> None:
        if n:
            self.txbuf = self.txbuf[n:]

    def copy(self, msg: bytes) -> bool:
        """copy_to_monitor: queued only once the handshake is done and nothing of an
        earlier message is still unwritten (vconn_stream_send's EAGAIN: dropped)."""
        if self.state != "active" or self.txbuf:
            return False
        self.txbuf = msg
        return True

    def receive_data(self, data: bytes) -> None:
        if self.closed:
            return
        if not data:
            self.close("End of file")
            return
        self._rx += data
        buf, off, n = self._rx, 0, len(self._rx)
        while n - off >= 8 and not self.closed:
            length = (buf[off + 2] << 8) | buf[off + 3]
            if length < 8:
                self.close("received too-short ofp_header")
                break
            if n - off < length:
                break
            self._receive_one(buf[off:off + length])
            off += length
        self._rx = b"" if self.closed else buf[off:]

    def _receive_one(self, raw: bytes) -> None:
        if self.state == "hello":
            if raw[1] != OFPT_HELLO or not 1 <= raw[0] <= OFP_MAX_KNOWN:
                log.warning("%s: received message while expecting hello", self.name)
                self.close("Protocol error")
                return
            ours = sum(1 << v for v in SNOOP_VERSIONS)
            peer = _hello_versions(raw)
            common = ours & peer
            if not common:
                local_s = oc.version_bitmap_to_string(ours)
                peer_s = oc.version_bitmap_to_string(peer)
                log.warning("%s: version negotiation failed (we support %s, peer supports %s)",
                            self.name, local_s, peer_s)
                text = f"We support {local_s}, you support {peer_s}, no common versions."
                self.txbuf += _error(peer.bit_length() - 1, 0, OFPET_HELLO_FAILED,
                                     OFPHFC_INCOMPATIBLE, text.encode())
                self.close("Protocol error")
                return
            self.version = common.bit_length() - 1
            self.state = "active"
            return
        # A stray message: drained, unless vconn_recv refuses its version.
        known = 1 <= raw[0] <= OFP_MAX_KNOWN
        if raw[0] != self.version and not (raw[1] <= OFPT_ECHO_REPLY and known):
            log.error("%s: received OpenFlow version 0x%02x != expected %02x",
                      self.name, raw[0], self.version)
            if not self.txbuf:
                self.txbuf = _error(raw[0], struct.unpack_from("!I", raw, 4)[0],
                                    OFPET_BAD_REQUEST, OFPBRC_BAD_VERSION, raw[:64])


class _Tap:
    """Where a controller connection's incoming messages begin (sans-I/O), so that
    complete ones can be copied to snoopers and handled one at a time."""

    def __init__(self):
        self.partial = b""          # the start of the incoming message not yet complete
        self.broken = False         # a header below 8 bytes: the stream is lost anyway
        self.hello = True           # the next complete message is the controller's HELLO

    def cut(self, data: bytes, pieces: bool) -> list:
        """Track `data`; with `pieces`, cut it after each complete message:
        [(piece, message)], feeding the pieces in order is feeding `data`;
        ``message`` is the complete message the piece ends, or None (the HELLO,
        a trailing partial message, everything after a bad header)."""
        if self.broken:
            return [(data, None)] if pieces else []
        old = len(self.partial)
        buf = self.partial + data if old else data
        out, off, n, start = [], 0, len(buf), 0
        while n - off >= 8:
            length = (buf[off + 2] << 8) | buf[off + 3]
            if length < 8:
                self.broken = True
                break
            end = off + length
            if end > n:
                break
            if pieces:
                out.append((data[start:end - old], None if self.hello else buf[off:end]))
                start = end - old
            self.hello = False
            off = end
        self.partial = b"" if self.broken else buf[off:]
        if pieces and start < len(data):
            out.append((data[start:], None))
        return out


# ---------------------------------------------------------------- the controller choice
def sync_services(services: Hmap, mgmt: str, controllers) -> None:
    """connmgr_set_controllers' bookkeeping of mgr->services: bridge.c hands it a
    fresh shash (the management socket `mgmt`, then the controllers in the IDL's
    uuid order); targets not yet there are inserted in that shash's order, the
    ones gone are removed.  Only the order matters here: it breaks snoop ties."""
    ocs = Shash()
    ocs.add(mgmt)
    for c in sorted(controllers, key=lambda c: c.uuid):
        ocs.add(c.target)
    wanted = set(ocs.names())
    have = set(services)
    for name in ocs.names():
        if name not in have:
            services.insert(hash_string(name), name)
            have.add(name)
    for name in list(services):
        if name not in wanted:
            services.remove(name)


def choose_target(services, roles: dict) -> str | None:
    """connmgr.c add_snooper: of the active controller targets (`roles`: each
    with its live connection's role, None if not connected), the one whose live
    connection has the highest role (not connected: lowest), the first in
    `services` on a tie."""
    best, best_pref = None, -1
    for target in services:
        if target not in roles:
            continue
        role = roles[target]
        pref = SNOOP_PREFERENCE.get(role, 0) if role is not None else 0
        if best is None or pref > best_pref:
            best, best_pref = target, pref
    return best


# ---------------------------------------------------------------- trio side
class _Snooper:
    """The I/O side of one snooper: its socket, its SnoopConn and a wake-up for its task."""

    def __init__(self, stream: trio.SocketStream, name: str):
        self.stream = stream
        self.sock = stream.socket
        self.fd = self.sock.fileno()
        self.conn = SnoopConn(name)
        self.wake = trio.Event()
        self.scope = trio.CancelScope()     # closed from outside: even while it cannot write

    def flush(self) -> None:
        """Write what the socket takes now; the task waits to write the rest."""
        c = self.conn
        if c.txbuf:
            try:
                c.sent(os.write(self.fd, c.txbuf))
            except BlockingIOError:
                pass
            except OSError as e:                # EPIPE, ECONNRESET: close_monitor
                c.close(os.strerror(e.errno or errno.EIO))
                c.txbuf = b""
        if c.txbuf or c.closed:
            self.wake.set()

    def copy(self, msg: bytes) -> None:
        if self.conn.copy(msg):
            self.flush()

    def close(self, reason: str) -> None:
        self.conn.close(reason)
        self.scope.cancel()


def _copy_to(snoopers: list, data: bytes) -> None:
    """Offer each message of `data` to every snooper, in order (copy_to_monitor)."""
    for msg in _messages(data):
        for sn in snoopers:
            sn.copy(msg)


class SessionTap:
    """The snoopers' side of one session of an active controller target: its
    :class:`_Tap` and the copies to the target's snoopers (see the module docstring)."""

    def __init__(self, monitors: dict, target: str, conn: oc.OFConn):
        self._monitors = monitors       # Snoopers.monitors: the target's list may come and go
        self.target = target
        self.conn = conn
        self._tap = _Tap()

    def outgoing(self, out: bytes) -> None:
        """`out`, just taken from the connection, copied once the handshake is done."""
        if self.conn.state is oc.State.ACTIVE:
            mons = self._monitors.get(self.target)
            if mons:
                _copy_to(mons, out)

    def receive(self, data: bytes, now: float) -> bytes:
        """Feed `data` to the connection.  While the target has snoopers, one
        message at a time: the message's copy, then the copies of what it made
        the connection send; what it sent is returned (to be written before
        anything queued later), else b""."""
        conn = self.conn
        mons = self._monitors.get(self.target) if data else None
        cuts = self._tap.cut(data, bool(mons)) if data else None
        if not cuts:
            conn.receive_data(data, now)
            return b""
        sent = b""
        for piece, msg in cuts:
            # vconn.c answers a message in another version itself: no copies.
            copy = msg is not None and (msg[0] == conn.version or msg[1] <= OFPT_ECHO_REPLY)
            if copy:
                _copy_to(mons, msg)
            conn.receive_data(piece, now)
            out = conn.data_to_send()
            if out:
                if copy and conn.state is oc.State.ACTIVE:
                    _copy_to(mons, out)
                sent += out
        return sent


class Snoopers:
    """The snoopers of one bridge (see the module docstring); `mgmt` is its
    management socket's target (``punix:<rundir>/<bridge>.mgmt``)."""

    def __init__(self, mgmt: str):
        self.mgmt = mgmt
        self.services = Hmap()                   # connmgr.c mgr->services: targets, OVS's order
        self.monitors: dict[str, list[_Snooper]] = {}   # by controller target (rconn monitors)

    def set_controllers(self, controllers) -> None:
        """The bridge's controllers (ControllerInfo) changed: the services' order
        follows, and the snoopers of targets gone are closed."""
        sync_services(self.services, self.mgmt, controllers)
        wanted = {c.target for c in controllers}
        for target in [t for t in self.monitors if t not in wanted]:
            for sn in self.monitors.pop(target):          # rconn_destroy closes its monitors
                sn.close("controller removed")

    def tap(self, target: str, conn: oc.OFConn) -> SessionTap:
        return SessionTap(self.monitors, target, conn)

    async def serve(self, stream, target: str | None) -> None:
        """One snooper of `target` (:func:`choose_target`; None: nobody to snoop)."""
        name = f"unix#{next(_unix_ids)}"
        if target is None:
            log.info("no controller connection to snoop")
            await trio.aclose_forcefully(stream)     # at once, its unread HELLO and all
            return
        monitors = self.monitors.setdefault(target, [])
        if len(monitors) >= MAX_MONITORS:
            log.debug("too many monitor connections, discarding %s", name)
            await trio.aclose_forcefully(stream)
            return
        sn = _Snooper(stream, name)
        monitors.append(sn)
        log.info("new monitor connection from %s", name)
        try:
            with sn.scope:
                async with stream, trio.open_nursery() as n:
                    sn.flush()                               # our HELLO

                    async def reader():
                        while not sn.conn.closed:
                            await trio.lowlevel.wait_readable(sn.sock)
                            try:
                                data = os.read(sn.fd, 65536)
                            except BlockingIOError:
                                continue
                            except OSError:
                                data = b""
                            sn.conn.receive_data(data)
                            sn.flush()

                    async def writer():
                        while True:
                            await sn.wake.wait()
                            sn.wake = trio.Event()
                            if sn.conn.closed:
                                sn.flush()                   # an error reply, if it fits
                                n.cancel_scope.cancel()
                                return
                            if sn.conn.txbuf:
                                await trio.lowlevel.wait_writable(sn.sock)
                                sn.flush()
                    n.start_soon(reader)
                    n.start_soon(writer)
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            if sn in monitors:
                monitors.remove(sn)
            log.debug("%s: closing monitor connection to %s: %s", target, name,
                      sn.conn.close_reason or "End of file")
