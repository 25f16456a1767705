"""Packet-in rate limiting: Open vSwitch's pinsched.c and token-bucket.c, sans-I/O.

Theory of operation
-------------------
A Controller row with ``controller_rate_limit`` gives each of its OpenFlow
connections two :class:`PinSched` schedulers (connmgr.c ``schedulers[is_miss]``):
:data:`MISS` for packet-ins whose *internal* reason is a table miss
(``NO_MATCH``, ``EXPLICIT_MISS``, ``IMPLICIT_MISS``) and :data:`ACTION` for
the others.  The management connections (``ovs-ofctl monitor``) have none and
are never limited; a connection without a rate has none either.

Limits (pinsched.c ``adjust_limits``; the schema already makes the rate at
least 100 and the burst at least 25): a rate of 0 or less means 1000, a burst
of 0 or less (the column unset) is rate/4, and at least 1.

The token bucket (:class:`TokenBucket`, lib/token-bucket.c) counts in OVS's
units: ``rate`` tokens per millisecond (the rate in packets/s), a capacity of
``burst * 1000`` tokens, 1000 tokens a packet, time in whole milliseconds
(``time_msec``).  It starts empty with a fill time infinitely long ago, so the
first withdrawal fills it.  It is refilled only when a withdrawal finds fewer
than 1000 tokens, by rate x the milliseconds since the last refill, capped at
the capacity.  So tokens left over from a partly used bucket are spent before
the idle time is credited: a burst after such a pause gets up to
``2 * burst - 1`` packets through at once, as in OVS.

:meth:`PinSched.send` (``pinsched_send``): with nothing queued and a token in
the bucket the packet-in goes out at once (``n_normal``, status
``bypassed``); otherwise it is queued on its ``in_port``'s queue
(``n_limited``, ``queued``) after, if ``burst`` packet-ins are already queued
in all, dropping the *oldest* packet-in of the longest queue (a random one of
equally long queues; ``n_queue_dropped``, ``dropped``).
:meth:`PinSched.run` (``pinsched_run``) releases at most 50 queued packet-ins
per call, one per token, taking the ports round-robin in the iteration order
of OVS's hmap of queues (:class:`~.ofproto.HmapOrder`, keyed by
``hash_int(port)``).  :meth:`PinSched.wake_time` (``pinsched_wait``) is when
``run`` will have work: now if a token is there, else the millisecond after
the bucket will hold one.  :meth:`PinSched.set_limits` keeps the queues and
drops from them (as above) down to the new burst.

Nothing here does I/O or reads a clock: ``now`` (seconds) comes in.
"""
from __future__ import annotations

import math
import random
from collections import deque
from typing import Callable

UINT_MAX = 0xFFFFFFFF               # token_bucket fields are unsigned int (saturating)
TOKENS_PER_PACKET = 1000            # get_token(): the rate is per ms, packets per s
MAX_RUN = 50                        # pinsched_run: packet-ins released per call at most
ACTION, MISS = 0, 1                 # connmgr.c schedulers[is_miss]
STATUS_NAMES = {ACTION: "action", MISS: "miss"}   # Controller.status packet-in-TYPE-*


def _msec(now: float) -> int:
    """time_msec() for ``now`` in seconds.  The nanosecond of slack keeps a
    wake-up time computed as ms/1000 from flooring to the millisecond before."""
    return math.floor(now * 1000 + 1e-6)


def adjust_limits(rate_limit: int, burst_limit: int) -> tuple[int, int]:
    """pinsched.c adjust_limits: (rate, burst) actually used."""
    rate = rate_limit if rate_limit > 0 else 1000
    burst = burst_limit if burst_limit > 0 else rate // 4
    return rate, max(burst, 1)


class TokenBucket:
    """lib/token-bucket.c (see the module docstring); times in ms."""

    def __init__(self, rate: int, burst: int):
        self.rate, self.burst = rate, burst
        self.tokens = 0
        self.last_fill: int | None = None       # None: LLONG_MIN

    def set(self, rate: int, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = min(self.tokens, burst)

    def withdraw(self, n: int, now_ms: int) -> bool:
        if self.tokens < n:
            if self.last_fill is None or now_ms > self.last_fill:
                elapsed = UINT_MAX if self.last_fill is None else min(UINT_MAX,
                                                                     now_ms - self.last_fill)
                tokens = min(UINT_MAX, self.tokens + min(UINT_MAX, self.rate * elapsed))
                self.tokens = min(tokens, self.burst)
                self.last_fill = now_ms
            if self.tokens < n:
                return False
        self.tokens -= n
        return True

    def ready_at(self, n: int) -> int:
        """token_bucket_wait: the ms from which ``n`` tokens can be withdrawn
        (a time already past when they are there)."""
        base = self.last_fill if self.last_fill is not None else 0
        if self.tokens >= n or self.last_fill is None:
            return base
        return base + (n - self.tokens) // self.rate + 1


class PinSched:
    """One packet-in scheduler (see the module docstring).  Messages are
    opaque; ``rand(n)`` picks in ``range(n)`` (OVS's random_range)."""

    def __init__(self, rate_limit: int, burst_limit: int, *,
                 rand: Callable[[int], int] = random.randrange):
        from .ofproto import HmapOrder     # ofproto imports ofconn, which imports us
        rate, burst = adjust_limits(rate_limit, burst_limit)
        self.bucket = TokenBucket(rate, min(UINT_MAX, burst * TOKENS_PER_PACKET))
        self.queues: dict[int, deque] = {}     # in_port -> queued messages, oldest first
        self.order = HmapOrder()               # the queues' hmap: round-robin order
        self.next_txq: int | None = None       # port whose queue run() serves next
        self.n_queued = 0
        self.n_normal = self.n_limited = self.n_queue_dropped = 0
        self.rand = rand

    @property
    def limits(self) -> tuple[int, int]:
        """pinsched_get_limits: (rate, burst) in effect."""
        return self.bucket.rate, self.bucket.burst // TOKENS_PER_PACKET

    def set_limits(self, rate_limit: int, burst_limit: int) -> None:
        rate, burst = adjust_limits(rate_limit, burst_limit)
        self.bucket.set(rate, min(UINT_MAX, burst * TOKENS_PER_PACKET))
        while self.n_queued > burst:
            self._drop()

    # ------------------------------------------------------------ sending
    def send(self, port: int, msg, now: float) -> list:
        """The messages to send now: ``[msg]``, or none when it was queued."""
        if not self.n_queued and self._get_token(now):
            self.n_normal += 1
            return [msg]
        if self.n_queued * TOKENS_PER_PACKET >= self.bucket.burst:
            self._drop()
        q = self.queues.get(port)
        if q is None:
            q = self.queues[port] = deque()
            self.order.insert(port)
        q.append(msg)
        self.n_queued += 1
        self.n_limited += 1
        return []

    def run(self, now: float) -> list:
        """Queued messages whose tokens have come, round-robin over ports."""
        out = []
        # OVS takes the token before testing the count: a 51st token is spent unused.
        while self.n_queued and self._get_token(now) and len(out) < MAX_RUN:
            out.append(self._tx_packet())
        return out

    def wake_time(self) -> float | None:
        """When ``run`` has something to release (seconds), or None."""
        if not self.n_queued:
            return None
        return self.bucket.ready_at(TOKENS_PER_PACKET) / 1000.0

    def status(self, name: str) -> dict[str, str]:
        """Controller.status keys (connmgr_get_controller_info) for ``name``
        ("action" or "miss")."""
        return {f"packet-in-{name}-backlog": str(self.n_queued),
                f"packet-in-{name}-bypassed": str(self.n_normal),
                f"packet-in-{name}-queued": str(self.n_limited),
                f"packet-in-{name}-dropped": str(self.n_queue_dropped)}

    # ------------------------------------------------------------ queues
    def _get_token(self, now: float) -> bool:
        return self.bucket.withdraw(TOKENS_PER_PACKET, _msec(now))

    def _advance(self) -> None:
        """advance_txq: the queue after ``next_txq`` in hmap order (None at the end)."""
        order = list(self.order)
        if self.next_txq is None:
            self.next_txq = order[0] if order else None
        else:
            i = order.index(self.next_txq) + 1
            self.next_txq = order[i] if i < len(order) else None

    def _dequeue(self, port: int):
        q = self.queues[port]
        msg = q.popleft()
        self.n_queued -= 1
        if not q:
            if self.next_txq == port:
                self._advance()
            del self.queues[port]
            self.order.remove(port)
        return msg

    def _tx_packet(self):
        if self.next_txq is None:
            self._advance()
        port = self.next_txq
        self._advance()
        return self._dequeue(port)

    def _drop(self) -> None:
        """drop_packet: the oldest message of the longest queue."""
        self.n_queue_dropped += 1
        longest, n_longest = None, 0
        for port in self.order:
            n = len(self.queues[port])
            if longest is None or len(self.queues[longest]) < n:
                longest, n_longest = port, 1
            elif len(self.queues[longest]) == n:
                n_longest += 1
                if not self.rand(n_longest):          # Knuth 3.4.2R: uniform among equals
                    longest = port
        self._dequeue(longest)
