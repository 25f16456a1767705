"""The trio edge of OpenFlow: listeners, controller connections, timers.

Theory of operation
-------------------
One :class:`BridgeConnMgr` per bridge owns an :class:`~.ofproto.OFProto`
and runs, in its own cancel scope:

* a service listener on ``$OVS_RUNDIR/<bridge>.mgmt`` (what ``ovs-ofctl
  br0`` connects to) and one on ``<bridge>.snoop`` (accepted and, with no
  controller to copy, reset - as OVS does);
* one task per Controller row: active ``tcp:IP[:PORT]`` / ``unix:PATH``
  reconnect with exponential backoff (1 s doubling up to ``max_backoff``,
  default 8 s); passive ``ptcp:[PORT][:IP]`` / ``punix:PATH`` listen.
  ``ssl:``/``pssl:`` are logged as unsupported (no certificates here);
* a timer task: flow expiry, and fail-open (standalone mode: with
  controllers configured but none connected for three inactivity-probe
  intervals, the ``priority=0 actions=NORMAL`` flow comes back; a
  connected controller removes it).

Each connection is an :class:`~.ofconn.OFConn` driven by two tasks: the
reader feeds ``receive_data`` and the writer drains ``data_to_send`` when
woken (``conn.on_output``) or when ``conn.get_timer()`` is due
(inactivity probes: ``Controller.inactivity_probe``, default 5 s;
management connections are not probed).

Resource handling: every socket belongs to the task that accepted or
opened it and is closed when that task ends.  ``reconfigure()`` restarts
the controller tasks when the Controller rows change; ``stop()`` cancels
everything of the bridge and removes its socket files.

Error handling: a peer that breaks the stream (``trio.BrokenResourceError``)
ends only its connection; listener failures (bind errors) are logged and
leave the bridge without that listener.
"""
from __future__ import annotations

import errno
import os
import socket as _socket

import trio

from ovsdb_server.daemon import get_logger

from . import bridge as bridge_mod
from .ofproto import OFProto

log = get_logger("connmgr")

OFP_PORT = 6653
DEFAULT_PROBE = 5.0                 # Controller.inactivity_probe default (s)
DEFAULT_MAX_BACKOFF = 8.0           # Controller.max_backoff default (s)
FAIL_OPEN_PROBES = 3                # fail-open after this many probe intervals


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

    def __init__(self, br: bridge_mod.Bridge, rundir: str, *, on_change=None):
        self.bridge = br
        self.rundir = rundir
        self.ofproto = OFProto(br, trio.current_time())
        self.on_change = on_change               # called after PORT_MOD changes port state
        self.ofproto.on_port_state.connect(lambda ofp, info: on_change and on_change())
        self.scope = trio.CancelScope()
        self._ctl_scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._ctl_targets: tuple = ()
        self.connected: dict[str, int] = {}      # controller target -> live connections
        self.last_connected = trio.current_time()
        self.paths: list[str] = []
        self._timer_kick = trio.Event()

    # ------------------------------------------------------------ lifecycle
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with self.scope:
            try:
                async with trio.open_nursery() as n:
                    self._nursery = n
                    for suffix, fn in (("mgmt", self._serve_mgmt), ("snoop", self._serve_snoop)):
                        path = os.path.join(self.rundir, f"{self.bridge.name}.{suffix}")
                        try:
                            listener = await _unix_listener(path)
                        except OSError as e:
                            log.warning("%s: could not listen on %s (%s)", self.bridge.name,
                                        path, os.strerror(e.errno or errno.EIO))
                            continue
                        self.paths.append(path)
                        n.start_soon(trio.serve_listeners, fn, [listener])
                    n.start_soon(self._timers)
                    self._start_controllers()
                    task_status.started()
            finally:
                for p in self.paths:
                    try:
                        os.unlink(p)
                    except OSError:
                        pass

    def stop(self) -> None:
        self.scope.cancel()
        for c in list(self.ofproto.conns):
            self.ofproto.drop_conn(c)

    def reconfigure(self) -> None:
        """Controllers, protocols or fail mode changed."""
        self.ofproto.flows.sync_config()
        targets = tuple(self.bridge.controllers)
        if targets != self._ctl_targets and self._nursery is not None:
            self._start_controllers()
        self._timer_kick.set()

    def _start_controllers(self) -> None:
        self._ctl_scope.cancel()
        self._ctl_scope = trio.CancelScope()
        self._ctl_targets = tuple(self.bridge.controllers)
        self.connected = {}
        scope = self._ctl_scope

        async def run_all():
            with scope:
                async with trio.open_nursery() as n:
                    for c in self._ctl_targets:
                        n.start_soon(self._controller, c)
        self._nursery.start_soon(run_all)

    # ------------------------------------------------------------ listeners
    async def _serve_mgmt(self, stream) -> None:
        await self._session(stream, primary=False, probe=None, name=f"{self.bridge.name}<->mgmt")

    async def _serve_snoop(self, stream) -> None:
        # No copy of controller traffic yet: OVS resets snoopers without a controller.
        with trio.move_on_after(0.1):
            await stream.receive_some(65536)
        await stream.aclose()

    async def _controller(self, c: bridge_mod.ControllerInfo) -> None:
        try:
            kind, host, port, active = parse_target(c.target)
        except ValueError as e:
            log.warning("%s", e)
            return
        if kind in ("ssl", "pssl"):
            log.warning("%s: SSL is not supported", c.target)
            return
        probe = (c.inactivity_probe if c.inactivity_probe is not None else 5000) / 1000.0
        probe = probe or None
        if not active:
            if kind == "punix":
                listener = await _unix_listener(host)
                listeners = [listener]
            else:
                listeners = await trio.open_tcp_listeners(port, host=host or None)

            async def handler(stream):
                await self._session(stream, primary=True, probe=probe, name=c.target,
                                    target=c.target)
            await trio.serve_listeners(handler, listeners)
            return
        backoff = 1.0
        max_backoff = (c.max_backoff or 8000) / 1000.0
        while True:
            try:
                if kind == "unix":
                    stream = await trio.open_unix_socket(host)
                else:
                    stream = await trio.open_tcp_stream(host, port)
            except OSError as e:
                log.info("%s: connecting... (%s)", c.target, e.strerror or e)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff)
                continue
            log.info("%s: connected", c.target)
            backoff = 1.0
            await self._session(stream, primary=True, probe=probe, name=c.target,
                                target=c.target)
            log.info("%s: connection dropped", c.target)
            await trio.sleep(backoff)

    # ------------------------------------------------------------ one connection
    async def _session(self, stream, *, primary: bool, probe, name: str,
                       target: str | None = None) -> None:
        conn = self.ofproto.new_conn(primary=primary, now=trio.current_time(),
                                     probe_interval=probe, name=name)
        wake = trio.Event()

        def on_output():
            nonlocal wake
            wake.set()
        conn.on_output = on_output
        if target is not None:
            self.connected[target] = self.connected.get(target, 0) + 1
            self.last_connected = trio.current_time()
            self._timer_kick.set()
        try:
            async with stream, trio.open_nursery() as n:
                async def reader():
                    while not conn.closed:
                        try:
                            data = await stream.receive_some(65536)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            data = b""
                        conn.receive_data(data, trio.current_time())
                        wake.set()

                async def writer():
                    nonlocal wake
                    while True:
                        out = conn.data_to_send()
                        if out:
                            await stream.send_all(out)
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
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            if conn.close_reason and conn.close_reason != "connection closed by peer":
                log.info("%s: %s", name, conn.close_reason)
            self.ofproto.drop_conn(conn)
            if target is not None:
                self.connected[target] = self.connected.get(target, 1) - 1
                self.last_connected = trio.current_time()
                self._timer_kick.set()

    # ------------------------------------------------------------ timers, fail-open
    def _fail_open_due(self, now: float):
        """(want fail-open now, next time to look again)."""
        br = self.bridge
        if br.fail_mode == "secure":
            return False, None
        if not br.controllers:
            return True, None
        if any(self.connected.values()):
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
