"""The OVSDB JSON-RPC protocol engine: sessions, methods, locks, triggers (sans-I/O).

Theory of operation
-------------------
`Core` owns the databases (including `_Server`), every `Session`, the lock
table and the pending triggers.  The I/O layer feeds each decoded message
to `Core.handle(session, msg, now)` and writes out whatever the session
queued in `session.outbox` (bytes).  Nothing here blocks or awaits; time is
passed in as `now` (seconds, monotonic) and `Core.next_deadline()` tells
the I/O layer when to call `Core.run_timers(now)`.

Ordering promises, as ovsdb-server keeps them:
  * requests on a session are answered in order, except a transaction
    blocked on `wait`, which is answered later while later requests go on;
  * a commit queues every monitor's update, including the committing
    session's, before the committer's reply;
  * a session whose outbox exceeds `BEHIND_BYTES` gets no more update
    messages: its monitors merge changes per row (memory bounded by the
    database, not by the commit rate) until the I/O layer reports the
    outbox drained and calls `session.catch_up()`.

Errors: methods raise `OvsdbError`; `handle` turns it into the error reply.
Protocol violations raise `jsonrpc.ProtocolError` for the I/O layer to
close the connection.
"""
from __future__ import annotations

import json
import logging

from . import jsonrpc
from .database import Database
from .errors import OvsdbError, syntax_error, syntax_of
from .monitor import V1, V2, V3, Monitor, parse_requests
from .schema import SERVER_SCHEMA_JSON, ZERO_UUID, Schema, new_uuid
from .transaction import execute

log = logging.getLogger("ovsdb_jsonrpc_server")
BEHIND_BYTES = 4 * 1024 * 1024
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Trigger:
    __slots__ = ("session", "id", "db", "ops", "started", "deadline")

    def __init__(self, session, id_, db, ops, started, deadline):
        self.session, self.id, self.db, self.ops = session, id_, db, ops
        self.started, self.deadline = started, deadline


class Session:
    def __init__(self, core, name="unix"):
        self.core = core
        self.name = name
        self.outbox: list[bytes] = []
        self.backlog = 0
        self.monitors: dict[str, Monitor] = {}
        self.locks: dict[str, str] = {}            # lock name -> "lock" | "steal"
        self.db_change_aware = False
        self.closed = False
        self.wakeup = None                         # set by the I/O layer
        self.n_requests = 0

    # -- output --------------------------------------------------------------
    def send_bytes(self, data: bytes):
        if self.closed:
            return
        self.outbox.append(data)
        self.backlog += len(data)
        if self.wakeup is not None:
            self.wakeup()

    def send(self, msg: dict):
        self.send_bytes(jsonrpc.encode(msg))

    def take_output(self) -> bytes:
        data = b"".join(self.outbox)
        self.outbox.clear()
        self.backlog = 0
        return data

    @property
    def behind(self) -> bool:
        return self.backlog > BEHIND_BYTES

    def catch_up(self):
        """The outbox drained: send what the monitors merged while we were behind."""
        for mon in list(self.monitors.values()):
            if mon.pending is not None:
                updates = mon.take_pending()
                if updates:
                    self.core.send_update(self, mon, _dumps(updates))

    def holds_lock(self, name) -> bool:
        return self.core.lock_owner(name) is self


class Core:
    def __init__(self):
        self.dbs: dict[str, Database] = {}
        self.sessions: set[Session] = set()
        self.lock_queues: dict[str, list[list]] = {}      # name -> [[session, mode], ...]
        self.triggers: list[Trigger] = []
        self.server_id = new_uuid()
        self.server_db = Database(Schema(SERVER_SCHEMA_JSON))
        self.server_db.read_only = True
        self.dbs["_Server"] = self.server_db
        self._server_rows: dict[str, str] = {}
        self._add_server_row(self.server_db)

    # -- databases ---------------------------------------------------------------
    def add_db(self, db: Database):
        self.dbs[db.name] = db
        self._add_server_row(db)

    def _add_server_row(self, db):
        from .transaction import Transaction, commit
        txn = Transaction(self.server_db)
        uuid = new_uuid()
        table = self.server_db.schema.tables["Database"]
        row = dict(table.defaults)
        row.update(name=(db.name,), model=("standalone",), connected=(True,), leader=(True,),
                   schema=(db.schema.text,) if db is not self.server_db else (db.schema.text,))
        row["_version"] = None
        txn.insert("Database", uuid, row)
        changes = commit(txn)
        self._server_rows[db.name] = uuid
        self.after_commit(self.server_db, changes, None, 0)

    # -- connections -----------------------------------------------------------
    def connect(self, name="unix") -> Session:
        s = Session(self, name)
        self.sessions.add(s)
        return s

    def disconnect(self, session: Session):
        if session.closed:
            return
        session.closed = True
        self.sessions.discard(session)
        self.triggers = [t for t in self.triggers if t.session is not session]
        for name in list(session.locks):
            self._unlock(session, name)
        session.monitors.clear()

    # -- dispatch -------------------------------------------------------------------
    def handle(self, session: Session, msg, now: float):
        kind = jsonrpc.classify(msg)
        if kind in (jsonrpc.REPLY, jsonrpc.ERROR):
            if msg.get("id") == "echo":
                return                  # the answer to our inactivity probe
            raise jsonrpc.ProtocolError("received unexpected reply message")
        method, params, id_ = msg["method"], msg["params"], msg.get("id")
        session.n_requests += 1
        if kind == jsonrpc.NOTIFY:
            if method == "cancel":
                self._cancel(session, params)
            return
        handler = METHODS.get(method)
        if handler is None:
            session.send(jsonrpc.error_reply(id_, "unknown method"))
            return
        try:
            result = handler(self, session, params, id_, now)
        except OvsdbError as e:
            session.send(jsonrpc.error_reply(id_, e.to_json()))
            return
        if result is not _DEFERRED:
            session.send(jsonrpc.reply(id_, result))

    def _db_param(self, params, method):
        if not params or type(params[0]) is not str:
            raise syntax_error(f"{method} request params must begin with <db-name>", params)
        db = self.dbs.get(params[0])
        if db is None:
            raise OvsdbError("unknown database", f"{method} request specifies unknown database {params[0]}",
                             params)
        return db

    # -- transactions and triggers -----------------------------------------------
    def transact(self, session, params, id_, now):
        db = self._db_param(params, "transact")
        outcome = execute(db, params[1:], session, now * 1000)
        if outcome.blocked:
            self.triggers.append(Trigger(session, id_, db, params[1:], now * 1000, outcome.deadline))
            return _DEFERRED
        self.finish(db, outcome, now)
        return outcome.results

    def finish(self, db, outcome, now):
        """Persist and publish a commit (before its reply is queued)."""
        if outcome.changes:
            if db.storage is not None:
                record = db.record_for(outcome.changes, outcome.comment)
                if record is not None:
                    db.storage.append(record, durable=outcome.durable)
            self.after_commit(db, outcome.changes, outcome.txn, now)

    def after_commit(self, db, changes, txn, now):
        cache = {}
        for session in list(self.sessions):
            for mon in list(session.monitors.values()):
                if mon.db is not db:
                    continue
                if session.behind or mon.pending is not None:
                    mon.merge(changes)
                    continue
                key = mon.shape
                if key is not None and key in cache:
                    text = cache[key]
                else:
                    updates = mon.compose(changes)
                    text = _dumps(updates) if updates else None
                    if key is not None:
                        cache[key] = text
                if text is not None:
                    self.send_update(session, mon, text)
        for listener in db.listeners:
            listener(db, changes, txn)
        if self.triggers and txn is not None:
            self._run_triggers(db, now)

    def send_update(self, session, mon, text):
        ident = _dumps(mon.id)
        if mon.version == V3:
            body = f'{{"id":null,"method":"update3","params":[{ident},"{ZERO_UUID}",{text}]}}'
        else:
            body = f'{{"id":null,"method":"{mon.version}","params":[{ident},{text}]}}'
        session.send_bytes(body.encode())

    def _run_triggers(self, db, now):
        progress = True
        while progress:
            progress = False
            for trig in list(self.triggers):
                if trig.db is not db or trig not in self.triggers:
                    continue
                outcome = execute(db, trig.ops, trig.session, now * 1000, trig.started)
                if outcome.blocked:
                    continue
                self.triggers.remove(trig)
                progress = True
                self._complete_trigger(trig, outcome, now)
                break

    def _complete_trigger(self, trig, outcome, now):
        if outcome.changes:
            db = trig.db
            if db.storage is not None:
                record = db.record_for(outcome.changes, outcome.comment)
                if record is not None:
                    db.storage.append(record, durable=outcome.durable)
            self.after_commit(db, outcome.changes, None, now)
        trig.session.send(jsonrpc.reply(trig.id, outcome.results))
        if outcome.changes:
            self._run_triggers(trig.db, now)

    def next_deadline(self):
        deadlines = [t.deadline for t in self.triggers if t.deadline is not None]
        return min(deadlines) / 1000 if deadlines else None

    def run_timers(self, now):
        for trig in list(self.triggers):
            if trig.deadline is not None and now * 1000 >= trig.deadline and trig in self.triggers:
                outcome = execute(trig.db, trig.ops, trig.session, max(now * 1000, trig.deadline), trig.started)
                if outcome.blocked:     # cannot happen past the deadline; be safe
                    continue
                self.triggers.remove(trig)
                self._complete_trigger(trig, outcome, now)

    def _cancel(self, session, params):
        if len(params) != 1:
            return
        for trig in list(self.triggers):
            if trig.session is session and trig.id == params[0]:
                self.triggers.remove(trig)
                if session.db_change_aware:
                    session.send(jsonrpc.error_reply(trig.id, "canceled"))

    # -- locks -----------------------------------------------------------------------
    def lock_owner(self, name):
        q = self.lock_queues.get(name)
        return q[0][0] if q else None

    def _lock_name(self, params, method):
        if len(params) != 1 or type(params[0]) is not str or not params[0]:
            raise syntax_error(f"{method} request params must be <id>", params)
        return params[0]

    def lock(self, session, params, id_, now, steal=False):
        name = self._lock_name(params, "steal" if steal else "lock")
        if name in session.locks:
            raise syntax_error('must issue "unlock" before new "lock"')
        q = self.lock_queues.setdefault(name, [])
        mode = "steal" if steal else "lock"
        session.locks[name] = mode
        if not steal:
            q.append([session, mode])
            return {"locked": len(q) == 1}
        if q:
            victim, vmode = q[0]
            victim.send(jsonrpc.notification("stolen", [name]))
            if vmode == "steal":
                q.pop(0)
                del victim.locks[name]
        q.insert(0, [session, mode])
        return {"locked": True}

    def unlock(self, session, params, id_, now):
        name = self._lock_name(params, "unlock")
        if name not in session.locks:
            raise syntax_error('"unlock" without "lock" or "steal"')
        self._unlock(session, name)
        return {}

    def _unlock(self, session, name):
        session.locks.pop(name, None)
        q = self.lock_queues.get(name, [])
        for i, (s, _) in enumerate(q):
            if s is session:
                del q[i]
                break
        if q:
            # ovsdb-server tells the owner "locked" whenever a waiter leaves.
            q[0][0].send(jsonrpc.notification("locked", [name]))
        else:
            self.lock_queues.pop(name, None)

    # -- monitors -----------------------------------------------------------------------
    def monitor(self, session, params, id_, now, version=V1):
        method = {V1: "monitor", V2: "monitor_cond", V3: "monitor_cond_since"}[version]
        db = self._db_param(params, "monitor")
        need = 4 if version == V3 else 3
        if len(params) < need:
            raise syntax_error(f"{method} request params must be <db-name>, <monitor-id>, <monitor-requests>",
                               params)
        key = syntax_of(params[1])
        if key in session.monitors:
            raise syntax_error("duplicate monitor ID", params[1])
        tables = parse_requests(db, params[2], version)
        mon = Monitor(session, db, params[1], version, tables)
        session.monitors[key] = mon
        initial = mon.initial()
        if version == V3:
            return [False, ZERO_UUID, initial]
        return initial

    def monitor_cond_change(self, session, params, id_, now):
        if len(params) != 3:
            raise syntax_error("monitor_cond_change request params must be <old-monitor-id>, "
                               "<new-monitor-id>, <monitor-requests>", params)
        old_key, new_key = syntax_of(params[0]), syntax_of(params[1])
        mon = session.monitors.get(old_key)
        if mon is None:
            raise syntax_error("unknown monitor session", params[0])
        if new_key != old_key and new_key in session.monitors:
            raise syntax_error("duplicate monitor ID", params[1])
        reqs = params[2]
        if type(reqs) is not dict:
            raise syntax_error("monitor-requests must be an object", reqs)
        from .condition import parse_where
        before = {t: {u for u, r in mon.db.tables[t].items() if tm.visible(u, r)} for t, tm in mon.tables.items()}
        for tname, req in reqs.items():
            tm = mon.tables.get(tname)
            if tm is None:
                raise syntax_error(f"no table named {tname}")
            for r in (req if type(req) is list else [req]):
                if type(r) is not dict:
                    raise syntax_error("table monitor request must be an object", r)
                if "where" in r:
                    tm.condition = parse_where(tm.table, r["where"])
                if "columns" in r:
                    raise syntax_error("changing columns is not supported", r)
        del session.monitors[old_key]
        mon.id = params[1]
        session.monitors[new_key] = mon
        if mon.version != V1:
            from .database import Change
            changes = []
            for tname, tm in mon.tables.items():
                rows = mon.db.tables[tname]
                after = {u for u, r in rows.items() if tm.visible(u, r)}
                for u in after - before[tname]:
                    changes.append(Change(tname, u, None, rows[u], None))
                for u in before[tname] - after:
                    changes.append(Change(tname, u, rows[u], None, None))
            saved = {t: tm.condition for t, tm in mon.tables.items()}
            for tm in mon.tables.values():
                tm.condition = None
            updates = mon.compose(changes)
            for t, tm in mon.tables.items():
                tm.condition = saved[t]
            if updates:
                self.send_update(session, mon, _dumps(updates))
        return {}

    def monitor_cancel(self, session, params, id_, now):
        if len(params) != 1:
            raise syntax_error("monitor_cancel request params must be <monitor-id>", params)
        key = syntax_of(params[0])
        if key not in session.monitors:
            raise OvsdbError("unknown monitor")
        del session.monitors[key]
        return {}


_DEFERRED = object()


def _unknown_monitor_error():
    return OvsdbError("unknown monitor")


def _list_dbs(core, session, params, id_, now):
    return sorted(core.dbs)


def _get_schema(core, session, params, id_, now):
    db = core._db_param(params, "get_schema")
    return db.schema.json


def _echo(core, session, params, id_, now):
    return params


def _set_db_change_aware(core, session, params, id_, now):
    if len(params) != 1 or type(params[0]) is not bool:
        raise syntax_error("set_db_change_aware: true or false parameter expected", params)
    session.db_change_aware = params[0]
    return {}


def _get_server_id(core, session, params, id_, now):
    return core.server_id


METHODS = {
    "list_dbs": _list_dbs,
    "get_schema": _get_schema,
    "transact": Core.transact,
    "echo": _echo,
    "monitor": lambda c, s, p, i, n: c.monitor(s, p, i, n, V1),
    "monitor_cond": lambda c, s, p, i, n: c.monitor(s, p, i, n, V2),
    "monitor_cond_since": lambda c, s, p, i, n: c.monitor(s, p, i, n, V3),
    "monitor_cond_change": Core.monitor_cond_change,
    "monitor_cancel": Core.monitor_cancel,
    "lock": lambda c, s, p, i, n: c.lock(s, p, i, n, steal=False),
    "steal": lambda c, s, p, i, n: c.lock(s, p, i, n, steal=True),
    "unlock": Core.unlock,
    "set_db_change_aware": _set_db_change_aware,
    "get_server_id": _get_server_id,
}
