"""The megaflow cache: the datapath's only flow table (sans-I/O).

Theory of operation
-------------------
A *megaflow* is ``(key, mask) -> actions``: every packet whose flow key ``f``
satisfies ``f[m] & mask[m] == key[m]`` for each member ``m`` of the mask is
forwarded with ``actions``.  The upper layer (classifier + translation)
reports, for the packet that missed, every bit it examined; that is the mask.
A bit wrongly included is safe (a narrower megaflow); a bit wrongly left out
forwards some other packet wrongly.  Flow keys and masks are plain dicts
``member -> int`` with members named as in ``ofproto/ofp/fields.py``; a
member absent from a flow key reads as 0 (as in OVS's zeroed ``struct flow``).

Layout (tuple-space search, as OVS's ``dpcls``):

* megaflows are partitioned by ``in_port``, which is always matched exactly
  (OVS's dpif-netdev refuses a put whose in_port is not exact; we force it
  exact instead, which only narrows the megaflow);
* within a port, one *subtable* per distinct mask: a dict keyed by the
  tuple of masked member values, built by a per-mask compiled key function
  (one dict probe per mask);
* subtables are probed in order of recent hits (:meth:`optimize`, as
  dpcls re-sorts its subtable vector every second).

An optional exact-match front (:meth:`emc_lookup` / :meth:`emc_insert`)
maps any hashable exact key chosen by the caller (dpif uses a header slice
of the frame, so a hit skips flow extraction too) to a megaflow; entries
whose megaflow has died are ignored, so deletes and revalidation never need
to scan it.

Overlap (documented choice).  OVS's dpif-netdev, given a put without a
ufid, looks the put's *unmasked* flow up in the classifier and answers
``EEXIST`` if any installed megaflow already matches it, whatever its mask;
with a ufid it only refuses a duplicate ufid, and partially overlapping
megaflows can coexist.  We refuse both: a duplicate ufid, and a put whose
flow already matches an installed megaflow (``EEXIST``).  That case only
arises from races (two misses of the same megaflow answered one after the
other), and refusing it keeps "one megaflow per packet", so hits never
depend on subtable order.  Megaflows whose *regions* overlap without
covering each other's flow are accepted, as in OVS: if both came from the
same rule set they agree on the intersection, and :meth:`revalidate` removes
whichever is stale after a rule change.

Limits: ``flow_limit`` (OVS ``other_config:flow-limit``, default 200000):
puts beyond it raise ``ENOSPC`` (OVS's upcall handler then executes the
packet without installing).  ``max_idle`` ms (``other_config:max-idle``,
default 10000): :meth:`expire` removes megaflows not used for that long
(OVS counts "never used" from the megaflow's creation).

Statistics (``packets``, ``bytes``, ``used``, ``tcp_flags``) live on each
:class:`Megaflow`; the datapath's hit path updates them inline.  ``owner`` is
opaque to this module: the upper layer stores its xlate cache there to
attribute statistics back to OpenFlow rules.

Nothing here is thread-safe or async; one caller owns the cache.
"""

from __future__ import annotations

import errno
import hashlib
import uuid

__all__ = ["Megaflow", "MegaflowCache", "FlowPutError", "full_mask",
           "DEFAULT_MAX_IDLE", "DEFAULT_FLOW_LIMIT"]

DEFAULT_MAX_IDLE = 10_000       # ms, other_config:max-idle
DEFAULT_FLOW_LIMIT = 200_000    # other_config:flow-limit
EMC_MAX = 8192                  # OVS EM_FLOW_HASH_ENTRIES
OPTIMIZE_INTERVAL = 1_000       # ms, as DPCLS_OPTIMIZATION_INTERVAL

_IN_PORT_MASK = 0xFFFFFFFF

try:                                    # member widths, for the full-mask shortcut
    from .flow import WIDTHS as _WIDTHS
except ImportError:                     # parser not there: always mask
    _WIDTHS = {}


class FlowPutError(Exception):
    """A refused flow operation; ``errno`` is the dpif's answer."""

    def __init__(self, err: int, msg: str = ""):
        super().__init__(err, msg or errno.errorcode.get(err, str(err)))
        self.errno = err


class Megaflow:
    """One installed megaflow with its statistics.

    ``key`` holds the masked values of every member in ``mask`` (nonzero
    masks only, ``in_port`` always present)."""

    __slots__ = ("key", "mask", "actions", "_ufid", "owner", "packets",
                 "bytes", "used", "tcp_flags", "created", "dead", "fast",
                 "_table", "_tkey", "_cache")

    def __init__(self, key, mask, actions, ufid, owner, now, cache=None):
        self.key = key
        self.mask = mask
        self.actions = actions
        self._ufid = ufid
        self._cache = cache
        self.owner = owner
        self.packets = 0
        self.bytes = 0
        self.used = 0           # ms of the last hit, 0 = never
        self.tcp_flags = 0
        self.created = now
        self.dead = False
        self.fast = _fast_ports(actions)

    @property
    def ufid(self):
        """The put's ufid, or one derived from key and mask on first use
        (hashing costs a few µs, so the miss path does not pay it)."""
        u = self._ufid
        if u is None:
            u = self._ufid = _make_ufid(self.key, self.mask)
            if self._cache is not None and not self.dead:
                self._cache._by_ufid.setdefault(u, self)
        return u

    def set_actions(self, actions) -> None:
        self.actions = actions
        self.fast = _fast_ports(actions)

    def matches(self, flow: dict) -> bool:
        g = flow.get
        return all(g(m, 0) & v == self.key[m] for m, v in self.mask.items())

    def __repr__(self):
        return (f"Megaflow(key={self.key}, mask={self.mask}, "
                f"actions={self.actions}, packets={self.packets})")


def _fast_ports(actions):
    """Tuple of output ports when ``actions`` only outputs, else None.

    The hit path uses it to skip the action interpreter entirely."""
    try:
        if all(a[0] == "output" for a in actions):
            return tuple(a[1] for a in actions)
    except (TypeError, IndexError):
        pass
    return None


def full_mask(member_widths: dict, members) -> dict:
    """An exact mask over ``members`` (helper for callers and tests)."""
    return {m: (1 << member_widths[m]) - 1 for m in members}


def _compile_keyfn(members, masks):
    """``keyfn(flow.get) -> tuple`` of masked values, one per member.

    Generated source so the hot path is one call with no Python loop."""
    parts = []
    for i, m in enumerate(members):
        w = _WIDTHS.get(m)
        if w and masks[i] == (1 << w) - 1:     # extracted values fit their width
            parts.append(f"g({m!r}, 0)")
        else:
            parts.append(f"g({m!r}, 0) & {masks[i]:#x}")
    src = "lambda g: (" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if not parts:
        src = "lambda g: ()"
    return eval(src, {})  # noqa: S307 - members are identifiers, masks ints


class _Subtable:
    __slots__ = ("members", "masks", "keyfn", "flows", "hits")

    def __init__(self, members, masks):
        self.members = members
        self.masks = masks
        self.keyfn = _compile_keyfn(members, masks)
        self.flows: dict[tuple, Megaflow] = {}
        self.hits = 0


def _make_ufid(key: dict, mask: dict) -> uuid.UUID:
    """Deterministic ufid from the masked key, as OVS hashes the key."""
    h = hashlib.blake2b(repr(sorted(key.items())).encode()
                        + repr(sorted(mask.items())).encode(), digest_size=16)
    return uuid.UUID(bytes=h.digest())


class MegaflowCache:
    """Masked subtables per in_port, an optional exact-match front, limits."""

    def __init__(self, *, max_idle: int = DEFAULT_MAX_IDLE,
                 flow_limit: int = DEFAULT_FLOW_LIMIT, emc_max: int = EMC_MAX):
        self.max_idle = max_idle
        self.flow_limit = flow_limit
        self.emc_max = emc_max
        # in_port -> subtables in probe order; (in_port, mask sig) -> subtable
        self._ports: dict[int, list[_Subtable]] = {}
        self._tables: dict[tuple, _Subtable] = {}
        self._flows: dict[Megaflow, None] = {}      # insertion-ordered set
        self._by_ufid: dict = {}                    # ufids handed out so far
        self.emc: dict = {}
        self._last_optimize = 0

    # -- lookup --------------------------------------------------------------
    def lookup(self, flow: dict) -> Megaflow | None:
        """The megaflow matching ``flow``, or None (a miss)."""
        tables = self._ports.get(flow.get("in_port", 0))
        if tables is None:
            return None
        g = flow.get
        for st in tables:
            mf = st.flows.get(st.keyfn(g))
            if mf is not None:
                st.hits += 1
                return mf
        return None

    def emc_lookup(self, key) -> Megaflow | None:
        e = self.emc.get(key)
        if e is None or e.dead:
            return None
        return e

    def emc_insert(self, key, mf: Megaflow) -> None:
        emc = self.emc
        if len(emc) >= self.emc_max:
            emc.clear()
        emc[key] = mf

    # -- put / delete ----------------------------------------------------------
    def put(self, flow: dict, mask: dict, actions, now: int, ufid=None,
            owner=None, modify: bool = False) -> Megaflow:
        """Install ``actions`` for packets matching ``flow`` under ``mask``.

        ``flow`` may be the full (unmasked) key of the packet that missed.
        Raises :class:`FlowPutError`: ``EEXIST`` (duplicate ufid, or the flow
        already matches a megaflow and ``modify`` is false), ``EINVAL``
        (``modify`` of a megaflow with a different key/mask), ``ENOSPC``
        (flow limit).  With ``modify`` an existing identical megaflow gets
        the new actions (statistics kept); without an existing one it is
        created."""
        in_port = flow.get("in_port", 0)
        m = {k: v for k, v in mask.items() if v and k != "in_port"}
        members = tuple(sorted(m))
        masks = tuple(m[k] for k in members)
        existing = self._by_ufid.get(ufid) if ufid is not None else None
        if existing is None:
            existing = self.lookup(flow)
        if existing is not None:
            if not modify:
                raise FlowPutError(errno.EEXIST)
            if (existing.key["in_port"] != in_port or
                    existing._table.members != members or
                    existing._table.masks != masks or
                    existing._tkey != existing._table.keyfn(flow.get)):
                raise FlowPutError(errno.EINVAL, "overlapping flow")
            existing.set_actions(actions)
            if owner is not None:
                existing.owner = owner
            return existing
        if len(self._flows) >= self.flow_limit:
            raise FlowPutError(errno.ENOSPC, "flow limit reached")
        sig = (in_port, members, masks)
        st = self._tables.get(sig)
        if st is None:
            st = _Subtable(members, masks)
            self._tables[sig] = st
            self._ports.setdefault(in_port, []).append(st)
        tkey = st.keyfn(flow.get)
        key = dict(zip(members, tkey))
        key["in_port"] = in_port
        full = dict(m)
        full["in_port"] = _IN_PORT_MASK
        # (an identical key+mask would have matched ``flow`` above)
        mf = Megaflow(key, full, actions, ufid, owner, now, self)
        mf._table = st
        mf._tkey = tkey
        st.flows[tkey] = mf
        self._flows[mf] = None
        if ufid is not None:
            self._by_ufid[ufid] = mf
        return mf

    def delete(self, target) -> Megaflow:
        """Remove a megaflow given itself or its ufid; ENOENT if absent."""
        mf = target if isinstance(target, Megaflow) else self._by_ufid.get(target)
        if mf is None or mf.dead or mf not in self._flows:
            raise FlowPutError(errno.ENOENT)
        self._remove(mf)
        return mf

    def _remove(self, mf: Megaflow) -> None:
        mf.dead = True
        del self._flows[mf]
        if mf._ufid is not None and self._by_ufid.get(mf._ufid) is mf:
            del self._by_ufid[mf._ufid]
        st = mf._table
        del st.flows[mf._tkey]
        if not st.flows:
            in_port = mf.key["in_port"]
            del self._tables[(in_port, st.members, st.masks)]
            tables = self._ports[in_port]
            tables.remove(st)
            if not tables:
                del self._ports[in_port]

    def find(self, flow: dict, mask: dict) -> Megaflow | None:
        """The megaflow with exactly this key and mask (for flow_get/del)."""
        in_port = flow.get("in_port", 0)
        m = {k: v for k, v in mask.items() if v and k != "in_port"}
        members = tuple(sorted(m))
        st = self._tables.get((in_port, members, tuple(m[k] for k in members)))
        if st is None:
            return None
        return st.flows.get(st.keyfn(flow.get))

    def get(self, ufid) -> Megaflow | None:
        return self._by_ufid.get(ufid)

    def flush(self) -> list[Megaflow]:
        flows = list(self._flows)
        for mf in flows:
            mf.dead = True
        self._flows.clear()
        self._ports.clear()
        self._tables.clear()
        self._by_ufid.clear()
        self.emc.clear()
        return flows

    def dump(self) -> list[Megaflow]:
        """A snapshot of every installed megaflow, in installation order."""
        return list(self._flows)

    def __len__(self) -> int:
        return len(self._flows)

    @property
    def n_masks(self) -> int:
        return len({(st.members, st.masks) for st in self._tables.values()})

    @property
    def n_subtables(self) -> int:
        return len(self._tables)

    # -- maintenance -------------------------------------------------------------
    def expire(self, now: int, max_idle: int | None = None) -> list[Megaflow]:
        """Remove and return megaflows idle for more than ``max_idle`` ms."""
        limit = self.max_idle if max_idle is None else max_idle
        gone = [mf for mf in self._flows
                if now - (mf.used or mf.created) > limit]
        for mf in gone:
            self._remove(mf)
        return gone

    def optimize(self, now: int | None = None) -> None:
        """Re-sort each port's subtables by hits since the last call."""
        if now is not None:
            if now - self._last_optimize < OPTIMIZE_INTERVAL:
                return
            self._last_optimize = now
        for tables in self._ports.values():
            tables.sort(key=lambda st: st.hits, reverse=True)
            for st in tables:
                st.hits = 0

    def revalidate(self, fn) -> tuple[list[Megaflow], list[Megaflow]]:
        """Re-check every megaflow against the current rules.

        ``fn(megaflow)`` re-translates ``megaflow.key`` (the masked flow) and
        returns None (delete), ``actions`` (keep the mask), or
        ``(actions, mask)``.  As OVS's revalidator, a megaflow is deleted if
        the new mask examines any bit the installed mask wildcards (it would
        now be too wide); otherwise its installed (narrower-or-equal) mask is
        kept and its actions replaced.  Returns ``(deleted, modified)``; the
        deleted ones carry their final statistics."""
        deleted, modified = [], []
        for mf in list(self._flows):
            res = fn(mf)
            if res is None:
                self._remove(mf)
                deleted.append(mf)
                continue
            if isinstance(res, tuple) and len(res) == 2 and isinstance(res[1], dict):
                actions, mask = res
                old = mf.mask
                if any(v & ~old.get(k, 0) for k, v in mask.items()
                       if k != "in_port"):
                    self._remove(mf)
                    deleted.append(mf)
                    continue
            else:
                actions = res
            if actions != mf.actions:
                mf.set_actions(actions)
                modified.append(mf)
        return deleted, modified
