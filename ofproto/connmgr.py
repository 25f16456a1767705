"""The trio edge of OpenFlow: listeners, controller connections, timers.

Theory of operation
-------------------
One :class:`BridgeConnMgr` per bridge owns an :class:`~.ofproto.OFProto`
and runs, in its own cancel scope:

* a service listener on ``$OVS_RUNDIR/<bridge>.mgmt`` (what ``ovs-ofctl
  br0`` connects to) and the snoop listener on ``<bridge>.snoop`` (what
  ``ovs-ofctl snoop br0`` connects to, see "Snoopers" below);
* one task per Controller row: active ``tcp:IP[:PORT]`` / ``ssl:IP[:PORT]``
  / ``unix:PATH`` reconnect with exponential backoff (1 s doubling up to
  ``max_backoff``, default 8 s; an attempt that has not connected after
  max(1 s, backoff) times out, as rconn's CONNECTING state); passive
  ``ptcp:[PORT][:IP]`` / ``pssl:[PORT][:IP]`` / ``punix:PATH`` listen;
* SSL (``ssl:``/``pssl:``, default port 6653) with the PKI files of
  ``ssl`` (`bridge.SSLConfig`: the SSL row or the command line, see
  vswitchd.py), both ends authenticated (``ovsdb_server.sslctx``).  A
  context is made per connection attempt, so changed files count from the
  next one; without key, certificate or CA the attempt fails with "Protocol
  not available" (a pssl: listener still listens and drops each client), as
  in OVS.  The TLS handshake completes before a connection counts as
  connected; a failed one is "Protocol error" (rconn's EPROTO);
* a timer task: flow expiry, and fail-open (standalone mode: with active
  controllers configured but none connected for three inactivity-probe
  intervals, the hidden fail-open rule sends everything to NORMAL; a
  connected controller removes it; see ofproto.py).

Each connection is an :class:`~.ofconn.OFConn` driven by two tasks: the
reader feeds ``receive_data`` and writes the replies of what it read at once
(non-blocking, no task switch: ``ovs-ofctl add-flows`` waits for a barrier
reply after every flow_mod); the writer sends what did not fit and drains
``data_to_send`` when woken (``conn.on_output``: messages queued by others)
or when ``conn.get_timer()`` is due (inactivity probes:
``Controller.inactivity_probe``, default 5 s; management connections are not
probed).

Controller status (bridge.c refresh_controller_status, connmgr.c
connmgr_get_controller_info): each active controller target keeps an
rconn-like :class:`ControllerState` (state VOID/CONNECTING/BACKOFF/ACTIVE,
last error, times of the last connection and disconnection, the live
connection's role); ``controller_status(target, now)`` renders it as the
Controller row's ``is_connected``/``role``/``status`` columns, and
``on_change`` is called whenever it changes so the daemon writes it back.
Passive targets have no status (OVS writes ``is_connected=false`` and empty
``role``/``status`` for them).

Snoopers (connmgr.c add_snooper, rconn.c rconn_add_monitor/copy_to_monitor):
a connection accepted on ``<bridge>.snoop`` is attached as a monitor to one
*active* controller target (``tcp:``/``ssl:``/``unix:``; passive ones and
service connections are never copied): the one whose live connection has the
highest role (master, then equal, then slave, then not connected), ties going
to the first in OVS's hmap of ofservices (``_services``: targets keyed by
``hash_string``, the management socket included, new ones inserted in the
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

Resource handling: every socket belongs to the task that accepted or
opened it and is closed when that task ends; the two listening sockets of
the bridge are bound when the BridgeConnMgr is made (they exist once the
daemon reports the bridge configured) and closed, their files removed, when
``run()`` ends.  ``reconfigure()`` restarts
only the tasks of controller targets that were removed or whose settings
changed (a new row uuid for the same target, as ``ovs-vsctl
set-controller`` makes, is no change: the connection stays; new
``controller_rate_limit``/``controller_burst_limit`` apply to the live
connections, see ofconn.py ``set_rate_limit``); ``set_ssl()`` with
different files restarts the ssl:/pssl: ones, which reconnect with them;
``stop()`` cancels everything of the bridge and removes its socket files.

Error handling: a peer that breaks the stream (``trio.BrokenResourceError``)
ends only its connection; listener failures (bind errors) are logged and
leave the bridge without that listener.
"""
from __future__ import annotations

import errno
from dataclasses import replace
import ipaddress
import itertools
import os
import socket as _socket
import struct
import time

import trio

from ovsdb_server import sslctx
from ovsdb_server.daemon import get_logger
from ovsdb_server.ovsjson import Hmap, Shash, hash_string

from . import bridge as bridge_mod
from . import ofconn as oc
from .ofp import messages as M
from .ofproto import OFProto

log = get_logger("connmgr")

OFP_PORT = 6653
DEFAULT_PROBE = 5.0                 # Controller.inactivity_probe default (s)
DEFAULT_MAX_BACKOFF = 8.0           # Controller.max_backoff default (s)
FAIL_OPEN_PROBES = 3                # fail-open after this many probe intervals
READ_SIZE = 256 * 1024              # bytes per read: many small flow_mods per batch
READ_BURST = 16                     # reads without waiting before yielding to others
SPIN_READ = 0.0001                  # seconds to poll for a flow_mod's barrier (see reader)
MAX_MONITORS = 8                    # rconn.c MAXIMUM_MONITORS: snoopers per controller target
SNOOP_VERSIONS = oc.ALL_VERSIONS    # the snoop pvconn's versions (OVS's default: 1.0-1.5)
SNOOP_PREFERENCE = {oc.ROLE_MASTER: 3, oc.ROLE_EQUAL: 2, oc.ROLE_SLAVE: 1}   # snoop_preference()
OFPT_HELLO, OFPT_ERROR, OFPT_ECHO_REPLY = 0, 1, 3
OFP_MAX_KNOWN = 7                   # OVS 3.1 decodes HELLO/ERROR/ECHO up to OF1.6 (0x07)
OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE = 0, 0
OFPET_BAD_REQUEST, OFPBRC_BAD_VERSION = 1, 0
_unix_ids = itertools.count(1)      # "unix#N", how OVS names accepted Unix connections


def _spin_read(fd: int, spare):
    """``os.read`` retried for up to SPIN_READ seconds; None if nothing came.
    Between tries ``spare()`` does one unit of spare-time work (encoding
    just-added flows for the next dump), so the wait is not only spinning."""
    deadline = time.perf_counter() + SPIN_READ
    while True:
        try:
            return os.read(fd, READ_SIZE)
        except BlockingIOError:
            if time.perf_counter() > deadline:
                return None
            spare()
        except OSError:                     # ECONNRESET and the like: end of stream
            return b""


ROLE_NAMES = {oc.ROLE_EQUAL: "other", oc.ROLE_MASTER: "master",   # ofp12_controller_role_to_str
              oc.ROLE_SLAVE: "slave"}


class ControllerState:
    """What OVS's rconn knows about one controller target (for the Controller row)."""

    def __init__(self, info: bridge_mod.ControllerInfo):
        self.info = info
        self.active = True                  # False for ptcp:/punix: (no rconn in OVS)
        self.state = "VOID"                 # rconn_get_state(): VOID/CONNECTING/BACKOFF/ACTIVE
        self.conn = None                    # the live OFConn, if connected
        self.n_connected = 0                # live connections (passive targets may have several)
        self.conns: set = set()             # those OFConns (packet-in limits change live)
        self.last_error: str | None = None
        self.last_connection: float | None = None
        self.last_disconnect: float | None = None
        self.scope = trio.CancelScope()




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
    rconn (see "Snoopers" in the module docstring).

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


def parse_target(target: str):
    """``tcp:IP[:PORT]`` -> ("tcp", host, port, active); unix likewise."""
    kind, _, rest = target.partition(":")
    if kind in ("tcp", "ssl"):
        host, _, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "")
        if rest.startswith("["):
            host, _, port = rest[1:].partition("]:")
        return kind, host or rest, int(port or OFP_PORT), True
    if kind in ("ptcp", "pssl"):
        parts = rest.split(":", 1) if rest else []
        port = int(parts[0]) if parts and parts[0] else OFP_PORT
        host = parts[1] if len(parts) > 1 else ""
        return kind, host, port, False
    if kind in ("unix", "punix"):
        return kind, rest, 0, kind == "unix"
    raise ValueError(f"{target}: unknown connection method")


def _error_text(e: OSError) -> str:
    """strerror() of a failed connect, as rconn's last_error ("Connection refused").

    trio.open_tcp_stream raises "all attempts to connect ... failed" with the
    per-address errors as the cause; the first with an errno speaks for them."""
    seen, todo = set(), [e]
    while todo:
        x = todo.pop(0)
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, OSError) and x.errno:
            return os.strerror(x.errno)
        todo.extend(getattr(x, "exceptions", ()))
        if x.__cause__ is not None:
            todo.append(x.__cause__)
    return e.strerror or str(e)


def _errno_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _server_name(host: str) -> str | None:
    """The SNI name for an ssl: target: a host name, never an IP address (stream-ssl.c)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


async def _handshake(stream: trio.SSLStream, name: str) -> None:
    """Complete the TLS handshake or close the stream; a failure is rconn's EPROTO
    ("Protocol error")."""
    try:
        await stream.do_handshake()
    except (trio.BrokenResourceError, OSError) as e:
        await trio.aclose_forcefully(stream)
        log.warning("%s: SSL handshake failed (%s)", name, e.__cause__ or e)
        raise _errno_error(errno.EPROTO) from e
    except BaseException:                   # cancelled (a timeout): the socket must not leak
        await trio.aclose_forcefully(stream)
        raise


async def _unix_listener(path: str) -> trio.SocketListener:
    sock = trio.socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    await sock.bind(path)
    sock.listen(64)
    return trio.SocketListener(sock)


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


class BridgeConnMgr:
    """All OpenFlow connections of one bridge (see module docstring)."""

    def __init__(self, br: bridge_mod.Bridge, rundir: str, *, on_change=None,
                 ssl: bridge_mod.SSLConfig | None = None):
        self.bridge = br
        self.rundir = rundir
        self.ssl = ssl                           # PKI files for ssl:/pssl: controllers
        self.ofproto = OFProto(br, trio.current_time())
        self.on_change = on_change               # port state (PORT_MOD) or controller status changed
        self.ofproto.on_port_state.connect(lambda ofp, info: on_change and on_change())
        self.scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._ctl_targets: tuple = ()
        self.controllers: dict[str, ControllerState] = {}   # by target, one task each
        self._roles: tuple = ()                  # roles of the connections, to notice changes
        self.last_connected = trio.current_time()
        self.paths: list[str] = []
        self._timer_kick = trio.Event()
        self._services = Hmap()                  # connmgr.c mgr->services: targets, OVS's order
        self._snoops: dict[str, list[_Snooper]] = {}   # by controller target (rconn monitors)
        self._inodes: list[int] = []             # of self.paths, to remove only our own
        self._listening = self._listen()         # [(socket, handler)]: mgmt and snoop

    # ------------------------------------------------------------ lifecycle
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with self.scope:
            try:
                async with trio.open_nursery() as n:
                    self._nursery = n
                    for sock, fn in self._listening:
                        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                        n.start_soon(trio.serve_listeners, fn, [listener])
                    n.start_soon(self._timers)
                    self._start_controllers()
                    task_status.started()
            finally:
                for sock, _ in self._listening:
                    sock.close()
                for p, ino in zip(self.paths, self._inodes):
                    try:                    # not a successor's socket (a bridge made anew)
                        if os.stat(p).st_ino == ino:
                            os.unlink(p)
                    except OSError:
                        pass

    def _listen(self) -> list:
        """Bind ``<bridge>.mgmt`` and ``<bridge>.snoop`` now, not when run() first runs:
        they exist by the time the daemon writes ``cur_cfg`` (as bridge.c makes them
        in bridge_reconfigure), so ``ovs-vsctl add-br br0; ovs-ofctl snoop br0`` works."""
        out = []
        for suffix, fn in (("mgmt", self._serve_mgmt), ("snoop", self._serve_snoop)):
            path = os.path.join(self.rundir, f"{self.bridge.name}.{suffix}")
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                sock.bind(path)
                sock.listen(64)
                sock.setblocking(False)
            except OSError as e:
                sock.close()
                log.warning("%s: could not listen on %s (%s)", self.bridge.name,
                            path, os.strerror(e.errno or errno.EIO))
                continue
            self.paths.append(path)
            self._inodes.append(os.stat(path).st_ino)
            out.append((sock, fn))
        return out

    def stop(self) -> None:
        self.scope.cancel()
        for c in list(self.ofproto.conns):
            self.ofproto.drop_conn(c)

    def reconfigure(self) -> None:
        """Controllers, protocols or fail mode changed."""
        self.ofproto.flows.sync_config()
        self.ofproto.config_changed(trio.current_time())
        targets = tuple(self.bridge.controllers)
        if targets != self._ctl_targets and self._nursery is not None:
            self._start_controllers()
        self._timer_kick.set()

    def set_ssl(self, ssl: bridge_mod.SSLConfig | None) -> None:
        """New PKI files: the ssl:/pssl: controllers reconnect (or listen again) with them."""
        if ssl == self.ssl:
            return
        self.ssl = ssl
        if self._nursery is None:
            return
        for target, st in list(self.controllers.items()):
            if target.startswith(("ssl:", "pssl:")):
                st.scope.cancel()
                del self.controllers[target]
        self._start_controllers()

    def _ssl_context(self, server_side: bool):
        """A TLS context from the current files; OSError(ENOPROTOOPT) if incomplete."""
        s = self.ssl or bridge_mod.SSLConfig()
        return sslctx.make_context(server_side, s.private_key, s.certificate, s.ca_cert,
                                   bootstrap_ca_cert=s.bootstrap_ca_cert)

    def _start_controllers(self) -> None:
        # Only targets that went away or changed lose their connection (as connmgr.c
        # update_ofservices does); the others keep theirs.
        self._ctl_targets = tuple(self.bridge.controllers)
        wanted = {c.target: c for c in self._ctl_targets}
        self._sync_services()
        for target in [t for t in self._snoops if t not in wanted]:
            for sn in self._snoops.pop(target):          # rconn_destroy closes its monitors
                sn.close("controller removed")
        for target, st in list(self.controllers.items()):
            # ovs-vsctl set-controller makes new rows: a new uuid alone is no change;
            # new packet-in limits apply to the live connections (ofconn_reconfigure).
            new = wanted.get(target)
            if new is not None and replace(new, uuid=st.info.uuid, rate_limit=st.info.rate_limit,
                                           burst_limit=st.info.burst_limit) == st.info:
                st.info = new
                for conn in st.conns:
                    conn.set_rate_limit(new.rate_limit, new.burst_limit)
            if wanted.get(target) != st.info:
                st.scope.cancel()
                del self.controllers[target]
        for target, info in wanted.items():
            if target not in self.controllers:
                st = self.controllers[target] = ControllerState(info)

                async def run_one(st=st):
                    with st.scope:
                        await self._controller(st)
                self._nursery.start_soon(run_one)

    def _sync_services(self) -> None:
        """connmgr_set_controllers' bookkeeping of mgr->services: bridge.c hands it a
        fresh shash (the management socket, then the controllers in the IDL's uuid
        order); targets not yet there are inserted in that shash's order, the ones
        gone are removed.  Only the order matters here: it breaks snoop ties."""
        ocs = Shash()
        ocs.add(f"punix:{os.path.join(self.rundir, self.bridge.name)}.mgmt")
        for c in sorted(self.bridge.controllers, key=lambda c: c.uuid):
            ocs.add(c.target)
        wanted = set(ocs.names())
        have = set(self._services)
        for name in ocs.names():
            if name not in have:
                self._services.insert(hash_string(name), name)
                have.add(name)
        for name in list(self._services):
            if name not in wanted:
                self._services.remove(name)

    def _snoop_target(self) -> str | None:
        """connmgr.c add_snooper: the active target whose live connection has the
        highest role (not connected: lowest), the first in ``_services`` on a tie."""
        best, best_pref = None, -1
        for target in self._services:
            try:
                active = parse_target(target)[3]
            except ValueError:
                continue
            st = self.controllers.get(target)
            if not active or st is None:
                continue
            pref = SNOOP_PREFERENCE.get(st.conn.role, 0) if st.conn is not None else 0
            if best is None or pref > best_pref:
                best, best_pref = target, pref
        return best

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def controller_status(self, target: str, now: float):
        """(is_connected, role or None, status map) for the Controller row of `target`."""
        st = self.controllers.get(target)
        if st is None or not st.active:
            return False, None, {}
        status = {"state": st.state}
        if st.last_error:
            status["last_error"] = st.last_error
        if st.last_connection is not None:
            status["sec_since_connect"] = str(int(now - st.last_connection))
        if st.last_disconnect is not None:
            status["sec_since_disconnect"] = str(int(now - st.last_disconnect))
        if st.conn is None:                      # OVS leaves role empty while disconnected
            return False, None, status
        status.update(st.conn.pinsched_status())  # packet-in-{action,miss}-* when rate limited
        return True, ROLE_NAMES.get(st.conn.role, "other"), status

    def _roles_changed(self) -> bool:
        roles = tuple(st.conn.role if st.conn else None for st in self.controllers.values())
        if roles == self._roles:
            return False
        self._roles = roles
        return True

    # ------------------------------------------------------------ listeners
    async def _serve_mgmt(self, stream) -> None:
        await self._session(stream, primary=False, probe=None, name=f"{self.bridge.name}<->mgmt")

    async def _serve_snoop(self, stream) -> None:
        """One snooper (see "Snoopers" in the module docstring)."""
        name = f"unix#{next(_unix_ids)}"
        target = self._snoop_target()
        if target is None:
            log.info("no controller connection to snoop")
            await trio.aclose_forcefully(stream)     # at once, its unread HELLO and all
            return
        monitors = self._snoops.setdefault(target, [])
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

    async def _controller(self, st: ControllerState) -> None:
        c = st.info
        try:
            kind, host, port, active = parse_target(c.target)
        except ValueError as e:
            log.warning("%s", e)
            return
        probe = (c.inactivity_probe if c.inactivity_probe is not None else 5000) / 1000.0
        probe = probe or None
        if not active:
            st.active = False
            if kind == "punix":
                listener = await _unix_listener(host)
                listeners = [listener]
            else:
                listeners = await trio.open_tcp_listeners(port, host=host or None)

            async def handler(stream):
                if kind == "pssl":
                    try:
                        stream = trio.SSLStream(stream, self._ssl_context(True), server_side=True)
                    except OSError as e:
                        log.warning("%s: dropping connection (%s)", c.target, _error_text(e))
                        await trio.aclose_forcefully(stream)
                        return
                    try:
                        await _handshake(stream, c.target)
                    except OSError:
                        return
                await self._session(stream, primary=True, probe=probe, name=c.target, ctl=st)
            await trio.serve_listeners(handler, listeners)
            return
        backoff = 1.0
        max_backoff = (c.max_backoff or 8000) / 1000.0
        while True:
            st.state = "CONNECTING"
            try:
                # rconn gives up on an attempt after max(1 s, backoff).
                with trio.fail_after(max(1.0, backoff)):
                    stream = await self._open_active(kind, host, port, c.target)
            except (OSError, trio.TooSlowError) as e:
                err = _error_text(e) if isinstance(e, OSError) else os.strerror(errno.ETIMEDOUT)
                log.info("%s: connecting... (%s)", c.target, err)
                st.state = "BACKOFF"
                # rconn counts a disconnection when an attempt fails in its CONNECTING
                # state (a TLS handshake, a timeout), not when it fails at once (a
                # refused loopback connect, missing SSL files).
                if not isinstance(e, OSError) or e.errno == errno.EPROTO:
                    st.last_disconnect = trio.current_time()
                if st.last_error != err:
                    st.last_error = err
                    self._notify()
                await trio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff)
                continue
            log.info("%s: connected", c.target)
            backoff = 1.0
            await self._session(stream, primary=True, probe=probe, name=c.target, ctl=st)
            log.info("%s: connection dropped", c.target)
            st.state, st.last_error = "BACKOFF", "End of file"     # rconn: EOF from the peer
            self._notify()
            await trio.sleep(backoff)

    async def _open_active(self, kind: str, host: str, port: int, name: str):
        """A connected stream to an active target (for ssl:, handshake done)."""
        if kind == "unix":
            return await trio.open_unix_socket(host)
        # The files first: without them OVS fails before connecting (ENOPROTOOPT).
        ctx = self._ssl_context(False) if kind == "ssl" else None
        stream = await trio.open_tcp_stream(host, port)
        if ctx is None:
            return stream
        stream = trio.SSLStream(stream, ctx, server_hostname=_server_name(host))
        await _handshake(stream, name)
        return stream

    # ------------------------------------------------------------ one connection
    async def _session(self, stream, *, primary: bool, probe, name: str,
                       ctl: ControllerState | None = None) -> None:
        conn = self.ofproto.new_conn(primary=primary, now=trio.current_time(),
                                     probe_interval=probe, name=name)
        wake = trio.Event()
        # Fast path (see "One connection's I/O" below): a plain socket stream is read
        # and written with non-blocking os.read/os.write, trio only waiting for
        # readiness.  Anything else (an SSLStream) goes through receive_some/send_all.
        sock = stream.socket if isinstance(stream, trio.SocketStream) else None
        fd = sock.fileno() if sock is not None else -1
        spare = self.ofproto.encode_ahead
        reading = False          # the reader is inside receive_data: it flushes after
        blocked = False          # the writer is waiting for the socket to drain
        pending = b""            # taken from conn but not yet written
        # An active controller's traffic is copied to the snoopers of its target
        # (module docstring, "Snoopers"); our HELLO, already queued, is not.
        tap = _Tap() if ctl is not None and ctl.active else None
        snoopers = self._snoops.get
        target = ctl.info.target if ctl is not None else ""
        if tap is not None:
            pending = conn.data_to_send()

        def on_output():
            if not reading:
                wake.set()
        conn.on_output = on_output

        def take() -> bytes:
            # What the connection queued, copied to the snoopers once the handshake is done.
            out = conn.data_to_send()
            if out and tap is not None and conn.state is oc.State.ACTIVE:
                mons = snoopers(target)
                if mons:
                    _copy_to(mons, out)
            return out

        def receive(data: bytes, now: float) -> None:
            # While the target has snoopers, one message at a time: the message's
            # copy, then the copies of what it made us send (kept in `pending`).
            nonlocal pending
            mons = snoopers(target) if tap is not None and data else None
            cuts = tap.cut(data, bool(mons)) if tap is not None and data else None
            if not cuts:
                conn.receive_data(data, now)
                return
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
                    pending += out

        def flush() -> None:
            # Write what the connection has queued without blocking; whatever the
            # socket does not take goes to the writer task, which keeps the order.
            nonlocal pending
            if blocked or fd < 0:
                wake.set()
                return
            data = take()
            if pending:
                data, pending = pending + data, b""
            if data:
                try:
                    k = os.write(fd, data)
                except BlockingIOError:
                    k = 0
                if k < len(data):
                    pending = data[k:]
                    wake.set()
            if conn.closed or conn.pinsched_backlog:     # the writer's timer releases them
                wake.set()
        if ctl is not None:
            conn.set_rate_limit(ctl.info.rate_limit, ctl.info.burst_limit)
            ctl.conns.add(conn)
            ctl.n_connected += 1
            ctl.conn = ctl.conn or conn
            ctl.state, ctl.last_connection = "ACTIVE", trio.current_time()
            self.last_connected = trio.current_time()
            self._timer_kick.set()
            self._notify()
        try:
            async with stream, trio.open_nursery() as n:
                # One connection's I/O: the reader handles every complete message of
                # one read and writes the replies at once (one write per batch, no
                # task switch); it reads again before waiting, and yields every
                # READ_BURST reads so a fast peer cannot starve the other tasks.
                # The writer sends what the reader could not write (full socket) and
                # messages queued by others (packet-ins, timers, probes).
                async def reader():
                    nonlocal reading
                    burst = 0
                    while not conn.closed:
                        if fd < 0:
                            try:
                                data = await stream.receive_some(65536)
                            except (trio.BrokenResourceError, trio.ClosedResourceError):
                                data = b""
                        else:
                            try:
                                data = os.read(fd, READ_SIZE)
                            except BlockingIOError:
                                burst = 0
                                # After a flow_mod its barrier (ovs-ofctl) or the next
                                # flow_mod (a controller's batch) is usually microseconds
                                # away: poll for it briefly rather than paying for a sleep,
                                # a wake-up and a trio reschedule (most of a round trip).
                                data = _spin_read(fd, spare) if conn.expect_more else None
                                if data is None:
                                    await trio.lowlevel.wait_readable(sock)
                                    continue
                            except OSError:             # ECONNRESET and the like
                                data = b""
                        reading = True
                        try:
                            receive(data, trio.current_time())
                        finally:
                            reading = False
                        flush()
                        if self._roles_changed():         # a ROLE_REQUEST: Controller.role
                            self._notify()
                        burst += 1
                        if burst >= READ_BURST:
                            burst = 0
                            await trio.lowlevel.checkpoint()

                async def writer():
                    nonlocal wake, pending, blocked
                    while True:
                        out = take()
                        if pending:
                            out, pending = pending + out, b""
                        if out and fd < 0:
                            await stream.send_all(out)
                        elif out:
                            blocked = True
                            try:
                                view, off = memoryview(out), 0
                                while off < len(out):
                                    try:
                                        off += os.write(fd, view[off:])
                                    except BlockingIOError:
                                        await trio.lowlevel.wait_writable(sock)
                            finally:
                                blocked = False
                            continue                        # more may have been queued
                        if conn.closed:
                            n.cancel_scope.cancel()
                            return
                        t = conn.get_timer()
                        with trio.move_on_at(t if t is not None else float("inf")):
                            await wake.wait()
                        wake = trio.Event()
                        conn.handle_timer(trio.current_time())
                n.start_soon(reader)
                n.start_soon(writer)
        # except*: the reader's and writer's errors arrive wrapped in an ExceptionGroup
        # (a peer gone while send_all writes to an SSL stream, os.write's EPIPE).
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            if conn.close_reason and conn.close_reason != "connection closed by peer":
                log.info("%s: %s", name, conn.close_reason)
            self.ofproto.drop_conn(conn)
            if ctl is not None:
                ctl.conns.discard(conn)
                ctl.n_connected -= 1
                if ctl.conn is conn:
                    ctl.conn = None
                ctl.last_disconnect = self.last_connected = trio.current_time()
                self._timer_kick.set()
                self._notify()

    # ------------------------------------------------------------ timers, fail-open
    def _fail_open_due(self, now: float):
        """(want fail-open now, next time to look again)."""
        br = self.bridge
        if br.fail_mode == "secure" or not self.ofproto.has_controllers():
            return False, None                  # fail-open.c exists only with controllers
        if any(st.n_connected for st in self.controllers.values()):
            return False, None
        probe = min(((c.inactivity_probe if c.inactivity_probe is not None else 5000) / 1000.0
                     for c in br.controllers), default=DEFAULT_PROBE) or DEFAULT_PROBE
        due = self.last_connected + FAIL_OPEN_PROBES * probe
        return now >= due, (None if now >= due else due)

    async def _timers(self) -> None:
        while True:
            now = trio.current_time()
            self.ofproto.run_timers(now)
            want, again = self._fail_open_due(now)
            self.ofproto.set_fail_open(want, now)
            t = self.ofproto.timer()
            nxt = min(x for x in (t, again, now + 1.0) if x is not None)
            with trio.move_on_at(nxt):
                await self._timer_kick.wait()
            self._timer_kick = trio.Event()
