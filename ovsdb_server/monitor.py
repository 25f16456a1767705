"""Monitors: `monitor` (update), `monitor_cond` (update2), `monitor_cond_since` (update3).

Theory of operation
-------------------
A `Monitor` holds, per table, the monitored columns, the select flags and an
optional condition.  `initial()` gives the rows a new monitor starts with;
`compose(changes)` turns one committed change set into that monitor's
<table-updates> JSON, or None when nothing it watches changed.

Formats, as ovsdb-server writes them:
  * v1: insert `{"new": all}`, modify `{"new": all, "old": changed}`,
    delete `{"old": all}` (all = every monitored column, defaults included);
  * v2/v3: `initial`/`insert` carry non-default columns, `modify` the changed
    columns with sets and maps of max > 1 as diffs, `delete` null.
A row moving into or out of a monitor's condition is an insert or a delete.

Unconditional monitors with the same shape compose the same updates, so
`compose` results are cached by shape for the duration of one commit by
the caller (`shape` is None for conditional monitors).
"""
from __future__ import annotations

from .condition import parse_where
from .database import Change, diff_json
from .errors import OvsdbError, syntax_error

SELECT_KEYS = ("initial", "insert", "delete", "modify")
V1, V2, V3 = "update", "update2", "update3"


class TableMonitor:
    __slots__ = ("table", "columns", "select", "condition", "cols")

    def __init__(self, table, columns, select, condition):
        self.table = table
        self.columns = columns          # names in request order (may include _version)
        self.cols = [table.all_columns[c] for c in columns]
        self.select = select            # dict of the four flags
        self.condition = condition      # Condition or None

    def visible(self, uuid, row):
        return self.condition is None or self.condition.matches(uuid, row)


def _parse_select(sel, where_allowed):
    if sel is None:
        return dict.fromkeys(SELECT_KEYS, True)
    if type(sel) is not dict:
        raise syntax_error("Parsing monitor select failed: Object expected.", sel)
    out = {}
    for k in SELECT_KEYS:
        v = sel.get(k, True)
        if type(v) is not bool:
            raise syntax_error(f"Parsing monitor select failed: Type mismatch for member '{k}'.", sel)
        out[k] = v
    return out


def parse_requests(db, requests, version):
    """<monitor-requests> -> {table name: TableMonitor}."""
    if type(requests) is not dict:
        raise syntax_error("monitor requests must be an object", requests)
    tables = {}
    for tname, reqs in requests.items():
        table = db.schema.tables.get(tname)
        if table is None:
            raise OvsdbError("syntax error", f"no table named {tname}")
        if type(reqs) is dict:
            reqs = [reqs]
        elif type(reqs) is not list:
            raise syntax_error("table monitor request must be an object or array", reqs)
        columns, select, condition = [], None, None
        for req in reqs:
            if type(req) is not dict:
                raise syntax_error("table monitor request must be an object", req)
            for k in req:
                if k not in ("columns", "select") and not (k == "where" and version != V1):
                    raise syntax_error(f"Parsing table monitor request failed: Member '{k}' is present "
                                       f"but not allowed here.", req)
            cols = req.get("columns")
            if cols is None:
                cols = list(table.columns) + ["_version"]
            elif type(cols) is not list:
                raise syntax_error("array of column names expected", cols)
            for c in cols:
                if type(c) is not str or c not in table.all_columns or c == "_uuid":
                    raise syntax_error(f"{c} is not a valid column name", [c])
                if c in columns:
                    raise syntax_error("column name mentioned more than once", c)
                columns.append(c)
            s = _parse_select(req.get("select"), version != V1)
            select = s if select is None else {k: select[k] or s[k] for k in SELECT_KEYS}
            if "where" in req:
                if type(req["where"]) is not list:
                    raise syntax_error("where must be an array", req["where"])
                condition = parse_where(table, req["where"])
        if select is None:
            select = dict.fromkeys(SELECT_KEYS, True)
        tables[tname] = TableMonitor(table, columns, select, condition)
    return tables


class Monitor:
    def __init__(self, session, db, mon_id, version, tables):
        self.session = session
        self.db = db
        self.id = mon_id
        self.version = version
        self.tables = tables
        self.pending: dict | None = None     # merged changes while the client is behind
        self.shape = None
        if all(t.condition is None for t in tables.values()):
            self.shape = (version, tuple(sorted((n, tuple(t.columns), tuple(t.select.values()))
                                                for n, t in tables.items())))

    def initial(self):
        out = {}
        for tname, tm in self.tables.items():
            if not tm.select["initial"]:
                continue
            rows = {}
            for uuid, row in self.db.tables[tname].items():
                if tm.visible(uuid, row):
                    rows[uuid] = self._whole(tm, uuid, row, "initial")
            if rows:
                out[tname] = rows
        return out

    def _whole(self, tm, uuid, row, kind):
        if self.version == V1:
            return {"new": _all(tm, row)}
        return {kind: _nondefault(tm, row)}

    def compose(self, changes):
        out = {}
        v1 = self.version == V1
        for ch in changes:
            tm = self.tables.get(ch.table)
            if tm is None:
                continue
            old, new = ch.old, ch.new
            old_vis = old is not None and tm.visible(ch.uuid, old)
            new_vis = new is not None and tm.visible(ch.uuid, new)
            if old_vis and new_vis:
                if not tm.select["modify"]:
                    continue
                changed = [c for c in tm.cols if c.name in ch.columns] if ch.columns is not None else \
                    [c for c in tm.cols if c.name[0] != "_" and old[c.name] != new[c.name]]
                if not changed:
                    continue
                if any(c.name == "_version" for c in tm.cols):
                    changed.append(tm.table.all_columns["_version"])
                if v1:
                    upd = {"new": _all(tm, new), "old": {c.name: _value(c, old) for c in changed}}
                else:
                    upd = {"modify": {c.name: (diff_json(c, old[c.name], new[c.name]) if c.name[0] != "_"
                                               else _value(c, new)) for c in changed}}
            elif new_vis:
                if not tm.select["insert"]:
                    continue
                upd = {"new": _all(tm, new)} if v1 else {"insert": _nondefault(tm, new)}
            elif old_vis:
                if not tm.select["delete"]:
                    continue
                upd = {"old": _all(tm, old)} if v1 else {"delete": None}
            else:
                continue
            out.setdefault(ch.table, {})[ch.uuid] = upd
        return out or None

    # -- clients that fall behind ------------------------------------------
    def merge(self, changes):
        """Fold changes into one pending change per row (bounded by the database size)."""
        pending = self.pending
        if pending is None:
            pending = self.pending = {}
        for ch in changes:
            if ch.table not in self.tables:
                continue
            key = (ch.table, ch.uuid)
            prev = pending.get(key)
            pending[key] = (prev[0] if prev is not None else ch.old, ch.new)

    def take_pending(self):
        pending, self.pending = self.pending, None
        if not pending:
            return None
        changes = [Change(t, u, old, new, None) for (t, u), (old, new) in pending.items()
                   if not (old is None and new is None)]
        return self.compose(changes)


def _value(col, row):
    if col.name == "_version":
        return ["uuid", row["_version"]]
    return col.to_json(row[col.name])


def _all(tm, row):
    return {c.name: _value(c, row) for c in tm.cols}


def _nondefault(tm, row):
    out = {}
    for c in tm.cols:
        if c.name == "_version":
            out["_version"] = ["uuid", row["_version"]]
        else:
            v = row[c.name]
            if v != c.default:
                out[c.name] = c.to_json(v)
    return out
