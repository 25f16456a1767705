"""The trio driver of the datapath's ports: frames in, handed to the datapath in batches.

Theory of operation
-------------------
The datapath core is synchronous and knows no event loop.  This module is
its only contact with trio.  The interface is two calls:

* in: ``on_frames(port, frames)``, a synchronous callback, gets a list of
  frames that arrived on ``port`` (a `datapath.netdev.Netdev`).  The Datapath
  object adapts it to ``receive_batch(port_no, frames, now)``.
* out: the datapath calls ``port.send_batch(frames)`` itself, non-blocking,
  ideally once per output port per input batch.  A full kernel queue drops
  the rest and counts ``tx_dropped``; nothing waits for room.

For each pollable port (AF_PACKET, tap) one task loops::

    await trio.lowlevel.wait_readable(fd)     # the only await per batch
    frames = port.recv_batch(batch)           # drain, non-blocking, ≤ batch frames
    on_frames(port, frames)
    if the batch was full: await trio.lowlevel.checkpoint() and drain again
    else: back to wait_readable

Awaiting per packet costs ~3× in throughput on this class of machine
(`../shared/docs/performance-anchors.md` §4); one wait then a drain of up to
~256 frames does not.  The checkpoint after a full batch keeps a flooded port
from starving the other ports and the control plane in the same process.

Dummy ports need no task: `PortDriver.add_port` gives them a listener, so a
``netdev-dummy/receive`` hands its frames to ``on_frames`` synchronously,
before the unixctl reply.

Resource handling
-----------------
`PortDriver.run` owns a nursery; `add_port`/`remove_port` may be called
before or while it runs.  `remove_port` stops the port's task; `close_port`
also tells trio the descriptor is closing (``notify_closing``) and closes the
port.  The driver never closes a port it was not asked to.

Error handling
--------------
Port I/O errors are counted by the ports (rx/tx dropped or errors) and never
raised here.  An exception from ``on_frames`` is a bug in the datapath: it
propagates and cancels the driver (trio's rule: no silent failures).
"""
from __future__ import annotations

from typing import Callable

import trio

from datapath.netdev import Netdev

DEFAULT_BATCH = 256          # frames drained per wakeup (NETDEV_MAX_BURST is 32; Python pays per wakeup)

OnFrames = Callable[[Netdev, list], None]


class PortDriver:
    """Reads every added port and hands its frames to ``on_frames(port, frames)``."""

    def __init__(self, on_frames: OnFrames, *, batch: int = DEFAULT_BATCH):
        self.on_frames = on_frames
        self.batch = batch
        self._scopes: dict[Netdev, trio.CancelScope | None] = {}
        self._nursery: trio.Nursery | None = None
        self.wakeups = 0          # wait_readable returns; frames/wakeups is the batch size achieved

    @property
    def ports(self) -> list[Netdev]:
        return list(self._scopes)

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serves ports until cancelled (``nursery.start(driver.run)`` returns once it serves)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                for port in list(self._scopes):
                    if port.pollable and self._scopes[port] is None:
                        self._start(port)
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def add_port(self, port: Netdev) -> None:
        if port in self._scopes:
            return
        if not port.pollable:
            self._scopes[port] = None
            on_frames = self.on_frames
            port.set_listener(lambda frames, port=port: on_frames(port, frames))
            return
        self._scopes[port] = None
        if self._nursery is not None:
            self._start(port)

    def remove_port(self, port: Netdev) -> None:
        """Stops serving ``port`` (its task ends at its next checkpoint); the port stays open."""
        scope = self._scopes.pop(port, None)
        if scope is not None:
            scope.cancel()
        if not port.pollable:
            port.set_listener(None)

    def close_port(self, port: Netdev) -> None:
        self.remove_port(port)
        fd = port.fileno()
        if fd is not None and fd >= 0 and not port.closed:
            trio.lowlevel.notify_closing(fd)
        port.close()

    def _start(self, port: Netdev) -> None:
        scope = trio.CancelScope()
        self._scopes[port] = scope
        self._nursery.start_soon(self._serve, port, scope, name=f"port {port.name}")

    async def _serve(self, port: Netdev, scope: trio.CancelScope) -> None:
        fd = port.fileno()
        recv_batch, batch, on_frames = port.recv_batch, self.batch, self.on_frames
        wait_readable, checkpoint = trio.lowlevel.wait_readable, trio.lowlevel.checkpoint
        with scope:
            try:
                while True:
                    await wait_readable(fd)
                    self.wakeups += 1
                    while True:
                        frames = recv_batch(batch)
                        if frames:
                            on_frames(port, frames)
                        if len(frames) < batch:
                            break
                        await checkpoint()        # a full batch: let others run, then drain more
            except trio.ClosedResourceError:
                pass                              # close_port() closed the descriptor under us
