"""The unixctl control socket, as `ovs-appctl` expects it (trio).

Theory of operation
-------------------
A daemon listens on a Unix socket (by default ``$OVS_RUNDIR/<program>.<pid>.ctl``,
see `daemon.DaemonConfig.unixctl_path`).  Each ``ovs-appctl`` call connects,
sends one JSON-RPC 1.0 request ``{"id":0,"method":CMD,"params":[ARG...]}`` and
reads the reply; the stream uses OVSDB's concatenated-object framing
(`jsonrpc.Framer`).

Command dispatch (`UnixctlServer.execute`) follows lib/unixctl.c: unknown
command, then too few, too many, then non-string arguments, each with Open
vSwitch's error text.  A handler gets the argument strings and returns the
result text (``None`` is ``""``) or raises `UnixctlError(text)`; it may be a
coroutine function.  Non-empty replies get a trailing newline if they lack
one, so ``ovs-appctl`` prints them as the C daemons' replies.  Successful
replies carry ``"result":TEXT,"error":null``; errors carry ``"error":TEXT``
and no result member, byte for byte as the C server frames them.

Resource handling: each connection is served by its own task, one request at
a time and in order (as the C server does).  A message that is not a request
(notification, reply, malformed JSON) closes only that connection.  A reply
is sent shielded from cancellation, so a handler may cancel the daemon (the
``exit`` command) and the client still gets its answer.  `serve` unlinks a
stale socket file before binding and removes the file when it exits.

`ExitController` is the daemon side of stopping: its ``exit`` method is a
ready-made handler for the ``exit`` command, and ``watch_signals`` turns
SIGTERM/SIGINT/SIGHUP into the same clean stop, remembering the signal for
`daemon.exit_process`.
"""
from __future__ import annotations

import inspect
import logging
import os
import signal
import socket as _socket
from dataclasses import dataclass
from typing import Any, Callable

import trio

from . import jsonrpc
from .daemon import VERSION, get_logger, version_string

log = get_logger("unixctl")

REPLY_TIMEOUT = 10.0        # seconds a client may take to accept a reply
MAX_ARGS = 2**31 - 1        # INT_MAX: "any number of arguments"


class UnixctlError(Exception):
    """Raised by a handler: its text becomes the error reply."""


@dataclass
class Command:
    usage: str
    min_args: int
    max_args: int
    handler: Callable[[list[str]], Any]


def _body(text) -> str:
    text = "" if text is None else str(text)
    return text + "\n" if text and not text.endswith("\n") else text


class UnixctlServer:
    """Command table plus a listener; `list-commands` and `version` are built in."""

    def __init__(self, program: str, version: str = VERSION):
        self.program = program
        self.version = version_string(program, version)
        self.commands: dict[str, Command] = {}
        self.register("list-commands", "", 0, 0, self._list_commands)
        self.register("version", "", 0, 0, lambda args: self.version)

    def register(self, name: str, usage: str, min_args: int, max_args: int,
                 handler: Callable[[list[str]], Any]) -> None:
        self.commands[name] = Command(usage, min_args, max_args, handler)

    def _list_commands(self, args) -> str:
        lines = ["The available commands are:\n"]
        # A command registered with usage None is a hidden alias (OVS: deprecated names).
        lines += ["  %-23s %s\n" % (name, self.commands[name].usage) for name in sorted(self.commands)
                  if self.commands[name].usage is not None]
        return "".join(lines)

    async def execute(self, method: str, params: list) -> tuple[bool, str]:
        """Run one command: (success, reply text), with Open vSwitch's checks and texts."""
        cmd = self.commands.get(method)
        if cmd is None:
            return False, _body(f'"{method}" is not a valid command '
                                f'(use "list-commands" to see a list of valid commands)')
        if len(params) < cmd.min_args:
            return False, _body(f'"{method}" command requires at least {cmd.min_args} arguments')
        if len(params) > cmd.max_args:
            return False, _body(f'"{method}" command takes at most {cmd.max_args} arguments')
        if not all(isinstance(p, str) for p in params):
            return False, _body(f'"{method}" command has non-string argument')
        try:
            result = cmd.handler(list(params))
            if inspect.isawaitable(result):
                result = await result
        except UnixctlError as e:
            return False, _body(str(e))
        except Exception as e:       # a buggy handler must not take the daemon down
            log.exception("%s: command failed", method)
            return False, _body(f"{method}: internal error: {e}")
        return True, _body(result)

    async def handle_request(self, msg: dict) -> dict:
        method, params, id_ = msg["method"], msg["params"], msg["id"]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("received request %s%s, id=%s", method,
                      jsonrpc.encode(params).decode(), jsonrpc.encode(id_).decode())
        ok, text = await self.execute(method, params)
        if log.isEnabledFor(logging.DEBUG):
            log.debug('replying with %s, id=%s: "%s"', "success" if ok else "error",
                      jsonrpc.encode(id_).decode(), text)
        return jsonrpc.reply(id_, text) if ok else jsonrpc.error_reply(id_, text)

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        framer = jsonrpc.Framer()
        async with stream:
            try:
                while True:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    for msg in framer.feed(data):
                        kind = jsonrpc.classify(msg)
                        if kind != jsonrpc.REQUEST:
                            log.warning("received unexpected %s message", kind)
                            return
                        reply = jsonrpc.encode(await self.handle_request(msg))
                        with trio.CancelScope(shield=True):
                            with trio.move_on_after(REPLY_TIMEOUT):
                                await stream.send_all(reply)
            except jsonrpc.ProtocolError as e:
                log.warning("closing control connection: %s", e)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    async def serve(self, path: str, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen on Unix socket `path` until cancelled; reports `path` when listening."""
        sock = trio.socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            try:
                os.unlink(path)                 # stale socket of a dead daemon
            except FileNotFoundError:
                pass
            await sock.bind(path)
            os.chmod(path, 0o770 & ~_umask())
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        ident = os.stat(path)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._serve_connection,
                                    [trio.SocketListener(sock)])
                task_status.started(path)
        finally:
            try:
                st = os.stat(path)
                if (st.st_dev, st.st_ino) == (ident.st_dev, ident.st_ino):
                    os.unlink(path)
            except OSError:
                pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)   # Open vSwitch's fatal signals


class ExitController:
    """Stops a daemon's main nursery on `exit` or a fatal signal.

    ``signum`` is the signal that stopped us (None for `exit`), to pass to
    `daemon.exit_process`."""

    def __init__(self, cancel_scope: trio.CancelScope):
        self.cancel_scope = cancel_scope
        self.signum: int | None = None

    def exit(self, args: list[str] = ()) -> None:
        """Handler for the `exit` command: reply "" and stop."""
        self.cancel_scope.cancel()

    async def watch_signals(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(*EXIT_SIGNALS) as signals:
            task_status.started()
            async for signum in signals:
                self.signum = signum
                self.cancel_scope.cancel()
                return
