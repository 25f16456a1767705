"""pyovsdb-server: the trio edge of the OVSDB server.

Theory of operation
-------------------
Everything protocol- or data-shaped happens in the sans-I/O `session.Core`;
this module only moves bytes and time:

  * one task per listener (`punix:`, `ptcp:`, `pssl:`) and per active remote
    (`unix:`, `tcp:`, `ssl:`, reconnecting with backoff);
  * per connection, a reader task (bytes -> `Framer` -> `Core.handle`) and a
    writer task (drains `session.outbox`);
  * a timer task for `wait` timeouts (`Core.next_deadline`);
  * the unixctl control socket.

Resource handling: a connection's failure (EOF, reset, protocol error,
TLS failure) ends only that connection; `Core.disconnect` releases its
locks, monitors and triggers.  A client that stops reading is not read
from either: once its outbox passes `session.BEHIND_BYTES` the reader
waits for the writer to drain it, and its monitors merge further changes
(bounded memory).  Inactivity probes (echo after 5 s idle, drop after
another 5 s) run on TCP and SSL connections, not on Unix sockets, as in
ovsdb-server.

Error handling: listeners that cannot bind are fatal at start-up (as
ovsdb-server); later failures are logged.
"""
from __future__ import annotations

import argparse
import math
import os
import socket
import ssl
import sys
import time

import trio

from . import daemon, jsonrpc, sslctx
from .daemon import DaemonConfig, get_logger
from .database import Database
from .schema import Schema
from .session import Core
from .storage import DbFile, StorageError
from .unixctl import ExitController, UnixctlError, UnixctlServer

PROGRAM = "ovsdb-server"
log = get_logger("ovsdb_server")
jlog = get_logger("jsonrpc")
PROBE_INTERVAL = 5.0
DEFAULT_PORT = 6640


def parse_args(argv):
    p = argparse.ArgumentParser(prog="pyovsdb-server", description="OVSDB server (pyvswitch)")
    p.add_argument("databases", nargs="*", help="database files (default $OVS_DBDIR/conf.db)")
    p.add_argument("--remote", action="append", default=[], help="punix:PATH, ptcp:[PORT][:IP], pssl:..., "
                   "unix:PATH, tcp:IP:PORT")
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("-p", "--private-key")
    p.add_argument("-c", "--certificate")
    p.add_argument("-C", "--ca-cert")
    p.add_argument("--bootstrap-ca-cert")
    p.add_argument("--ssl-protocols")
    p.add_argument("--ssl-ciphers")
    p.add_argument("--max-message-size", type=int, default=jsonrpc.DEFAULT_MAX_SIZE)
    p.add_argument("--disable-file-column-diff", action="store_true")
    daemon.add_options(p, PROGRAM)
    return p.parse_args(argv)


class RawStream:
    """The trio stream interface over a non-blocking stdlib socket, lean.

    trio's SocketStream checkpoints and bookkeeps on every call; a JSON-RPC
    server doing one small recv and one small send per request pays for that
    more than for the request itself.  Here the system call is tried first
    and the task waits only when the socket would block.  Every few
    immediate successes it still yields, so one busy client cannot starve
    the others."""

    __slots__ = ("sock", "_streak")

    def __init__(self, sock):
        sock.setblocking(False)
        self.sock = sock
        self._streak = 0

    async def _fair(self):
        self._streak += 1
        if self._streak >= 16:
            self._streak = 0
            await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes=65536):
        while True:
            try:
                data = self.sock.recv(max_bytes)
            except (BlockingIOError, InterruptedError):
                self._streak = 0
                await trio.lowlevel.wait_readable(self.sock)
                continue
            await self._fair()
            return data

    async def send_all(self, data):
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                self._streak = 0
                await trio.lowlevel.wait_writable(self.sock)
                continue
            view = view[sent:]
        await self._fair()

    async def aclose(self):
        if self.sock.fileno() >= 0:
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()
        await trio.lowlevel.checkpoint()


class Remote:
    """A configured remote and the cancel scope of the task serving it."""

    def __init__(self, target):
        self.target = target
        self.scope = None
        self.bound_port = None


class Server:
    def __init__(self, args, core: Core, files: dict):
        self.args = args
        self.core = core
        self.files = files                    # db name -> DbFile
        self.remotes: dict[str, Remote] = {}
        self.nursery = None
        self.timer_event = trio.Event()
        self.ssl_context = None

    # -- remotes ----------------------------------------------------------------
    async def add_remote(self, target: str):
        if target in self.remotes:
            return
        remote = Remote(target)
        self.remotes[target] = remote
        await self.nursery.start(self._serve_remote, remote)

    def remove_remote(self, target: str):
        remote = self.remotes.pop(target, None)
        if remote is None:
            raise UnixctlError("no such remote")
        if remote.scope is not None:
            remote.scope.cancel()

    async def _serve_remote(self, remote: Remote, task_status=trio.TASK_STATUS_IGNORED):
        target = remote.target
        kind, _, rest = target.partition(":")
        with trio.CancelScope() as scope:
            remote.scope = scope
            if kind == "punix":
                path = os.path.abspath(rest)
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                lsock.bind(path)
                lsock.listen(128)
                task_status.started()
                try:
                    await self._accept_loop(lsock, "unix", probes=False)
                finally:
                    lsock.close()
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
            elif kind == "ptcp":
                port_s, _, host = rest.partition(":")
                port = int(port_s) if port_s else DEFAULT_PORT
                lsock = socket.create_server((host or "", port), reuse_port=False,
                                             family=socket.AF_INET6 if ":" in host else socket.AF_INET)
                remote.bound_port = lsock.getsockname()[1]
                task_status.started()
                try:
                    await self._accept_loop(lsock, "tcp", probes=True)
                finally:
                    lsock.close()
            elif kind == "pssl":
                port_s, _, host = rest.partition(":")
                port = int(port_s) if port_s else DEFAULT_PORT
                listeners = await trio.open_tcp_listeners(port, host=host or None)
                remote.bound_port = listeners[0].socket.getsockname()[1]
                ctx = self._ssl()
                listeners = [trio.SSLListener(l, ctx, https_compatible=False) for l in listeners]
                task_status.started()
                await trio.serve_listeners(lambda s: self._connection(s, "ssl", probes=True), listeners)
            elif kind in ("unix", "tcp", "ssl"):
                task_status.started()
                await self._active(kind, rest)
            else:
                raise ValueError(f"{target}: unknown remote type")

    async def _accept_loop(self, lsock, name, probes):
        """Accept plain (unix/tcp) connections; each is served over RawStream."""
        lsock.setblocking(False)
        async with trio.open_nursery() as nursery:
            while True:
                await trio.lowlevel.wait_readable(lsock)
                while True:
                    try:
                        conn, _ = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:      # EMFILE and friends: keep serving the others
                        jlog.warning("%s: accept failed (%s)", name, e.strerror)
                        await trio.sleep(0.1)
                        break
                    if conn.family != socket.AF_UNIX:
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    nursery.start_soon(self._connection, RawStream(conn), name, probes)

    def _ssl(self):
        if self.ssl_context is None:
            a = self.args
            if not (a.private_key and a.certificate):
                raise ValueError("pssl: requires --private-key and --certificate")
            # Without --ca-cert clients are not verified (OVS would refuse them).
            self.ssl_context = sslctx.make_context(True, a.private_key, a.certificate,
                                                   a.ca_cert or "none")
        return self.ssl_context

    async def _active(self, kind, rest):
        backoff = 1.0
        while True:
            try:
                if kind == "unix":
                    stream = await trio.open_unix_socket(rest)
                else:
                    host, _, port = rest.rpartition(":")
                    a = self.args
                    ctx = (sslctx.make_context(False, a.private_key, a.certificate, a.ca_cert)
                           if kind == "ssl" else None)
                    stream = await trio.open_tcp_stream(host, int(port))
                    if ctx is not None:
                        stream = trio.SSLStream(stream, ctx)
                backoff = 1.0
                await self._connection(stream, kind, probes=kind != "unix")
            except OSError as e:
                jlog.warning("%s:%s: connection failed (%s)", kind, rest, e.strerror or e)
            await trio.sleep(backoff)
            backoff = min(backoff * 2, 8.0)

    # -- one connection -------------------------------------------------------------
    async def _connection(self, stream, name, probes):
        core = self.core
        session = core.connect(name)
        framer = jsonrpc.Framer(self.args.max_message_size)
        wake = trio.Event()
        drained = trio.Event()
        sending = False
        reading = False

        def wakeup():
            if not reading:             # the reader flushes its own output
                wake.set()

        session.wakeup = wakeup

        async def flush():
            # Replies go out from the reader itself (no task switch per
            # request); the writer task covers output queued by other
            # sessions' commits.  Whoever is sending drains everything queued
            # meanwhile, so the other simply leaves it (one send_all at a time,
            # without a lock's extra scheduling round).
            nonlocal sending
            if sending:
                return
            sending = True
            try:
                while session.outbox:
                    await stream.send_all(session.take_output())
                    if not session.outbox:
                        session.catch_up()
            finally:
                sending = False

        async def writer():
            nonlocal wake, drained
            while True:
                await wake.wait()
                wake = trio.Event()
                await flush()
                drained.set()
                drained = trio.Event()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(writer)
                idle_probe_sent = False
                while True:
                    if session.behind:
                        await drained.wait()
                        continue
                    if probes:
                        with trio.move_on_after(PROBE_INTERVAL) as cs:
                            data = await stream.receive_some(65536)
                        if cs.cancelled_caught:
                            if idle_probe_sent:
                                jlog.warning("%s: no response to inactivity probe after %g seconds, "
                                             "disconnecting", name, PROBE_INTERVAL)
                                break
                            session.send(jsonrpc.request("echo", [], "echo"))
                            idle_probe_sent = True
                            continue
                        idle_probe_sent = False
                    else:
                        data = await stream.receive_some(65536)
                    if not data:
                        break
                    now = trio.current_time()
                    reading = True
                    try:
                        for msg in framer.feed(data):
                            core.handle(session, msg, now)
                    finally:
                        reading = False
                    if self.core.triggers:
                        self.timer_event.set()
                    self._maybe_compact()
                    await flush()
                # Let queued replies go out before closing.
                with trio.move_on_after(1):
                    while session.outbox:
                        await drained.wait()
                nursery.cancel_scope.cancel()
        # except*: errors raised inside the nursery arrive wrapped in an ExceptionGroup.
        except* jsonrpc.ProtocolError as group:
            jlog.warning("%s: received bad JSON-RPC message: %s; connection dropped (Protocol error)",
                         name, group.exceptions[0])
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError):
            pass
        except* Exception as group:
            # A bug must cost one connection, never the server.
            log.error("%s: dropping connection after internal error: %r", name, group.exceptions[0],
                      exc_info=group.exceptions[0])
        finally:
            core.disconnect(session)
            with trio.move_on_after(1) as cs:
                cs.shield = True
                try:
                    await stream.aclose()
                except Exception:
                    pass

    # -- timers, compaction -----------------------------------------------------
    async def timers(self):
        while True:
            deadline = self.core.next_deadline()
            with trio.move_on_at(deadline if deadline is not None else math.inf):
                await self.timer_event.wait()
            self.timer_event = trio.Event()
            self.core.run_timers(trio.current_time())

    def _maybe_compact(self):
        now = time.monotonic()
        for name, f in self.files.items():
            if f.should_compact(now):
                self.compact(name)

    def compact(self, name):
        db, f = self.core.dbs[name], self.files[name]
        f.compact(db.schema.json, db.snapshot_record("compacting database online"))
        log.info("%s: compacted database", name)


def open_database(path) -> tuple[Database, DbFile]:
    f = DbFile.open(path)
    if f.torn:
        log.warning("%s", f.torn)
    db = Database(Schema(f.schema_json))
    for record in f.records:
        db.replay(record)
    db.storage = f
    return db, f


def register_commands(unixctl: UnixctlServer, server: Server, exit_ctl: ExitController):
    core = server.core
    unixctl.register("exit", "", 0, 0, exit_ctl.exit)

    def compact(args):
        names = args or list(server.files)
        for name in names:
            if name not in server.files:
                raise UnixctlError(f"{name}: unknown database")
            server.compact(name)
        return ""

    def list_dbs(args):
        return "".join(f"{name}\n" for name in sorted(core.dbs))

    async def add_remote(args):
        try:
            await server.add_remote(args[0])
        except (OSError, ValueError) as e:
            raise UnixctlError(str(e))
        return ""

    def remove_remote(args):
        server.remove_remote(args[0])
        return ""

    def list_remotes(args):
        return "".join(f"{t}\n" for t in sorted(server.remotes))

    def memory_show(args):
        cells = sum(len(rows) * len(db.schema.tables[t].columns)
                    for db in core.dbs.values() for t, rows in db.tables.items())
        monitors = sum(len(s.monitors) for s in core.sessions)
        return f"cells:{cells} monitors:{monitors} sessions:{len(core.sessions)}"

    unixctl.register("ovsdb-server/compact", "[DB]...", 0, 2**31 - 1, compact)
    unixctl.register("ovsdb-server/list-dbs", "", 0, 0, list_dbs)
    unixctl.register("ovsdb-server/add-remote", "REMOTE", 1, 1, add_remote)
    unixctl.register("ovsdb-server/remove-remote", "REMOTE", 1, 1, remove_remote)
    unixctl.register("ovsdb-server/list-remotes", "", 0, 0, list_remotes)
    unixctl.register("memory/show", "", 0, 0, memory_show)
    daemon.register_vlog_commands(unixctl)


async def run(args, config: DaemonConfig):
    core = Core()
    files = {}
    paths = args.databases or [os.path.join(daemon.dbdir(), "conf.db")]
    for path in paths:
        if path.startswith("unix:") or path.startswith("tcp:"):
            daemon.fatal(f"{path}: relay and replicated databases are not supported")
        try:
            db, f = open_database(path)
        except StorageError as e:
            daemon.fatal(str(e))
        except (ValueError, KeyError) as e:
            daemon.fatal(f"{path}: {e}")
        if db.name in core.dbs:
            daemon.fatal(f"{path}: duplicate database name {db.name}")
        core.add_db(db)
        files[db.name] = f
    server = Server(args, core, files)
    async with trio.open_nursery() as nursery:
        server.nursery = nursery
        exit_ctl = ExitController(nursery.cancel_scope)
        await nursery.start(exit_ctl.watch_signals)
        for target in args.remote:
            if target.startswith("db:"):
                log.warning("%s: db: remotes are not supported; ignored", target)
                continue
            try:
                await server.add_remote(target)
            except (OSError, ValueError) as e:
                daemon.fatal(f"{target}: listen failed ({e})")
        unixctl = UnixctlServer(PROGRAM)
        register_commands(unixctl, server, exit_ctl)
        path = config.unixctl_path
        if path:
            await nursery.start(unixctl.serve, path)
        nursery.start_soon(server.timers)
        daemon.daemonize_complete()
    for f in files.values():
        f.close()
    return exit_ctl.signum


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = DaemonConfig.from_args(args, PROGRAM)
    daemon.start_daemon(config)
    signum = trio.run(run, args, config)
    daemon.exit_process(signum)


if __name__ == "__main__":
    main()
