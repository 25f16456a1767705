"""The trio edge of OpenFlow: listeners, controller connections, timers.

Theory of operation
-------------------
One :class:`BridgeConnMgr` per bridge owns an :class:`~.ofproto.OFProto`
and runs, in its own cancel scope:

* a service listener on ``$OVS_RUNDIR/<bridge>.mgmt`` (what ``ovs-ofctl
  br0`` connects to) and the snoop listener on ``<bridge>.snoop`` (what
  ``ovs-ofctl snoop br0`` connects to, see snoop.py);
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

Snoopers (``ovs-ofctl snoop``, copies of a controller's traffic): see snoop.py.

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
import os
import socket as _socket
import time

import trio

from ovsdb_server import sslctx
from ovsdb_server.daemon import get_logger

from . import bridge as bridge_mod
from . import ofconn as oc
from . import snoop
from .ofproto import OFProto

log = get_logger("connmgr")

OFP_PORT = 6653
DEFAULT_PROBE = 5.0                 # Controller.inactivity_probe default (s)
DEFAULT_MAX_BACKOFF = 8.0           # Controller.max_backoff default (s)
FAIL_OPEN_PROBES = 3                # fail-open after this many probe intervals
READ_SIZE = 256 * 1024              # bytes per read: many small flow_mods per batch
READ_BURST = 16                     # reads without waiting before yielding to others
SPIN_READ = 0.0001                  # seconds to poll for a flow_mod's barrier (see reader)


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
        self.snoopers = snoop.Snoopers(f"punix:{os.path.join(rundir, br.name)}.mgmt")
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
        self.snoopers.set_controllers(self._ctl_targets)
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

    def _snoop_target(self) -> str | None:
        """The target a new snooper watches: :func:`.snoop.choose_target` among the
        active targets (the ones with an rconn in OVS)."""
        roles = {}
        for target, st in self.controllers.items():
            try:
                active = parse_target(target)[3]
            except ValueError:
                continue
            if active:
                roles[target] = st.conn.role if st.conn is not None else None
        return snoop.choose_target(self.snoopers.services, roles)

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
        """A snooper, attached to the target chosen now (see snoop.py)."""
        await self.snoopers.serve(stream, self._snoop_target())

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
        # (see snoop.py); our HELLO, already queued, is not.
        tap = self.snoopers.tap(ctl.info.target, conn) if ctl is not None and ctl.active else None
        if tap is not None:
            pending = conn.data_to_send()

        def on_output():
            if not reading:
                wake.set()
        conn.on_output = on_output

        def take() -> bytes:
            # What the connection queued, copied to the snoopers once the handshake is done.
            out = conn.data_to_send()
            if out and tap is not None:
                tap.outgoing(out)
            return out

        def receive(data: bytes, now: float) -> None:
            # With snoopers, what the messages made us send comes back (kept in `pending`).
            nonlocal pending
            if tap is None:
                conn.receive_data(data, now)
            else:
                pending += tap.receive(data, now)

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
                conn.output_pending(len(pending))       # flow monitors' flow control
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
                            conn.output_pending(len(out))
                            await stream.send_all(out)
                            conn.output_pending(0)
                        elif out:
                            blocked = True
                            try:
                                view, off = memoryview(out), 0
                                while off < len(out):
                                    try:
                                        off += os.write(fd, view[off:])
                                    except BlockingIOError:
                                        conn.output_pending(len(out) - off)
                                        await trio.lowlevel.wait_writable(sock)
                            finally:
                                blocked = False
                            conn.output_pending(0)
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
