"""A database: its rows, reference counts and unique indexes (sans-I/O).

Theory of operation
-------------------
`Database.tables[name]` maps row UUID -> row dict (column -> canonical
tuple, see schema.py, plus "_version").  Committed rows are never mutated
in place: a transaction copies a row before changing it and `commit()`
swaps the new dicts in, so a row dict handed to a monitor stays valid.

Invariants kept across commits:
  * `refcount[uuid]` is the number of strong references to that row from
    every other row (all tables share one UUID space);
  * `indexes[table][i]` maps the key tuple of index i to the one row that
    holds it;
  * every strong reference names an existing row; non-root rows with no
    strong references do not exist (garbage collection).

The commit pipeline itself (integrity, GC, maxRows, weak refs, indexes)
lives in transaction.py; this module applies an accepted change set and
converts rows to and from the on-disk record format.
"""
from __future__ import annotations

import time

from .schema import Schema, new_uuid


class Change:
    """One row changed by a committed transaction."""

    __slots__ = ("table", "uuid", "old", "new", "columns")

    def __init__(self, table, uuid, old, new, columns):
        self.table, self.uuid, self.old, self.new = table, uuid, old, new
        # Names of changed columns for a modify; None for insert/delete.
        self.columns = columns


class Database:
    def __init__(self, schema: Schema):
        self.schema = schema
        self.name = schema.name
        self.tables: dict[str, dict[str, dict]] = {name: {} for name in schema.tables}
        self.refcount: dict[str, int] = {}
        self.indexes: dict[str, list[dict]] = {name: [{} for _ in t.indexes] for name, t in schema.tables.items()}
        self.read_only = False          # _Server
        self.listeners = []             # callables(db, changes, txn) after every commit
        self.storage = None             # DbFile or None (in-memory)
        self.n_commits = 0

    # -- applying accepted changes ----------------------------------------
    def apply(self, changes: list[Change], refcount_delta: dict | None = None) -> None:
        """Install a validated change set (called by transaction commit and file replay).

        `refcount_delta` (target uuid -> change in strong references), when the
        caller already computed it (the commit pipeline does), saves walking
        every changed reference set again."""
        tables, refcount, schema = self.tables, self.refcount, self.schema
        if refcount_delta is not None:
            for target, d in refcount_delta.items():
                if d:
                    refcount[target] = refcount.get(target, 0) + d
        for ch in changes:
            tschema = schema.tables[ch.table]
            rows = tables[ch.table]
            old, new = ch.old, ch.new
            for col in (tschema.has_strong if refcount_delta is None else ()):
                name = col.name
                if old is not None and new is not None and old[name] == new[name]:
                    continue
                removed, added = col.ref_changes(None if old is None else old[name],
                                                 None if new is None else new[name], "strong")
                for _, target in removed:
                    refcount[target] -= 1
                for _, target in added:
                    refcount[target] = refcount.get(target, 0) + 1
            if old is not None:
                self._unindex(ch.table, ch.uuid, old)
            if new is not None:
                rows[ch.uuid] = new
            else:
                del rows[ch.uuid]
        for ch in changes:
            if ch.new is not None:
                self._index(ch.table, ch.uuid, ch.new)
            elif refcount.get(ch.uuid) == 0:
                del refcount[ch.uuid]
        self.n_commits += 1

    def _index(self, table, uuid, row):
        for i, cols in enumerate(self.schema.tables[table].indexes):
            self.indexes[table][i][tuple(row[c] for c in cols)] = uuid

    def _unindex(self, table, uuid, row):
        for i, cols in enumerate(self.schema.tables[table].indexes):
            idx = self.indexes[table][i]
            key = tuple(row[c] for c in cols)
            if idx.get(key) == uuid:
                del idx[key]

    def notify(self, changes, txn=None):
        for listener in list(self.listeners):
            listener(self, changes, txn)

    # -- the on-disk record format (ovsdb(5)) -------------------------------
    def record_for(self, changes: list[Change], comment: str | None, now: float | None = None) -> dict | None:
        """The file record for a committed change set, or None if nothing persistent changed."""
        tables_json = {}
        for ch in changes:
            tschema = self.schema.tables[ch.table]
            if ch.new is None:
                row_json = None
            elif ch.old is None:
                row_json = {c.name: c.to_json(ch.new[c.name]) for c in tschema.persistent_columns
                            if ch.new[c.name] != c.default}
            else:
                row_json = {}
                for name in ch.columns:
                    col = tschema.columns[name]
                    if col.ephemeral:
                        continue
                    row_json[name] = diff_json(col, ch.old[name], ch.new[name])
                if not row_json:
                    continue
            tables_json.setdefault(ch.table, {})[ch.uuid] = row_json
        if not tables_json:
            return None
        record = {"_date": int((now if now is not None else time.time()) * 1000), "_is_diff": True}
        if comment:
            record["_comment"] = comment
        record.update(tables_json)
        return record

    def snapshot_record(self, comment: str, now: float | None = None) -> dict:
        """All persistent data as one record (compaction)."""
        record = {"_date": int((now if now is not None else time.time()) * 1000), "_is_diff": True,
                  "_comment": comment}
        for name, rows in self.tables.items():
            if not rows:
                continue
            tschema = self.schema.tables[name]
            record[name] = {uuid: {c.name: c.to_json(row[c.name]) for c in tschema.persistent_columns
                                   if row[c.name] != c.default}
                            for uuid, row in rows.items()}
        return record

    def replay(self, record: dict) -> None:
        """Apply one record read from a database file."""
        is_diff = bool(record.get("_is_diff"))
        changes = []
        for tname, rows_json in record.items():
            if tname.startswith("_"):
                continue
            tschema = self.schema.tables.get(tname)
            if tschema is None or not isinstance(rows_json, dict):
                raise ValueError(f"record names unknown table {tname}")
            rows = self.tables[tname]
            for uuid, row_json in rows_json.items():
                old = rows.get(uuid)
                if row_json is None:
                    if old is not None:
                        changes.append(Change(tname, uuid, old, None, None))
                    continue
                new = dict(old) if old is not None else dict(tschema.defaults)
                for name, value_json in row_json.items():
                    col = tschema.columns.get(name)
                    if col is None:
                        continue        # a column the schema no longer has
                    value = col.parse_loose(value_json)
                    if is_diff and old is not None and (col.is_map or col.n_max > 1):
                        value = apply_diff(col, old[name], value)
                    new[name] = value
                new["_version"] = new_uuid()
                changes.append(Change(tname, uuid, old, new, list(row_json) if old is not None else None))
        self.apply(changes)


def diff_json(col, old, new):
    """update2/file-diff encoding of a column change (sets/maps with max > 1 as diffs)."""
    if not (col.is_map or col.n_max > 1):
        return col.to_json(new)
    if col.is_map:
        old_d, new_d = dict(old), dict(new)
        diff = [(k, v) for k, v in old if k not in new_d]
        diff += [(k, v) for k, v in new if old_d.get(k, _MISSING) != v]
        diff.sort()
        return col.to_json(tuple(diff))
    return _set_json(col, tuple(sorted(set(old).symmetric_difference(new))))


def _set_json(col, atoms):
    if col.key.kind == "uuid":
        items = [["uuid", a] for a in atoms]
    else:
        items = list(atoms)
    if len(items) == 1:
        return items[0]
    return ["set", items]


def apply_diff(col, old, diff):
    if col.is_map:
        d = dict(old)
        for k, v in diff:
            if k in d and d[k] == v:
                del d[k]
            else:
                d[k] = v
        return tuple(sorted(d.items()))
    return tuple(sorted(set(old).symmetric_difference(diff)))


_MISSING = object()
