"""The OpenFlow flow tables of one bridge: flow_mod semantics as ovs-vswitchd.

Theory of operation
-------------------
:class:`FlowTables` holds ``n_tables`` classifiers (Open vSwitch: 255, of
which 0..253 are visible and 254 is the hidden, read-only internal table).
Each rule is a :class:`FlowRule`, a :class:`~.classifier.Rule` that carries
its own flow-table state (the classifier payload is the rule itself).

Everything is synchronous and clock-free: every mutating entry point takes
``now`` (seconds, any monotonic origin) and returns what happened, and the
caller (the connection manager) turns results into FLOW_REMOVED messages,
flow-monitor updates and error replies.  A request either succeeds
completely or raises :class:`~.ofp.OFPError` having changed nothing (checks
run before the first change).

Semantics (verified against ovs-vswitchd 3.1 with ovs-ofctl, see the tests):

* **add** replaces a rule with the same match and priority in the same
  table; the new rule keeps the old one's counters unless the add has
  ``reset_counts`` (which :func:`.ofputil.decode_flow_mod` sets for every
  OF1.0/1.1 add, as OVS does), and always keeps its ``used`` time.
  ``check_overlap`` refuses (OFPFMFC_OVERLAP) a different rule of the same
  priority that some packet could match too; an identical rule is not an
  overlap (it is replaced).  Table 0xff means table 0.
* **modify[_strict]** changes the actions of every (loosely or strictly)
  matching rule, filtered by cookie/cookie_mask (out_port/out_group are
  ignored, as in OVS); timeouts, flags, importance and creation time are
  kept; the cookie changes when the request carries a new one (OF1.0, NXM,
  OF1.1 without cookie mask); counters reset only with the modify's own
  ``reset_counts``.  When nothing matches, OF1.0/NXM/OF1.1 (cookie_mask 0)
  modifies add the flow; OF1.2+ do nothing.
* **delete[_strict]** removes matching rules filtered by cookie, out_port and
  out_group; table 0xff means every visible table.
* The hidden table 254 refuses changes (OFPBRC_EPERM); a table id beyond
  ``n_tables`` is OFPBRC_BAD_TABLE_ID.
* ``group:N`` of a missing group is OFPBAC_BAD_OUT_GROUP and ``meter:N`` of a
  missing meter OFPMMFC_INVALID_METER when ``groups``/``meters`` (anything
  with ``__contains__``) are attached.
* Flow limits: ``TableConfig.flow_limit`` (Flow_Table ``flow_limit``); a new
  rule in a full table is refused with OFPFMFC_TABLE_FULL under
  ``overflow_policy="refuse"``, or evicts the least important rule (lowest
  ``importance``, then the one closest to expiring, then the oldest) under
  ``"evict"`` or with the OF1.4 TABLE_MOD eviction flag (``eviction``).
  Only rules with an idle or hard timeout are evictable (OVS's eviction
  groups hold no others): a table full of permanent rules still refuses.

Transactions (bundle commits): between :meth:`FlowTables.begin` and
:meth:`~FlowTables.finish` every change is also written to an undo log
(OVS's ofproto.c does start/revert/finish per message instead; its
classifier versions rules): an add records the rule and the one it
displaced, a delete or an eviction the rule, a modify the rule's previous
actions, cookie, counters and time, a delete-all the whole classifier it
took out (an empty one goes in its place, so that costs nothing).
:meth:`~FlowTables.revert` undoes the log in reverse order: the very same
rule objects go back, with their counters, timeouts and group/meter
references, and the classifiers' iteration order is put back too
(:meth:`.Classifier.order_mark`).  Cost: proportional to what the
transaction did, not to the size of the tables (a subtable that loses a
rule costs one copy of its key list, for the order).

Lookups (:meth:`FlowTables.lookup`) count per-table ``lookup``/``matched``
statistics; :meth:`credit` adds datapath statistics to a rule.
:meth:`expire` returns the rules whose idle or hard timeout passed, already
removed, with their reason.

Public API: ``FlowRule``, ``TableConfig``, ``ModResult``, ``FlowTables(n_tables=255)``
with ``apply(spec, now)``, ``collect(req)``, ``expire(now)``,
``lookup(table_id, flow, wc=None)``, ``credit(rule, packets, bytes, now)``,
``table_stats()``, ``tables[i]`` (TableConfig), ``n_rules``, ``rules()``,
``remove_rules(rules, now)``, ``rules_with_group(gid)``,
``rules_with_meter(mid)``, ``group_ref_count(gid)``, ``meter_flow_count(mid)``,
``next_timeout()``, ``begin()``/``finish()``/``revert(now)``.
"""

from __future__ import annotations

import dataclasses

from .classifier import Classifier, Rule
from .ofp.match import FlowMatch
from .ofp import OFPError
from .ofputil import (OFPG_ANY, OFPP_ANY, OFPRR_DELETE, OFPRR_EVICTION, OFPRR_HARD_TIMEOUT,
                      OFPRR_IDLE_TIMEOUT, OFPTT_ALL, TBL_INTERNAL, UINT64_MAX, FlowModSpec,
                      FlowStatsRequest, groups_of, meters_of, output_ports)

DEFAULT_MAX_ENTRIES = 1000000
_NONE = frozenset()

# What a delete-all took out of the tables, freed by the next expire() (at most
# a timer period later) rather than before the reply: releasing 100,000 rules
# costs about as much as removing them.  ovs-vswitchd likewise frees deleted
# rules after an RCU grace period (ovsrcu_postpone).  Module-wide: nothing
# per table to copy or keep.
_GRAVEYARD: list = []

# Undo log entries (FlowTables.begin): (_U_ADD, rule, displaced or None),
# (_U_RM, rule), (_U_MOD, rule, previous state), (_U_SWAP, table, classifier, rules).
_U_ADD, _U_RM, _U_MOD, _U_SWAP = range(4)


class FlowRule(Rule):
    """A flow entry: the classifier rule plus OpenFlow state.  Times are in
    the caller's clock (seconds); ``used`` is the last packet (or creation);
    ``modified`` the last add/modify; ``removed`` is set when it leaves."""

    __slots__ = ("table_id", "cookie", "ofpacts", "flags", "idle_timeout", "hard_timeout",
                 "importance", "created", "modified", "used", "removed", "n_packets",
                 "n_bytes", "added_version", "_groups", "_meters", "_outs", "_wire")

    def __init__(self, table_id, match, priority, *, cookie=0, ofpacts=(), flags=frozenset(),
                 idle_timeout=0, hard_timeout=0, importance=0, now=0.0, added_version=4):
        super().__init__(match, priority, None)
        self.payload = self
        self.table_id = table_id
        self.cookie = cookie
        self.set_ofpacts(ofpacts)
        self.flags = frozenset(flags)
        self.idle_timeout = idle_timeout
        self.hard_timeout = hard_timeout
        self.importance = importance
        self.created = self.modified = self.used = now
        self.removed = None
        self.n_packets = 0
        self.n_bytes = 0
        self.added_version = added_version

    @classmethod
    def from_spec(cls, table_id: int, spec: FlowModSpec, now: float) -> "FlowRule":
        """The rule an add ``spec`` makes: ``__init__``'s work without its
        argument handling (once per flow added; a spec's match is a FlowMatch
        and its fields are in range)."""
        r = object.__new__(cls)
        match = spec.match
        r.match = match if isinstance(match, FlowMatch) else FlowMatch(match)
        r.priority = spec.priority
        r.payload = r
        r._next = r._subtable = None
        r.table_id = table_id
        ck = spec.new_cookie
        r.cookie = ck if ck != UINT64_MAX else spec.cookie
        ofpacts = r.ofpacts = tuple(spec.ofpacts)
        r._groups = groups_of(ofpacts) or _NONE
        r._meters = meters_of(ofpacts) or _NONE
        r._outs = r._wire = r.removed = None
        r.flags = frozenset(spec.flags)
        r.idle_timeout = spec.idle_timeout
        r.hard_timeout = spec.hard_timeout
        r.importance = spec.importance
        r.created = r.modified = r.used = now
        r.n_packets = r.n_bytes = 0
        r.added_version = spec.version
        return r

    def set_ofpacts(self, ofpacts):
        self.ofpacts = tuple(ofpacts)
        self._groups = groups_of(self.ofpacts) or _NONE      # shared when empty (memory)
        self._meters = meters_of(self.ofpacts) or _NONE
        self._outs = None
        self._wire = None          # ((family, version), encoded match+actions), for dumps

    @property
    def groups(self) -> set:
        return self._groups

    @property
    def meters(self) -> set:
        return self._meters

    def has_out_port(self, port: int) -> bool:
        if port == OFPP_ANY:
            return True
        if self._outs is None:
            self._outs = output_ports(self.ofpacts)
        return port in self._outs

    def has_out_group(self, group: int) -> bool:
        return group == OFPG_ANY or group in self._groups

    def is_loose_match(self, criteria) -> bool:
        """cls_rule_is_loose_match: the rule is at least as specific as
        ``criteria`` (a FlowMatch) and agrees with it where it looks (the
        test of :meth:`.Classifier.rules` with ``loose``, for one rule)."""
        rm = self.match
        for member, (v, mk) in criteria.items():
            have = rm.get(member)
            if have is None or have[1] & mk != mk or have[0] & mk != v:
                return False
        return True

    def expiry(self) -> tuple[float, int] | None:
        """(time, reason) of the earliest timeout, or None."""
        best = None
        if self.hard_timeout:
            best = (self.modified + self.hard_timeout, OFPRR_HARD_TIMEOUT)
        if self.idle_timeout:
            t = self.used + self.idle_timeout
            if best is None or t < best[0]:
                best = (t, OFPRR_IDLE_TIMEOUT)
        return best

    def __repr__(self):
        from .ofp.render import format_match
        return (f"FlowRule(table={self.table_id},priority={self.priority},"
                f"{format_match(self.match) or '*'})")


@dataclasses.dataclass
class TableConfig:
    """Per-table configuration and statistics (OVS's ``struct oftable``)."""
    table_id: int
    name: str = ""
    max_entries: int = DEFAULT_MAX_ENTRIES
    flow_limit: int | None = None          # Flow_Table flow_limit
    overflow_policy: str = "refuse"        # or "evict"
    miss_config: int = 0                   # OFPTC_* table-miss config (OF1.1/1.2)
    eviction: bool = False                 # OF1.4 table_mod eviction flag
    hidden: bool = False
    readonly: bool = False
    n_lookup: int = 0
    n_matched: int = 0


@dataclasses.dataclass
class ModResult:
    """What a flow_mod did.  ``replaced`` is the rule an add displaced;
    ``deleted`` lists ``(rule, reason)`` (deletes, evictions); ``was`` holds,
    for each rule of ``modified``, its ``(ofpacts, cookie)`` before (flow
    monitors report a modify only when one of them changed)."""
    added: FlowRule | None = None
    replaced: FlowRule | None = None
    modified: list = dataclasses.field(default_factory=list)
    deleted: list = dataclasses.field(default_factory=list)
    was: list = dataclasses.field(default_factory=list)


class FlowTables:
    def __init__(self, n_tables: int = 255):
        self.n_tables = n_tables
        self._cls = [Classifier() for _ in range(n_tables)]
        self.tables = [TableConfig(i) for i in range(n_tables)]
        if n_tables > TBL_INTERNAL:
            t = self.tables[TBL_INTERNAL]
            t.hidden = t.readonly = True
        self.groups = None     # set by the owner: a container of existing group ids
        self.meters = None     # likewise for meter ids
        self._group_refs: dict[int, set] = {}
        self._meter_refs: dict[int, set] = {}
        self._timed: set = set()
        self._undo: list | None = None     # the transaction's undo log (begin/finish)
        self._marks: dict = {}             # id(classifier) -> (classifier, order marks)
        self._swapped: list = []           # classifiers a transaction's delete-all took out
        # fail-open.c's rule: table 0, priority FAIL_OPEN_PRIORITY (above any
        # OpenFlow priority), actions=NORMAL.  Hidden: no dump, stats, delete or
        # table count sees it; lookups in table 0 find it first (it matches all
        # and examines nothing).
        self.fail_open_rule: FlowRule | None = None

    # ------------------------------------------------------------ queries
    @property
    def n_rules(self) -> int:
        return sum(len(c) for c in self._cls)

    @property
    def n_visible_tables(self) -> int:
        return sum(1 for t in self.tables if not t.hidden)

    def classifier(self, table_id: int) -> Classifier:
        return self._cls[table_id]

    def rules(self, table_id: int | None = None):
        ids = range(self.n_tables) if table_id is None else (table_id,)
        for t in ids:
            yield from self._cls[t].rules()

    def _tables_for(self, table_id: int, write: bool):
        if table_id == OFPTT_ALL:
            return [t.table_id for t in self.tables if not t.hidden]
        if table_id >= self.n_tables:
            raise OFPError("OFPBRC_BAD_TABLE_ID", detail=f"table {table_id}")
        if write and self.tables[table_id].readonly:
            raise OFPError("OFPBRC_EPERM", detail=f"table {table_id} is read-only")
        return [table_id]

    def _matching(self, tids, match, priority, strict, cookie, cookie_mask,
                  out_port=OFPP_ANY, out_group=OFPG_ANY):
        out = []
        if (not strict and not match and not cookie_mask and out_port == OFPP_ANY
                and out_group == OFPG_ANY):             # no filter: every rule (dumps)
            for t in tids:
                if len(self._cls[t]):
                    out.extend(self._cls[t].rules())
            return out
        for t in tids:
            c = self._cls[t]
            if strict:
                r = c.find_exactly(match, priority)
                cands = [r] if r is not None else []
            else:
                cands = c.rules(loose=match)
            for r in cands:
                if (r.cookie ^ cookie) & cookie_mask:
                    continue
                if not r.has_out_port(out_port) or not r.has_out_group(out_group):
                    continue
                out.append(r)
        return out

    def collect(self, req: FlowStatsRequest) -> list:
        """Rules a flow/aggregate stats request selects (loose match,
        table, cookie, out_port, out_group), ordered by table."""
        tids = self._tables_for(req.table_id, False)
        rules = self._matching(tids, req.match, 0, False, req.cookie, req.cookie_mask,
                               req.out_port, req.out_group)
        return rules

    def rules_with_group(self, gid: int) -> list:
        return list(self._group_refs.get(gid, ()))

    def rules_with_meter(self, mid: int) -> list:
        return list(self._meter_refs.get(mid, ()))

    def group_ref_count(self, gid: int) -> int:
        return len(self._group_refs.get(gid, ()))

    def meter_flow_count(self, mid: int) -> int:
        return len(self._meter_refs.get(mid, ()))

    # ------------------------------------------------------------ bookkeeping
    def _index(self, r: FlowRule):
        for g in r.groups:
            self._group_refs.setdefault(g, set()).add(r)
        for m in r.meters:
            self._meter_refs.setdefault(m, set()).add(r)
        if r.idle_timeout or r.hard_timeout:
            self._timed.add(r)

    def _unindex(self, r: FlowRule):
        for g in r.groups:
            s = self._group_refs.get(g)
            if s is not None:
                s.discard(r)
                if not s:
                    del self._group_refs[g]
        for m in r.meters:
            s = self._meter_refs.get(m)
            if s is not None:
                s.discard(r)
                if not s:
                    del self._meter_refs[m]
        self._timed.discard(r)

    def _remove(self, r: FlowRule, now):
        cls = self._cls[r.table_id]
        if self._undo is not None:
            ent = self._marks.get(id(cls))
            if ent is None:
                ent = self._marks[id(cls)] = (cls, {})
            cls.order_mark(r, ent[1])
            self._undo.append((_U_RM, r))
        cls.remove(r)
        self._unindex(r)
        r.removed = now

    # ------------------------------------------------------------ transactions
    def begin(self) -> None:
        """Start logging changes for :meth:`revert` (a bundle commit)."""
        self._undo, self._marks, self._swapped = [], {}, []

    def finish(self) -> None:
        """Keep the changes since :meth:`begin`."""
        swapped = self._swapped
        self._undo, self._marks, self._swapped = None, {}, []
        for cls in swapped:             # unlink their rules, as a delete-all outside does
            cls.clear(_GRAVEYARD)

    def revert(self, now: float) -> None:
        """Undo every change since :meth:`begin`, newest first: the tables hold
        the same rule objects in the same state and order as before."""
        undo = self._undo
        self._undo = None
        cls_of = self._cls
        for op in reversed(undo):
            kind = op[0]
            if kind == _U_ADD:
                _, rule, displaced = op
                self._unindex(rule)
                if displaced is None:
                    cls_of[rule.table_id].remove(rule)
                else:
                    cls_of[rule.table_id].insert(displaced)      # back in rule's place
                    displaced.removed = None
                    self._index(displaced)
                rule.removed = now
            elif kind == _U_RM:
                rule = op[1]
                cls_of[rule.table_id].insert(rule)
                rule.removed = None
                self._index(rule)
            elif kind == _U_MOD:
                _, r, old = op
                self._unindex(r)
                (r.ofpacts, r._groups, r._meters, r._outs, r._wire, r.cookie, r.n_packets,
                 r.n_bytes, r.modified) = old
                self._index(r)
            else:
                _, tid, cls, rules = op
                cls_of[tid] = cls
                for r in rules:
                    r.removed = None
                    self._index(r)
        for cls, marks in self._marks.values():
            if any(c is cls for c in cls_of):     # not one a delete-all's undo dropped
                cls.restore_order(marks)
        self._marks, self._swapped = {}, []

    def remove_rules(self, rules, now, reason=OFPRR_DELETE) -> list:
        """Remove ``rules`` (group/meter deletion, bundles); ``[(rule, reason)]``."""
        out = []
        for r in rules:
            if r in self._cls[r.table_id]:
                self._remove(r, now)
                out.append((r, reason))
        return out

    # ------------------------------------------------------------ flow_mod
    def _check_refs(self, spec: FlowModSpec):
        if self.groups is not None:
            for g in groups_of(spec.ofpacts):
                if g not in self.groups:
                    raise OFPError("OFPBAC_BAD_OUT_GROUP", detail=f"group {g} does not exist")
        if self.meters is not None:
            for m in meters_of(spec.ofpacts):
                if m not in self.meters:
                    raise OFPError("OFPMMFC_INVALID_METER", detail=f"meter {m} does not exist")

    def apply(self, spec: FlowModSpec, now: float) -> ModResult:
        """Execute one flow_mod (see the module docstring); raise OFPError
        without changing anything when it is refused."""
        cmd = spec.command
        if cmd == "add":
            return self._add(spec, now)
        if cmd in ("modify", "modify_strict"):
            return self._modify(spec, now, cmd == "modify_strict")
        if cmd in ("delete", "delete_strict"):
            tids = self._tables_for(spec.table_id, True)
            if (cmd == "delete" and not spec.match and not spec.cookie_mask
                    and spec.out_port == OFPP_ANY and spec.out_group == OFPG_ANY):
                return self._delete_all(tids, now)
            rules = self._matching(tids, spec.match, spec.priority, cmd == "delete_strict",
                                   spec.cookie, spec.cookie_mask, spec.out_port, spec.out_group)
            res = ModResult()
            for r in rules:
                self._remove(r, now)
                res.deleted.append((r, OFPRR_DELETE))
            return res
        raise OFPError("OFPFMFC_BAD_COMMAND", detail=f"command {cmd}")

    def _delete_all(self, tids, now: float) -> ModResult:
        """A delete that selects every rule of ``tids``: empty the classifiers
        wholesale (``del-flows``), with the same result as one by one."""
        res = ModResult()
        out = res.deleted
        timed = self._timed
        if len(_GRAVEYARD) > 64:            # nobody runs expire(): do not hoard
            _GRAVEYARD.clear()
        for t in tids:
            cls = self._cls[t]
            if not len(cls):
                continue
            if self._undo is None:
                rules = cls.clear(_GRAVEYARD)
            else:
                # In a transaction: an empty classifier takes this one's place,
                # which stays intact for revert() (finish() unlinks its rules).
                self._cls[t] = Classifier()
                rules = list(cls.rules())
                self._swapped.append(cls)
                self._undo.append((_U_SWAP, t, cls, rules))
            for r in rules:
                if r._groups or r._meters or r in timed:
                    self._unindex(r)
                r.removed = now
                out.append((r, OFPRR_DELETE))
        _GRAVEYARD.append(out)
        return res

    def _add(self, spec: FlowModSpec, now: float) -> ModResult:
        tid = spec.table_id
        if tid == OFPTT_ALL:
            tid = 0
        if tid >= self.n_tables or self.tables[tid].readonly:
            self._tables_for(tid, True)                 # raises
        if spec.ofpacts:
            self._check_refs(spec)
        cls = self._cls[tid]
        cfg = self.tables[tid]
        if ("check_overlap" not in spec.flags and len(cls) < cfg.max_entries
                and (cfg.flow_limit is None or len(cls) < cfg.flow_limit)):
            # The common add: no overlap check and room for one more, so whether a
            # rule is replaced only matters after the insert (which finds it anyway).
            rule = FlowRule.from_spec(tid, spec, now)
            displaced = cls.insert(rule)
            if self._undo is not None:
                self._undo.append((_U_ADD, rule, displaced))
            if displaced is not None:
                rule.used = displaced.used
                if "reset_counts" not in spec.flags:
                    rule.n_packets, rule.n_bytes = displaced.n_packets, displaced.n_bytes
                self._unindex(displaced)
                displaced.removed = now
            self._index(rule)
            return ModResult(added=rule, replaced=displaced)
        old = cls.find_exactly(spec.match, spec.priority)
        if "check_overlap" in spec.flags:
            hit = cls.find_overlap(spec.match, spec.priority, exclude=old)
            if hit is not None:
                raise OFPError("OFPFMFC_OVERLAP", detail=f"overlaps {hit!r}")
        res = ModResult()
        if old is None:
            res.deleted = self._make_room(tid, now)
        rule = FlowRule.from_spec(tid, spec, now)
        if old is not None:
            rule.used = old.used
            if "reset_counts" not in spec.flags:
                rule.n_packets, rule.n_bytes = old.n_packets, old.n_bytes
        displaced = cls.insert(rule)
        if self._undo is not None:
            self._undo.append((_U_ADD, rule, displaced))
        if displaced is not None:
            self._unindex(displaced)
            displaced.removed = now
        self._index(rule)
        res.added, res.replaced = rule, displaced
        return res

    def _make_room(self, tid, now) -> list:
        cfg = self.tables[tid]
        limit = cfg.max_entries if cfg.flow_limit is None else min(cfg.flow_limit,
                                                                   cfg.max_entries)
        cls = self._cls[tid]
        if len(cls) < limit:
            return []
        if cfg.overflow_policy != "evict" and not cfg.eviction:
            raise OFPError("OFPFMFC_TABLE_FULL", detail=f"table {tid} has {len(cls)} flows")
        need = len(cls) - limit + 1
        evictable = [r for r in cls.rules() if r.idle_timeout or r.hard_timeout]
        if len(evictable) < need:
            raise OFPError("OFPFMFC_TABLE_FULL", detail=f"table {tid}: nothing evictable")
        evictable.sort(key=lambda r: (r.importance, (r.expiry() or (float("inf"), 0))[0],
                                      r.created))
        out = []
        for victim in evictable[:need]:
            self._remove(victim, now)
            out.append((victim, OFPRR_EVICTION))
        return out

    def _modify(self, spec: FlowModSpec, now: float, strict: bool) -> ModResult:
        tids = self._tables_for(spec.table_id, True)
        rules = self._matching(tids, spec.match, spec.priority, strict, spec.cookie,
                               spec.cookie_mask)
        if not rules:
            if spec.modify_may_add:
                return self._add(dataclasses.replace(spec, command="add"), now)
            return ModResult()
        self._check_refs(spec)
        res = ModResult()
        undo = self._undo
        for r in rules:
            if undo is not None:
                undo.append((_U_MOD, r, (r.ofpacts, r._groups, r._meters, r._outs, r._wire,
                                         r.cookie, r.n_packets, r.n_bytes, r.modified)))
            self._unindex(r)
            res.was.append((r.ofpacts, r.cookie))
            r.set_ofpacts(spec.ofpacts)
            if spec.modify_cookie:
                r.cookie = spec.new_cookie
            if "reset_counts" in spec.flags:
                r.n_packets = r.n_bytes = 0
            r.modified = now
            self._index(r)
            res.modified.append(r)
        return res

    # ------------------------------------------------------------ time & traffic
    def expire(self, now: float) -> list:
        """Remove and return ``[(rule, OFPRR_IDLE_TIMEOUT|OFPRR_HARD_TIMEOUT)]``
        for every rule whose timeout has passed."""
        _GRAVEYARD.clear()                  # frees what delete-alls left there
        out = []
        for r in list(self._timed):
            e = r.expiry()
            if e is not None and now >= e[0]:
                self._remove(r, now)
                out.append((r, e[1]))
        out.sort(key=lambda x: (x[0].table_id, -x[0].priority))
        return out

    def next_timeout(self) -> float | None:
        """Earliest time at which :meth:`expire` has something to do."""
        ts = [e[0] for e in (r.expiry() for r in self._timed) if e]
        return min(ts) if ts else None

    def lookup(self, table_id: int, flow, wc: dict | None = None) -> FlowRule | None:
        """Classify ``flow`` in ``table_id``, counting lookup/matched."""
        cfg = self.tables[table_id]
        cfg.n_lookup += 1
        if table_id == 0 and self.fail_open_rule is not None:
            cfg.n_matched += 1
            return self.fail_open_rule
        r = self._cls[table_id].lookup(flow, wc)
        if r is not None:
            cfg.n_matched += 1
        return r

    def credit(self, rule: FlowRule, packets: int, bytes_: int, now: float) -> None:
        rule.n_packets += packets
        rule.n_bytes += bytes_
        if packets:
            rule.used = max(rule.used, now)

    def table_stats(self) -> list:
        """``[(table_id, active, lookup, matched)]`` for the visible tables."""
        return [(t.table_id, len(self._cls[t.table_id]), t.n_lookup, t.n_matched)
                for t in self.tables if not t.hidden]
