"""Flow, group, meter and packet-out handlers of a bridge (sans-I/O).

Theory of operation
-------------------
:class:`FlowState` is the part of an :class:`~.ofproto.OFProto` that owns
the OpenFlow tables (:class:`~.flowtable.FlowTables`), groups
(:class:`~.groups.GroupTable`) and meters (:class:`~.meters.MeterTable`)
and answers FLOW_MOD (OF1.0, NXT_FLOW_MOD, OF1.1+), flow and aggregate
statistics (OFPST/NXST/OFPMP), GROUP_MOD/NXT_GROUP_MOD and group
statistics, METER_MOD and meter statistics, and PACKET_OUT (validated, then
handed to ``ofproto.packet_out_hook``: execution comes with the datapath).
The flow-table semantics (add/modify/delete rules, check_overlap, flow
limits, timeouts, group/meter references) live in those modules and in
:mod:`.ofputil` (wire <-> spec); this module only connects them to
connections: the connection's NXT_FLOW_MOD_TABLE_ID and flow format, the
FLOW_REMOVED fan-out (rules with ``send_flow_rem``, per connection version
and async filter), and bundles.

Bundles: :meth:`validate_bundle_msg` decodes a flow_mod when it is added
and the connection keeps the spec (its fast path, :mod:`.fastpath`, makes
the spec from the bytes), so :meth:`commit_bundle` only applies.  The
commit is all or nothing: the flow tables log what each message does
(:meth:`.FlowTables.begin`) and undo it on the first error (cost: what the
bundle did, not the size of the tables); groups and meters are copied
first only when the bundle has group or meter mods.  The error comes back
as ``(error, request)`` for the connection to report (OVS's inner error,
then OFPBFC_MSG_FAILED).  FLOW_REMOVED for what the bundle deleted
(deletes, evictions, group and meter deletes) goes out after a successful
commit, in message order; a failed one sends none.

Flow monitors (ofproto.c handle_flow_monitor_request, ofmonitor_report's
callers): :meth:`h_flow_monitor` adds, modifies or deletes a connection's
monitors and answers with the flows the new ones select (INITIAL, each flow
once); NXT/ONFT_FLOW_MONITOR_CANCEL deletes one.  Every change of the tables
becomes ``(event, rule, reason, old ofpacts, xid)`` changes (:func:`_changes`:
an add that evicted reports the evictions, not itself; a replacing add is
ADDED; a modify is MODIFIED only if actions or cookie changed) handed in
batches to the connections that monitor (:meth:`.OFConn.monitor_report`),
only when one does: a flow_mod is one batch (with its connection and xid, for
ABBREV), a bundle one batch after its commit (flows as each message left
them), a group delete one, each deleted meter one, each expired flow one,
each flushed table one.  ``apply_learned`` is the entry for learn actions.

Fail mode: ``add_normal_flow`` adds table 0's ``priority=0 actions=NORMAL``
(an ordinary, deletable flow, as connmgr_flushed adds it after ``flush``);
``set_fail_open_rule`` is fail-open.c's hidden rule (shown only by
``bridge/dump-flows``).
"""
from __future__ import annotations

import collections
import copy
import dataclasses
import itertools

from . import ofconn as oc
from . import ofputil as U
from .flowtable import FlowRule, FlowTables
from .groups import GroupTable
from .meters import MeterTable
from .ofconn import Handler
from .ofp import OFPError
from .ofp import actions as A
from .ofp import groups as G
from .ofp import messages as M
from .ofp import multipart as MP
from .ofp import nicira as NX
from .ofp.match import FlowMatch, Match10

OFPP_MAX, OFPP_NONE = 0xFF00, 0xFFFF
OFPP_CONTROLLER, OFPP_LOCAL, OFPP_NORMAL = 0xFFFD, 0xFFFE, 0xFFFA
NO_BUFFER = 0xFFFFFFFF
OFPRR_DELETE = 2
N_VISIBLE = 254
ENCODE_AHEAD = 1 << 17          # added rules waiting for encode_ahead (older ones drop out)

_NORMAL_FLOW = M.FlowMod(version=1, command=0, priority=0, match=Match10(),
                         actions=(A.Output10(port=OFPP_NORMAL, max_len=0),))
_DELETE_ALL = M.FlowMod(version=1, command=3, match=Match10(), out_port=OFPP_NONE)
# ofproto-dpif.c add_internal_flows: table 254's rules, as bridge/dump-flows
# prints them (the translation implements what they do directly).
_INTERNAL_RULES = ("priority=2,recirc_id=0,actions=drop",
                   "priority=0,reg0=0x1,actions=controller(reason=)",
                   "priority=0,reg0=0x2,actions=drop", "priority=0,reg0=0x3,actions=drop")
FAIL_OPEN_PRIORITY = 0xF0F0F0          # fail-open.h: above every OpenFlow priority


class FlowState:
    """Tables, groups and meters of one bridge, and their handlers."""

    def __init__(self, ofproto, now: float):
        self.ofproto = ofproto
        self.created = now
        self._link(FlowTables(), GroupTable(), MeterTable())
        self._unencoded = collections.deque(maxlen=ENCODE_AHEAD)   # see encode_ahead
        self.sync_config()

    def _link(self, tables, groups, meters) -> None:
        self.tables, self.groups, self.meters = tables, groups, meters
        tables.groups, tables.meters = groups, meters

    def sync_config(self) -> None:
        """Flow_Table rows (flow_limit, overflow_policy, name) -> TableConfig."""
        for tid, cfg in self.ofproto.bridge.flow_tables.items():
            if 0 <= tid < N_VISIBLE:
                t = self.tables.tables[tid]
                t.flow_limit = cfg.get("flow_limit")
                t.overflow_policy = cfg.get("overflow_policy") or "refuse"
                t.name = cfg.get("name") or ""

    def table_counts(self) -> dict:
        return {t: (a, lk, m) for t, a, lk, m in self.tables.table_stats()}

    def add_normal_flow(self, now: float) -> None:
        """connmgr_flushed's ``priority=0 actions=NORMAL`` (an ordinary flow,
        added from inside: no reset_counts, which an OF1.0 flow_mod would carry)."""
        res = self.tables.apply(dataclasses.replace(U.decode_flow_mod(_NORMAL_FLOW),
                                                    flags=frozenset()), now)
        self.ofproto.on_flows_changed(self.ofproto)
        self._monitor(lambda: _changes(res, None))

    def flush(self, now: float) -> None:
        """ofproto_flush_flows: every flow of every table goes (FLOW_REMOVED
        with reason DELETE to those who asked; monitors get one batch per table)."""
        res = self.tables.apply(U.decode_flow_mod(_DELETE_ALL), now)
        self.ofproto.on_flows_changed(self.ofproto)
        self.flow_removed(res.deleted, now)
        if self._monitoring():
            for _, batch in itertools.groupby(res.deleted, key=lambda d: d[0].table_id):
                self._monitor(_removals(batch))

    def set_fail_open_rule(self, on: bool, now: float) -> None:
        """Install or remove fail-open.c's hidden NORMAL rule (see FlowTables)."""
        if on == (self.tables.fail_open_rule is not None):
            return
        rule = None
        if on:
            rule = FlowRule(0, FlowMatch(), 0, ofpacts=U.decode_flow_mod(_NORMAL_FLOW).ofpacts,
                            now=now)
            rule.priority = FAIL_OPEN_PRIORITY      # never in a classifier (they stop at 65535)
        self.tables.fail_open_rule = rule
        self.ofproto.on_flows_changed(self.ofproto)

    def dump_text(self, now: float) -> str:
        """``ovs-appctl bridge/dump-flows`` text (ofproto_get_all_flows)."""
        from .ofp.render import format_actions, format_match
        lines = []
        hidden = [self.tables.fail_open_rule] if self.tables.fail_open_rule is not None else []
        for r in hidden + list(self.tables.rules()):
            acts = U.encode_ofpacts(r.ofpacts, 1, r.match)
            head = f"table_id={r.table_id}, " if r.table_id else ""
            lines.append(f"{head}duration={int(now - r.created)}s, n_packets={r.n_packets}, "
                         f"n_bytes={r.n_bytes}, {format_match(r.match, r.priority)},"
                         f"actions={format_actions(acts)}")
        since = int(now - self.created)
        lines.extend(f"table_id=254, duration={since}s, n_packets=0, n_bytes=0, {rule}"
                     for rule in _INTERNAL_RULES)
        return "".join(line + "\n" for line in lines)

    # -------------------------------------------------- FLOW_REMOVED, timers
    def flow_removed(self, deleted, now: float) -> None:
        for rule, reason in deleted:
            if "send_flow_rem" not in rule.flags:
                continue

            def make(c, rule=rule, reason=reason):
                if c.version == 2:
                    return None
                return U.encode_flow_removed(rule, reason, c.version,
                                             c.version == 1 and c.flow_format == NX.NXFF_NXM,
                                             now)
            self.ofproto.broadcast(oc.FLOW_REMOVED, reason, make)

    def next_expiry(self):
        return self.tables.next_timeout()

    def expire(self, now: float) -> None:
        gone = self.tables.expire(now)
        if gone:
            self.ofproto.on_flows_changed(self.ofproto)
        self.flow_removed(gone, now)
        for g in gone:                      # ofproto_rule_expire: one batch per flow
            self._monitor(lambda g=g: _removals((g,)))

    # -------------------------------------------------- flow monitors
    def _monitoring(self) -> list:
        return [c for c in self.ofproto.conns if c.monitors]

    def _monitor(self, changes, origin=None) -> None:
        """Hand one batch of changes (a list, or a function making it, called
        only when some connection monitors) to every monitoring connection
        (ofmonitor_report for each change, then ofmonitor_flush)."""
        conns = self._monitoring()
        if not conns:
            return
        if callable(changes):
            changes = changes()
        if changes:
            for c in conns:
                c.monitor_report(changes, origin)

    def h_flow_monitor(self, conn, msg, now):
        """ofproto.c handle_flow_monitor_request: add, modify or delete the
        connection's monitors, then reply with the flows the new ones with
        the initial flag select (each once).  A bad monitor undoes the
        monitors this request created (not its deletions)."""
        created = []
        try:
            for m in U.decode_flow_monitor_request(msg):
                if m.table_id != U.OFPTT_ALL and m.table_id >= self.tables.n_tables:
                    raise OFPError("OFPBRC_BAD_TABLE_ID")
                if m.command in (U.OFPFMC_MODIFY, U.OFPFMC_DELETE):
                    if conn.monitors.pop(m.id, None) is None:
                        raise OFPError("OFPMOFC_UNKNOWN_MONITOR")
                    if m.command == U.OFPFMC_DELETE:
                        continue
                elif m.command != U.OFPFMC_ADD:
                    continue                # OVS does nothing for other commands
                if m.id in conn.monitors:
                    raise OFPError("OFPMOFC_MONITOR_EXISTS")
                conn.monitors[m.id] = m
                created.append(m)
        except OFPError:
            for m in created:
                conn.monitors.pop(m.id, None)
            raise
        flags_of: dict = {}
        for m in created:
            if m.flags & U.OFPFMF_INITIAL:
                extra = U.OFPFMF_INITIAL | (m.flags & U.OFPFMF_INSTRUCTIONS)
                for rule in self._monitor_rules(m):
                    flags_of[rule] = flags_of.get(rule, 0) | extra
        v = msg.version
        return U.encode_monitor_reply_for(msg, [
            U.flow_update(r, U.OFPFME_INITIAL, 0, bool(f & U.OFPFMF_INSTRUCTIONS), v)
            for r, f in flags_of.items()])

    def _monitor_rules(self, m) -> list:
        """The flows monitor ``m`` selects now (its table or every visible one)."""
        tids = ([t.table_id for t in self.tables.tables if not t.hidden]
                if m.table_id == U.OFPTT_ALL else [m.table_id])
        return [r for t in tids for r in self.tables.classifier(t).rules(loose=m.match)
                if r.has_out_port(m.out_port) and r.has_out_group(m.out_group)]

    def h_flow_monitor_cancel(self, conn, msg, now):
        """NXT/ONFT_FLOW_MONITOR_CANCEL (OF1.4 cancels with a DELETE request)."""
        if conn.monitors.pop(U.decode_flow_monitor_cancel(msg), None) is None:
            raise OFPError("OFPMOFC_UNKNOWN_MONITOR")

    # -------------------------------------------------- flow mods
    def decode(self, conn, msg):
        return U.decode_flow_mod(msg, table_id_ext=conn.flow_mod_table_id)

    def h_flow_mod(self, conn, msg, now):
        self.apply_spec(conn, self.decode(conn, msg), now)

    def apply_spec(self, conn, spec, now):
        """Execute a decoded flow_mod (also :mod:`.fastpath`'s, from the connection)."""
        res = self.tables.apply(spec, now)
        self.ofproto.on_flows_changed(self.ofproto)
        if res.added is not None:
            self._unencoded.append(res.added)
        if res.deleted:
            self.flow_removed(res.deleted, now)
        self._monitor(lambda: _changes(res, conn.cur_xid), conn)

    def apply_learned(self, spec, now):
        """A ``learn`` action's flow_mod (the datapath glue's side effects):
        applied as a flow_mod from no connection."""
        res = self.tables.apply(spec, now)
        self.flow_removed(res.deleted, now)
        self._monitor(lambda: _changes(res, None))
        return res

    def encode_ahead(self) -> bool:
        """Encode one added rule's flow stats entry in the version it came in
        (:func:`.ofputil.prefill_stats_entry`), for the connection to call
        while it waits for the next message; False when none is left.  A
        dump of many just-added flows then finds them encoded (the encoding
        is most of a first dump's cost) without the adds paying for it."""
        todo = self._unencoded
        while todo:
            rule = todo.popleft()
            if rule.removed is None and rule._wire is None:
                try:
                    U.prefill_stats_entry(rule)
                except OFPError:        # a dump will answer with the error; nothing to keep
                    pass
                return True
        return False

    @staticmethod
    def stats_request(msg):
        """decode_flow_stats_request, plus NXM_NX_COOKIE(_W) in an NXST
        match, which OVS turns into the cookie/cookie_mask filter."""
        req = U.decode_flow_stats_request(msg)
        if req.family == "nx" and "cookie" in req.match:
            ck, ckm = req.match["cookie"]
            rest = FlowMatch((k, vm) for k, vm in req.match.items() if k != "cookie")
            req = dataclasses.replace(req, match=rest, cookie=ck, cookie_mask=ckm)
        return req

    def h_flow_stats(self, conn, msg, now):
        rules = self.tables.collect(self.stats_request(msg))
        return U.encode_flow_stats_wire(msg, rules, now)

    def h_aggregate(self, conn, msg, now):
        rules = self.tables.collect(self.stats_request(msg))
        return U.encode_aggregate_reply(msg, *U.aggregate(rules))

    # -------------------------------------------------- bundles
    def validate_bundle_msg(self, conn, msg, now):
        """Check a message being added to a bundle (OFPError if it cannot be
        applied as such); a flow_mod's FlowModSpec is returned, for the commit."""
        if isinstance(msg, (M.FlowMod, NX.NxFlowMod)):
            return self.decode(conn, msg)
        return None

    def commit_bundle(self, conn, entries, now):
        """Apply a bundle's ``(spec, request)`` entries in order, all or none:
        ``spec`` is a validated flow_mod's FlowModSpec (``request``, its
        message or bytes, is only for the error), None for another message
        (group, meter, port mod, packet out), which its handler executes.
        None when done, ``(error, request)`` when undone."""
        tables = self.tables
        snap = None         # groups and meters as they were, once a message may change them
        deleted, added = [], []
        changes = [] if self._monitoring() else None    # for the monitors, after the commit
        where: dict = {}                                # id(rule) -> its indexes in changes
        req = None
        tables.begin()
        try:
            apply = tables.apply
            for spec, req in entries:
                if spec is not None:
                    res = apply(spec, now)
                    if res.added is not None:
                        added.append(res.added)
                    if res.deleted:
                        deleted.extend(res.deleted)
                    if changes is not None:
                        if res.modified:
                            _freeze_earlier(changes, where, res)
                        for ch in _changes(res, _xid_of(req)):
                            where.setdefault(id(ch[1]), []).append(len(changes))
                            changes.append(ch)
                elif isinstance(req, _GROUP_METER_MODS):
                    if snap is None:        # flow_mods before it changed neither
                        snap = copy.deepcopy((self.groups, self.meters))
                    table = self.meters if isinstance(req, G.MeterMod) else self.groups
                    gone = table.apply(req, now, flows=tables).deleted_flows
                    deleted.extend(gone)
                    if changes is not None:
                        changes.extend(_removals(gone))
                else:
                    self.ofproto.handlers[type(req)].fn(conn, req, now)
        except BaseException as e:
            tables.revert(now)
            if snap is not None:
                self._link(tables, *snap)
            if isinstance(e, OFPError):
                return e, req
            raise
        tables.finish()
        self._unencoded.extend(added)
        self.ofproto.on_flows_changed(self.ofproto)
        self.flow_removed(deleted, now)
        if changes:                         # one batch: OVS flushes once, after the commit
            self._monitor(changes, conn)
        return None

    # -------------------------------------------------- groups and meters
    def h_group_mod(self, conn, msg, now):
        res = self.groups.apply(msg, now, flows=self.tables)
        self.ofproto.on_flows_changed(self.ofproto)
        self.flow_removed(res.deleted_flows, now)
        self._monitor(lambda: _removals(res.deleted_flows))   # from no connection, as OVS

    def h_group_desc(self, conn, msg, now):
        return self.groups.desc_reply(msg)

    def h_group_stats(self, conn, msg, now):
        return self.groups.stats_reply(msg, now, flows=self.tables)

    def h_group_features(self, conn, msg, now):
        return self.groups.features_reply(msg)

    def h_meter_mod(self, conn, msg, now):
        res = self.meters.apply(msg, now, flows=self.tables)
        self.flow_removed(res.deleted_flows, now)
        if res.deleted_flows and self._monitoring():      # meter_destroy: a batch per meter
            for _, batch in itertools.groupby(res.deleted_flows,
                                              key=lambda d: min(d[0].meters, default=None)):
                self._monitor(_removals(batch))

    def h_meter_config(self, conn, msg, now):
        return self.meters.config_reply(msg)

    def h_meter_stats(self, conn, msg, now):
        return self.meters.stats_reply(msg, now, flows=self.tables)

    def h_meter_features(self, conn, msg, now):
        return self.meters.features_reply(msg)

    # -------------------------------------------------- packet out
    def h_packet_out(self, conn, msg, now):
        v = msg.version
        in_port = msg.in_port
        if v >= 6 and msg.match is not None:
            in_port = msg.match.to_flow().value("in_port", OFPP_CONTROLLER)
        p = in_port - 0xFFFF0000 if in_port >= 0xFFFFFF00 else in_port
        if p >= OFPP_MAX and p not in (OFPP_LOCAL, OFPP_NONE, OFPP_CONTROLLER):
            raise OFPError("OFPBRC_BAD_PORT")
        if msg.buffer_id != NO_BUFFER:
            raise OFPError("OFPBRC_BUFFER_UNKNOWN")
        for a in A.iter_actions(msg.actions):
            if type(a).__name__ in ("Output10", "Output"):
                q = a.port - 0xFFFF0000 if a.port >= 0xFFFFFF00 else a.port
                if q >= OFPP_MAX and q not in (0xFFF8, 0xFFF9, 0xFFFA, 0xFFFB, 0xFFFC,
                                                0xFFFD, 0xFFFE):
                    raise OFPError("OFPBAC_BAD_OUT_PORT")
            elif type(a).__name__ == "Group" and a.group_id not in self.groups:
                raise OFPError("OFPBAC_BAD_OUT_GROUP")
        hook = self.ofproto.packet_out_hook
        if hook is not None:
            hook(self.ofproto, msg, now)


_GROUP_METER_MODS = (G.GroupMod, G.NxGroupMod, G.MeterMod)


def _changes(res, xid) -> list:
    """The flow monitor changes ``(event, rule, reason, old ofpacts, xid)`` one
    flow_mod's ModResult makes, as ofproto.c reports them: an add that evicted
    reports the evictions and not itself (add_flow_finish); an add that
    replaced a flow is ADDED; a modify is MODIFIED only when the actions or the
    cookie changed; old actions go along when they changed (out_port filters
    look at them too)."""
    out = [(U.OFPFME_REMOVED, r, reason, None, xid) for r, reason in res.deleted]
    new = res.added
    if new is not None and not any(reason == U.OFPRR_EVICTION for _, reason in res.deleted):
        old = res.replaced
        out.append((U.OFPFME_ADDED, new, 0,
                    old.ofpacts if old is not None and old.ofpacts != new.ofpacts else None,
                    xid))
    for r, (ofpacts, cookie) in zip(res.modified, res.was):
        changed = r.ofpacts != ofpacts
        if changed or r.cookie != cookie:
            out.append((U.OFPFME_MODIFIED, r, 0, ofpacts if changed else None, xid))
    return out


def _freeze_earlier(changes, where, res) -> None:
    """In a bundle, a change reported before a later modify of the same flow
    keeps the flow as it was then (OVS's modify makes a new rule; ours changes
    the rule in place): those entries get a copy with the old actions and
    cookie.  ``where`` indexes ``changes`` by flow."""
    for r, (ofpacts, cookie) in zip(res.modified, res.was):
        for i in where.get(id(r), ()):
            event, rule, reason, old, xid = changes[i]
            if rule is r:
                snap = copy.copy(r)
                snap.set_ofpacts(ofpacts)
                snap.cookie = cookie
                changes[i] = (event, snap, reason, old, xid)


def _removals(deleted) -> list:
    """Changes for ``(rule, reason)`` pairs removed by no connection's request."""
    return [(U.OFPFME_REMOVED, r, reason, None, None) for r, reason in deleted]


def _xid_of(request) -> int:
    """A bundled message's xid (kept decoded, or as its bytes)."""
    if isinstance(request, (bytes, bytearray)):
        return int.from_bytes(request[4:8], "big")
    return request.xid


def _fs(name):
    return lambda c, m, n: getattr(c.bridge.flows, name)(c, m, n)


HANDLERS = {
    M.FlowMod: Handler(_fs("h_flow_mod"), write=True, bundle=True),
    NX.NxFlowMod: Handler(_fs("h_flow_mod"), write=True, bundle=True),
    MP.FlowStatsRequest: Handler(_fs("h_flow_stats")),
    NX.NxFlowStatsRequest: Handler(_fs("h_flow_stats")),
    MP.AggregateStatsRequest: Handler(_fs("h_aggregate")),
    NX.NxAggregateStatsRequest: Handler(_fs("h_aggregate")),
    G.GroupMod: Handler(_fs("h_group_mod"), write=True, bundle=True),
    G.NxGroupMod: Handler(_fs("h_group_mod"), write=True, bundle=True),
    MP.GroupDescRequest: Handler(_fs("h_group_desc")),
    NX.NxGroupDescRequest: Handler(_fs("h_group_desc")),
    MP.GroupStatsRequest: Handler(_fs("h_group_stats")),
    NX.NxGroupStatsRequest: Handler(_fs("h_group_stats")),
    MP.GroupFeaturesRequest: Handler(_fs("h_group_features")),
    G.MeterMod: Handler(_fs("h_meter_mod"), write=True, bundle=True),
    MP.MeterConfigStatsRequest: Handler(_fs("h_meter_config")),
    MP.MeterStatsRequest: Handler(_fs("h_meter_stats")),
    MP.MeterFeaturesRequest: Handler(_fs("h_meter_features")),
    MP.FlowMonitorRequest: Handler(_fs("h_flow_monitor")),
    NX.NxFlowMonitorRequest: Handler(_fs("h_flow_monitor")),
    NX.OnfFlowMonitorRequest: Handler(_fs("h_flow_monitor")),
    NX.NxFlowMonitorCancel: Handler(_fs("h_flow_monitor_cancel")),
    NX.OnfFlowMonitorCancel: Handler(_fs("h_flow_monitor_cancel")),
    M.PacketOut: Handler(_fs("h_packet_out"), write=True, bundle=True),
}
