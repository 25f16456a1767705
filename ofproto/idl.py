"""python-ovs's IDL driven from trio: `TrioIdl`.

Theory of operation
-------------------
`ovs.db.idl.Idl` is a sans-I/O-ish state machine that talks to a *session*
object: it calls ``run()``, ``is_connected()``, ``get_seqno()``, ``recv()``
(one `ovs.jsonrpc.Message` or None), ``send(msg)`` (0 or an errno),
``force_reconnect()``, ``reset_backoff()``, ``get_name()``, ``wait()`` and
``recv_wait()``.  The stock `ovs.jsonrpc.Session` does blocking socket I/O
under `ovs.poller`; `QueueSession` replaces it with two queues and no I/O at
all, and `TrioIdl` moves bytes between those queues and a trio stream:

* a connection task connects to the remote (``unix:PATH`` or
  ``tcp:IP:PORT``; several comma-separated remotes are tried in turn),
  reconnecting with exponential backoff (1 s doubling to 8 s, as
  lib/reconnect.c);
* per connection, a reader task frames bytes (`ovsdb_server.jsonrpc.Framer`)
  into Messages, queues them and calls ``Idl.run()`` until the queue is
  empty; a writer task sends what the Idl queued.  On TCP, an echo probe is
  sent after `PROBE_INTERVAL` idle seconds and the connection is dropped
  after another interval without input.
* each connect and each disconnect bumps the session's seqno, which makes the
  Idl restart its state machine (get_schema, monitor, lock) or abort
  outstanding transactions (they return TRY_AGAIN).

Concurrency: everything runs in one trio thread.  ``Idl.run()`` must not run
while a transaction is being built (python-ovs asserts ``not idl.txn``), so
`TrioIdl.commit` builds the transaction synchronously (no await between
`Transaction()` and `commit()`), then waits for the reply.

Change notification: `wait_for_change(seqno)` returns once
``idl.change_seqno`` differs from `seqno` (or the lock state changed); the
caller re-reads the replica.  Columns registered with `write_only` get
``alert = False``: writing them does not wake the reader, and the IDL drops a
write of the value already there (as Open vSwitch's C IDL with
``ovsdb_idl_omit_alert``).
"""
from __future__ import annotations

import collections
import errno
import logging
from typing import Callable, Iterable

import trio
import ovs.db.idl
import ovs.jsonrpc

from ovsdb_server import jsonrpc
from ovsdb_server.daemon import get_logger

log = get_logger("reconnect")
jlog = get_logger("jsonrpc")

PROBE_INTERVAL = 5.0          # seconds of silence before an echo on TCP (OVS default)
MIN_BACKOFF = 1.0
MAX_BACKOFF = 8.0

Transaction = ovs.db.idl.Transaction
SUCCESS, UNCHANGED, TRY_AGAIN, NOT_LOCKED, ERROR, ABORTED, INCOMPLETE = (
    Transaction.SUCCESS, Transaction.UNCHANGED, Transaction.TRY_AGAIN, Transaction.NOT_LOCKED,
    Transaction.ERROR, Transaction.ABORTED, Transaction.INCOMPLETE)


class QueueSession:
    """The `ovs.jsonrpc.Session` interface over two queues (no I/O)."""

    def __init__(self, name: str):
        self.name = name
        self.inbox: collections.deque = collections.deque()
        self.outbox: list[bytes] = []
        self.connected = False
        self.seqno = 0
        self.reconnect_requested = False
        self.on_output: Callable[[], None] = lambda: None
        self.on_reconnect: Callable[[], None] = lambda: None

    # -- called by the I/O side
    def set_connected(self, up: bool) -> None:
        if up != self.connected:
            self.connected = up
            self.seqno += 1
            self.inbox.clear()
            self.outbox.clear()
            self.reconnect_requested = False

    def take_output(self) -> bytes:
        data = b"".join(self.outbox)
        self.outbox.clear()
        return data

    # -- the Session interface the Idl uses
    def run(self) -> None:
        pass

    def wait(self, poller) -> None:
        pass

    def recv_wait(self, poller) -> None:
        pass

    def is_connected(self) -> bool:
        return self.connected

    def is_alive(self) -> bool:
        return True

    def get_seqno(self) -> int:
        return self.seqno

    def get_name(self) -> str:
        return self.name

    def send(self, msg: ovs.jsonrpc.Message) -> int:
        if not self.connected:
            return errno.ENOTCONN
        if jlog.isEnabledFor(logging.DEBUG):
            jlog.debug("%s: send %s", self.name, msg)
        self.outbox.append(jsonrpc.encode(msg.to_json()))
        self.on_output()
        return 0

    def recv(self):
        while self.inbox:
            msg = self.inbox.popleft()
            if msg.type == ovs.jsonrpc.Message.T_REQUEST and msg.method == "echo":
                self.send(ovs.jsonrpc.Message.create_reply(msg.params, msg.id))
            elif msg.type == ovs.jsonrpc.Message.T_REPLY and msg.id == "echo":
                pass
            else:
                return msg
        return None

    def force_reconnect(self) -> None:
        if self.connected:
            self.reconnect_requested = True
            self.on_reconnect()

    def reset_backoff(self) -> None:
        pass

    def close(self) -> None:
        self.set_connected(False)


def parse_remote(remote: str) -> tuple[str, str]:
    """`unix:PATH` -> ("unix", PATH); `tcp:IP:PORT` -> ("tcp", "IP:PORT")."""
    kind, sep, rest = remote.partition(":")
    if not sep or kind not in ("unix", "tcp") or not rest:
        raise ValueError(f"{remote}: unsupported remote (expected unix:PATH or tcp:IP:PORT)")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{remote}: bad tcp remote (expected tcp:IP:PORT)")
    return kind, rest


async def open_remote(remote: str) -> trio.abc.Stream:
    kind, rest = parse_remote(remote)
    if kind == "unix":
        return await trio.open_unix_socket(rest)
    host, _, port = rest.rpartition(":")
    return await trio.open_tcp_stream(host.strip("[]"), int(port))


def make_schema_helper(schema_path: str, tables: dict[str, Iterable[str]] | None = None):
    """A SchemaHelper registering `tables` ({table: columns}) or everything."""
    helper = ovs.db.idl.SchemaHelper(location=schema_path)
    if tables is None:
        helper.register_all()
    else:
        for table, columns in tables.items():
            helper.register_columns(table, list(columns))
    return helper


class TrioIdl:
    """`async with TrioIdl(remote, schema_helper) as idl:` a live replica.

    Attributes: `idl` (the python-ovs Idl: ``tables``, rows), `session`.
    """

    def __init__(self, remote: str, schema_helper, *,
                 write_only: dict[str, Iterable[str]] | None = None,
                 probe_interval: float | None = None):
        self.remotes = [r for r in remote.split(",") if r]
        for r in self.remotes:
            parse_remote(r)
        self.idl = ovs.db.idl.Idl(remote, schema_helper, probe_interval=0)
        self.idl._session.close()
        self.session = QueueSession(self.remotes[0])
        self.idl._session = self.session
        for table, columns in (write_only or {}).items():
            for c in columns:
                self.idl.tables[table].columns[c].alert = False
        self.probe_interval = probe_interval
        self._changed = trio.Event()
        self._output = trio.Event()
        self._drop: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self.session.on_output = self._output.set
        self.session.on_reconnect = self._force_drop

    # -- lifecycle
    async def __aenter__(self) -> "TrioIdl":
        self._nursery_cm = trio.open_nursery()
        self._nursery = await self._nursery_cm.__aenter__()
        self._nursery.start_soon(self._connect_loop)
        return self

    async def __aexit__(self, *exc):
        self._nursery.cancel_scope.cancel()
        try:
            return await self._nursery_cm.__aexit__(*exc)
        finally:
            self.session.close()

    # -- state
    @property
    def tables(self):
        return self.idl.tables

    @property
    def change_seqno(self) -> int:
        return self.idl.change_seqno

    @property
    def has_lock(self) -> bool:
        return self.idl.has_lock

    @property
    def is_lock_contended(self) -> bool:
        return self.idl.is_lock_contended

    @property
    def is_connected(self) -> bool:
        return self.session.connected

    def set_lock(self, name: str | None) -> None:
        self.idl.set_lock(name)

    def state_token(self) -> tuple:
        """Changes whenever a waiter should look again."""
        return (self.idl.change_seqno, self.idl.has_lock, self.idl.is_lock_contended)

    async def wait_for_change(self, token=None) -> None:
        """Return once `state_token()` differs from `token` (an int is taken as a change_seqno)."""
        if token is None:
            token = self.state_token()
        while True:
            now = self.idl.change_seqno if isinstance(token, int) else self.state_token()
            if now != token:
                return
            event = self._changed
            await event.wait()

    async def wait_connected(self) -> None:
        """Return once the first complete replica has arrived."""
        while not self.idl.has_ever_connected():
            await self._changed.wait()

    async def commit(self, build: Callable[[Transaction], object]) -> int:
        """Build (synchronously) and commit a transaction; return its final status."""
        txn = Transaction(self.idl)
        try:
            build(txn)
        except BaseException:
            txn.abort()
            raise
        status = txn.commit()
        self._run_idl()
        while status == INCOMPLETE:
            await self._changed.wait()
            status = txn.commit()
        if status == ERROR:
            log.warning("transaction error: %s", txn.get_error())
        self.last_txn = txn
        return status

    # -- internals
    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _run_idl(self) -> None:
        if self.idl.txn is not None:
            return
        while True:
            self.idl.run()
            if not self.session.inbox:
                break
        self._notify()

    def _force_drop(self) -> None:
        if self._drop is not None:
            self._drop.cancel()

    async def _connect_loop(self) -> None:
        backoff = MIN_BACKOFF
        index = 0
        while True:
            remote = self.remotes[index % len(self.remotes)]
            index += 1
            self.session.name = remote
            log.info("%s: connecting...", remote)
            try:
                stream = await open_remote(remote)
            except OSError as e:
                log.info("%s: connection attempt failed (%s)", remote, e.strerror or e)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            log.info("%s: connected", remote)
            backoff = MIN_BACKOFF
            await self._serve(stream, probes=remote.startswith("tcp:"))
            self.session.set_connected(False)
            self._run_idl()
            log.info("%s: connection closed", remote)
            await trio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _serve(self, stream, probes: bool) -> None:
        session = self.session
        framer = jsonrpc.Framer()
        interval = self.probe_interval or PROBE_INTERVAL

        async def writer():
            while True:
                if not session.outbox:
                    self._output = trio.Event()
                    session.on_output = self._output.set
                    await self._output.wait()
                data = session.take_output()
                if data:
                    await stream.send_all(data)

        async def reader():
            probed = False
            while True:
                if probes:
                    with trio.move_on_after(interval) as cs:
                        data = await stream.receive_some(65536)
                    if cs.cancelled_caught:
                        if probed:
                            log.warning("%s: no response to inactivity probe after %g seconds, "
                                        "disconnecting", session.name, interval)
                            return
                        session.send(ovs.jsonrpc.Message(ovs.jsonrpc.Message.T_REQUEST, "echo",
                                                         [], None, None, "echo"))
                        probed = True
                        continue
                    probed = False
                else:
                    data = await stream.receive_some(65536)
                if not data:
                    return
                for obj in framer.feed(data):
                    msg = ovs.jsonrpc.Message.from_json(obj)
                    if isinstance(msg, str):
                        raise jsonrpc.ProtocolError(msg)
                    if jlog.isEnabledFor(logging.DEBUG):
                        jlog.debug("%s: received %s", session.name, msg)
                    session.inbox.append(msg)
                self._run_idl()

        try:
            async with stream:
                with trio.CancelScope() as self._drop:
                    async with trio.open_nursery() as nursery:
                        session.set_connected(True)
                        self._run_idl()          # get_schema, lock, ... go out now
                        nursery.start_soon(writer)
                        await reader()
                        nursery.cancel_scope.cancel()
        except jsonrpc.ProtocolError as e:
            jlog.warning("%s: received bad JSON-RPC message: %s", session.name, e)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            self._drop = None
