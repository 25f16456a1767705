"""Executing `transact` requests: the operations and the commit pipeline.

Theory of operation
-------------------
`execute(db, ops, session, now, started)` runs the operations in order
against a private view of the database (`Transaction`), stops at the first
failing operation, and on success commits through ovsdb-server's pipeline:

  1. drop changes that change nothing;
  2. strong reference counts: a reference to a missing row, or deleting a
     row still referenced, fails ("referential integrity violation");
  3. garbage collection: rows of non-root tables left with no strong
     reference are deleted, cascading;
  4. maxRows;
  5. weak references to missing rows are removed (then `min` is checked);
  6. unique indexes.

The reply array follows ovsdb-server: one result per operation; the
failing operation's slot holds its error and the rest are null; a commit
failure appends one more element.  Nothing changes unless every step
passes.

A `wait` operation whose test fails and whose timeout has not expired makes
the whole transaction a trigger: `execute` returns `Outcome.blocked` and
the caller runs it again after later commits or at `deadline`.
`started`/`now` are milliseconds from the caller's clock.
"""
from __future__ import annotations

import functools

from .condition import parse_mutations, parse_where, TRUE
from .database import Change
from .errors import OvsdbError, syntax_error
from .ovsjson import ovs_order
from .schema import Symtab, is_id, is_uuid, new_uuid

_TYPE_CHECKS = {
    "string": lambda v: type(v) is str,
    "id": is_id,
    "array": lambda v: type(v) is list,
    "object": lambda v: type(v) is dict,
    "boolean": lambda v: type(v) is bool,
    "number": lambda v: type(v) in (int, float),
}


class OpParser:
    """ovsdb_parser: member checks whose failures carry the operation as syntax."""

    __slots__ = ("json", "prefix", "used")

    def __init__(self, op, index, count):
        self.json = op
        self.prefix = f"Parsing ovsdb operation {index + 1} of {count} failed: "
        self.used = {"op"}

    def fail(self, msg):
        raise syntax_error(self.prefix + msg, self.json)

    def get(self, name, kind, optional=False):
        if name not in self.json:
            if optional:
                return None
            self.fail(f"Required '{name}' member is missing.")
        value = self.json[name]
        if not _TYPE_CHECKS[kind](value):
            self.fail(f"Type mismatch for member '{name}'.")
        self.used.add(name)
        return value

    def table(self, db):
        name = self.get("table", "id")
        table = db.schema.tables.get(name)
        if table is None:
            self.fail(f"No table named {name}.")
        return table

    def finish(self):
        extra = [k for k in self.json if k not in self.used]
        if extra:
            self.fail(f"Member '{sorted(extra)[0]}' is present but not allowed here.")


class WaitBlocked(Exception):
    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms


class Outcome:
    __slots__ = ("results", "changes", "blocked", "deadline", "durable", "comment", "txn")

    def __init__(self, results=None, changes=None, blocked=False, deadline=None):
        self.results = results
        self.changes = changes or []
        self.blocked = blocked
        self.deadline = deadline
        self.durable = False
        self.comment = None
        self.txn = None


class Transaction:
    def __init__(self, db, session=None, elapsed_ms=0):
        self.db = db
        self.session = session
        self.symtab = Symtab()
        self.touched: dict[str, dict[str, list]] = {}     # table -> uuid -> [old, new]
        self.comments: list[str] = []
        self.durable = False
        self.elapsed_ms = elapsed_ms
        self.wait_timeout = None          # smallest wait timeout seen (ms), None = forever

    # -- the transaction's view of the rows ---------------------------------
    def get(self, table, uuid):
        t = self.touched.get(table)
        if t is not None and uuid in t:
            return t[uuid][1]
        return self.db.tables[table].get(uuid)

    def rows(self, table):
        """(uuid, row) for every row in the view, committed order first."""
        t = self.touched.get(table)
        if not t:
            yield from self.db.tables[table].items()
            return
        for uuid, row in self.db.tables[table].items():
            if uuid in t:
                row = t[uuid][1]
                if row is None:
                    continue
            yield uuid, row
        for uuid, (old, new) in t.items():
            if old is None and new is not None:
                yield uuid, new

    def query(self, table, cond):
        if cond.uuid_hint is not None:
            row = self.get(table.name, cond.uuid_hint)
            if row is not None and cond.matches(cond.uuid_hint, row):
                return [(cond.uuid_hint, row)]
            return []
        if cond is TRUE:
            return list(self.rows(table.name))
        return [(u, r) for u, r in self.rows(table.name) if cond.matches(u, r)]

    def writable(self, table, uuid):
        t = self.touched.setdefault(table, {})
        entry = t.get(uuid)
        if entry is None:
            old = self.db.tables[table][uuid]
            entry = t[uuid] = [old, dict(old)]
        elif entry[1] is entry[0]:
            entry[1] = dict(entry[0])
        return entry[1]

    def insert(self, table, uuid, row):
        self.touched.setdefault(table, {})[uuid] = [None, row]

    def delete(self, table, uuid):
        t = self.touched.setdefault(table, {})
        entry = t.get(uuid)
        if entry is None:
            t[uuid] = [self.db.tables[table][uuid], None]
        else:
            entry[1] = None

    def exists(self, table, uuid):
        return self.get(table, uuid) is not None


# -- row parsing ----------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _ovs_order(keys: tuple) -> list:
    return ovs_order(keys)


def parse_row(table, row_json, symtab, *, for_update=False, op_json=None):
    """Row JSON -> {column: value}; unknown columns, bad values and, for
    update, immutable columns give ovsdb-server's errors."""
    out = {}
    for name in (_ovs_order(tuple(row_json)) if len(row_json) > 1 else row_json):
        value_json = row_json[name]
        col = table.all_columns.get(name)
        if col is None:
            raise OvsdbError("unknown column", f"No column {name} in table {table.name}.", row_json)
        out[name] = col.parse(value_json, symtab)
    if for_update:
        for name in out:
            if not table.all_columns[name].mutable:
                raise OvsdbError("constraint violation",
                                 f"Cannot update immutable column {name} in table {table.name}.", op_json)
    return out


def _columns(table, columns_json, default_all=True):
    if columns_json is None:
        return ["_uuid", "_version"] + list(table.columns) if default_all else None
    if any(type(c) is not str for c in columns_json) or len(set(columns_json)) != len(columns_json):
        raise syntax_error("array of distinct column names expected", columns_json)
    for c in columns_json:
        if c not in table.all_columns:
            raise syntax_error(f"{c} is not a valid column name", columns_json)
    return columns_json


def _row_json(table, uuid, row, columns):
    out = {}
    for name in columns:
        if name == "_uuid":
            out[name] = ["uuid", uuid]
        elif name == "_version":
            out[name] = ["uuid", row["_version"]]
        else:
            out[name] = table.columns[name].to_json(row[name])
    return out


def _check_writable(txn, p, table, what):
    if txn.db.read_only:
        raise OvsdbError("not allowed",
                         f"{what} operation not allowed on table in reserved database {txn.db.name}")


# -- the operations (ovsdb-server's execution.c table) ---------------------------

def op_insert(txn, p):
    table = p.table(txn.db)
    uuid_name = p.get("uuid-name", "id", optional=True)
    row_json = p.get("row", "object")
    uuid_json = p.get("uuid", "string", optional=True)
    p.finish()
    _check_writable(txn, p, table, "insert")
    if uuid_json is not None:
        if not is_uuid(uuid_json):
            raise syntax_error("bad uuid", uuid_json)
        uuid = uuid_json.lower()
        if txn.get(table.name, uuid) is not None or uuid in txn.touched.get(table.name, {}):
            raise OvsdbError("duplicate uuid", "This UUID would duplicate a UUID already present within "
                             "the table or deleted within the same transaction.", uuid_json)
    else:
        uuid = None
    if uuid_name is not None:
        entry = txn.symtab.get(uuid_name)
        if entry is not None and entry[1]:
            raise OvsdbError("duplicate uuid-name", 'This "uuid-name" appeared on an earlier "insert" operation.',
                             uuid_name)
        if entry is None:
            entry = txn.symtab[uuid_name] = [uuid or new_uuid(), True]
        else:
            entry[1] = True
            if uuid is not None:
                entry[0] = uuid
        uuid = entry[0]
    elif uuid is None:
        uuid = new_uuid()
    values = parse_row(table, row_json, txn.symtab)
    row = dict(table.defaults)
    for name, value in values.items():
        if name[0] != "_":
            row[name] = value
    row["_version"] = None
    txn.insert(table.name, uuid, row)
    return {"uuid": ["uuid", uuid]}


def op_select(txn, p):
    table = p.table(txn.db)
    where = p.get("where", "array")
    columns_json = p.get("columns", "array", optional=True)
    p.finish()
    cond = parse_where(table, where, txn.symtab)
    columns = _columns(table, columns_json)
    # ovsdb_query_distinct: rows equal in the selected columns are returned once.
    rows, seen = [], set()
    for u, r in txn.query(table, cond):
        key = tuple((u,) if c == "_uuid" else (r["_version"],) if c == "_version" else r[c] for c in columns)
        if key not in seen:
            seen.add(key)
            rows.append(_row_json(table, u, r, columns))
    return {"rows": rows}


def op_update(txn, p):
    table = p.table(txn.db)
    where = p.get("where", "array")
    row_json = p.get("row", "object")
    p.finish()
    _check_writable(txn, p, table, "update")
    values = parse_row(table, row_json, txn.symtab, for_update=True, op_json=p.json)
    cond = parse_where(table, where, txn.symtab)
    matches = txn.query(table, cond)
    for uuid, _ in matches:
        txn.writable(table.name, uuid).update(values)
    return {"count": len(matches)}


def op_mutate(txn, p):
    table = p.table(txn.db)
    where = p.get("where", "array")
    mutations_json = p.get("mutations", "array")
    p.finish()
    _check_writable(txn, p, table, "mutate")
    mutations = parse_mutations(table, mutations_json, txn.symtab)
    cond = parse_where(table, where, txn.symtab)
    matches = txn.query(table, cond)
    for uuid, _ in matches:
        row = txn.writable(table.name, uuid)
        for name, mutate in mutations:
            row[name] = mutate(row[name])
    return {"count": len(matches)}


def op_delete(txn, p):
    table = p.table(txn.db)
    where = p.get("where", "array")
    p.finish()
    _check_writable(txn, p, table, "delete")
    cond = parse_where(table, where, txn.symtab)
    matches = txn.query(table, cond)
    for uuid, _ in matches:
        txn.delete(table.name, uuid)
    return {"count": len(matches)}


def op_wait(txn, p):
    table = p.table(txn.db)
    where = p.get("where", "array")
    columns_json = p.get("columns", "array", optional=True)
    until = p.get("until", "string")
    rows_json = p.get("rows", "array")
    timeout = p.get("timeout", "number", optional=True)
    p.finish()
    cond = parse_where(table, where, txn.symtab)
    # No "columns" means every column, _uuid and _version included (so a
    # "rows" entry can only match if it names both).
    columns = _columns(table, columns_json)
    if timeout is not None:
        if timeout < 0:
            raise syntax_error("timeout must be nonnegative", timeout)
        if txn.wait_timeout is None or timeout < txn.wait_timeout:
            txn.wait_timeout = timeout
    if until not in ("==", "!="):
        raise syntax_error('"until" must be "==" or "!="', until)
    defaults = [table.all_columns[c].default for c in columns]
    expected = set()
    for rj in rows_json:
        if type(rj) is not dict:
            raise syntax_error("expected object", rj)
        values = parse_row(table, rj, txn.symtab)
        expected.add(tuple(values.get(c, d) for c, d in zip(columns, defaults)))
    # Both sides are sets of projected rows (ovsdb_row_hash), duplicates ignored.
    actual = {tuple((uuid,) if c == "_uuid" else (row["_version"],) if c == "_version" else row[c]
                    for c in columns)
              for uuid, row in txn.query(table, cond)}
    equal = actual == expected
    if equal != (until == "=="):
        limit = txn.wait_timeout
        if limit is not None and txn.elapsed_ms >= limit:
            if txn.elapsed_ms:
                raise OvsdbError("timed out", f'"wait" timed out after {int(txn.elapsed_ms)} ms')
            raise OvsdbError("timed out", '"where" clause test failed')
        raise WaitBlocked(limit)
    return {}


def op_commit(txn, p):
    durable = p.get("durable", "boolean")
    p.finish()
    if durable:
        txn.durable = True
    return {}


def op_abort(txn, p):
    p.finish()
    raise OvsdbError("aborted", "aborted by request")


def op_comment(txn, p):
    comment = p.get("comment", "string")
    p.finish()
    txn.comments.append(comment)
    return {}


def op_assert(txn, p):
    name = p.get("lock", "id")
    p.finish()
    session = txn.session
    if session is None or not session.holds_lock(name):
        raise OvsdbError("not owner", f"Asserted lock {name} not held.")
    return {}


OPERATIONS = {
    "insert": op_insert, "select": op_select, "update": op_update, "mutate": op_mutate,
    "delete": op_delete, "wait": op_wait, "commit": op_commit, "abort": op_abort,
    "comment": op_comment, "assert": op_assert,
}


def execute(db, ops: list, session=None, now_ms: float = 0.0, started_ms: float | None = None) -> Outcome:
    elapsed = 0 if started_ms is None else max(0, now_ms - started_ms)
    txn = Transaction(db, session, elapsed)
    results = []
    n = len(ops)
    for i, op in enumerate(ops):
        try:
            if type(op) is not dict:
                raise syntax_error(f"Parsing ovsdb operation {i + 1} of {n} failed: Object expected.")
            p = OpParser(op, i, n)
            name = p.get("op", "string")
            handler = OPERATIONS.get(name)
            if handler is None:
                p.fail(f'No operation "{name}"')
            results.append(handler(txn, p))
        except WaitBlocked as w:
            start = now_ms if started_ms is None else started_ms
            deadline = None if w.timeout_ms is None else start + w.timeout_ms
            return Outcome(blocked=True, deadline=deadline)
        except OvsdbError as e:
            results.append(e.to_json())
            results.extend([None] * (n - len(results)))
            return Outcome(results)
    try:
        changes = commit(txn)
    except OvsdbError as e:
        results.append(e.to_json())
        return Outcome(results)
    out = Outcome(results, changes)
    out.durable = txn.durable
    out.comment = "\n".join(txn.comments) if txn.comments else None
    out.txn = txn
    return out


# -- commit ---------------------------------------------------------------------

def commit(txn) -> list[Change]:
    db, schema = txn.db, txn.db.schema
    # 1. Drop no-op changes.
    for tname, rows in txn.touched.items():
        for uuid in [u for u, (old, new) in rows.items() if (old is None and new is None) or (
                old is not None and new is not None and _same(old, new))]:
            del rows[uuid]
    if not any(txn.touched.values()):
        return []

    # 2. Strong reference counts and dangling references.
    delta: dict[str, int] = {}
    for tname, rows in txn.touched.items():
        tschema = schema.tables[tname]
        if not tschema.has_strong:
            continue
        for uuid, (old, new) in rows.items():
            for col in tschema.has_strong:
                name = col.name
                if old is not None and new is not None and old[name] == new[name]:
                    continue
                removed, added = col.ref_changes(None if old is None else old[name],
                                                 None if new is None else new[name], "strong")
                for _, target in removed:
                    delta[target] = delta.get(target, 0) - 1
                for ref_table, target in added:
                    if txn.get(ref_table, target) is None:
                        raise OvsdbError("referential integrity violation",
                                         f"Table {tname} column {name} row {uuid} references nonexistent "
                                         f"row {target} in table {ref_table}.")
                    delta[target] = delta.get(target, 0) + 1
    refcount = db.refcount

    def count(u):
        return refcount.get(u, 0) + delta.get(u, 0)

    for tname, rows in txn.touched.items():
        for uuid, (old, new) in rows.items():
            if new is None and old is not None:
                n = count(uuid)
                if n > 0:
                    raise OvsdbError("referential integrity violation",
                                     f"cannot delete {tname} row {uuid} because of {n} remaining reference(s)")

    # 3. Garbage collection of unreferenced non-root rows, cascading.
    candidates = []
    for tname, rows in txn.touched.items():
        if not schema.tables[tname].is_root:
            candidates.extend((tname, u) for u, (_, new) in rows.items() if new is not None)
    for target, d in delta.items():
        if d < 0:
            candidates.append((None, target))
    while candidates:
        tname, uuid = candidates.pop()
        if tname is None:
            tname = _table_of(txn, uuid)
            if tname is None or schema.tables[tname].is_root:
                continue
        row = txn.get(tname, uuid)
        if row is None or count(uuid) > 0:
            continue
        tschema = schema.tables[tname]
        entry = txn.touched.setdefault(tname, {}).get(uuid)
        if entry is None:
            txn.touched[tname][uuid] = [row, None]
        elif entry[0] is None:
            del txn.touched[tname][uuid]
        else:
            entry[1] = None
        for col in tschema.has_strong:
            for ref_table, target in col.refs(row[col.name], "strong"):
                delta[target] = delta.get(target, 0) - 1
                candidates.append((ref_table, target))

    # 4. maxRows.
    for tname, rows in txn.touched.items():
        tschema = schema.tables[tname]
        if tschema.max_rows is None:
            continue
        n = len(db.tables[tname]) + sum(1 for old, new in rows.values() if old is None and new is not None) \
            - sum(1 for old, new in rows.values() if old is not None and new is None)
        if n > tschema.max_rows:
            raise OvsdbError("constraint violation",
                             f'transaction causes "{tname}" table to contain {n} rows, greater than the '
                             f"schema-defined limit of {tschema.max_rows} row(s)")

    # 5. Weak references.
    _weak_refs(txn)

    # 6. Unique indexes.
    _check_indexes(txn)

    # Build the change set.
    changes = []
    for tname, rows in txn.touched.items():
        for uuid, (old, new) in rows.items():
            if new is not None:
                new["_version"] = new_uuid()
                if old is not None:
                    cols = [c for c in schema.tables[tname].columns if old[c] != new[c]]
                    if not cols:
                        continue
                    changes.append(Change(tname, uuid, old, new, cols))
                    continue
            changes.append(Change(tname, uuid, old, new, None))
    db.apply(changes, delta)
    return changes


def _same(old, new):
    for k, v in new.items():
        if k != "_version" and old[k] != v:
            return False
    return True


def _table_of(txn, uuid):
    for tname, rows in txn.touched.items():
        if uuid in rows:
            return tname
    for tname, rows in txn.db.tables.items():
        if uuid in rows:
            return tname
    return None


def _weak_refs(txn):
    schema = txn.db.schema
    deleted = {}
    for tname, rows in txn.touched.items():
        for uuid, (old, new) in rows.items():
            if new is None and old is not None:
                deleted.setdefault(tname, set()).add(uuid)
    # Rows that may now hold dangling weak refs: changed rows, and referrers of deleted rows.
    check = []
    for tname, rows in txn.touched.items():
        if schema.tables[tname].has_weak:
            check.extend((tname, u) for u, (_, new) in rows.items() if new is not None)
    for target_table in deleted:
        for tname, cname in schema.weak_referrers.get(target_table, ()):
            for uuid, row in list(txn.rows(tname)):
                check.append((tname, uuid))
    seen = set()
    for tname, uuid in check:
        if (tname, uuid) in seen:
            continue
        seen.add((tname, uuid))
        row = txn.get(tname, uuid)
        if row is None:
            continue
        tschema = schema.tables[tname]
        for col in tschema.has_weak:
            value = row[col.name]
            kept = _drop_missing(txn, col, value)
            if len(kept) != len(value):
                row = txn.writable(tname, uuid)
                row[col.name] = kept
                if len(kept) < col.n_min:
                    raise OvsdbError("constraint violation",
                                     f"Weak reference column \"{col.name}\" in \"{tname}\" row {uuid} "
                                     f"(inserted within this transaction) contained {len(value) - len(kept)} "
                                     f"weak reference(s) that could not be resolved, leaving {len(kept)} "
                                     f"references, fewer than the {col.n_min} required.")


def _drop_missing(txn, col, value):
    if col.is_map:
        kr = col.key.ref_table if col.key.ref_type == "weak" else None
        vr = col.value.ref_table if col.value.ref_type == "weak" else None
        return tuple((k, v) for k, v in value
                     if (kr is None or txn.exists(kr, k)) and (vr is None or txn.exists(vr, v)))
    ref = col.key.ref_table
    return tuple(a for a in value if txn.exists(ref, a))


def _describe(txn, tname, uuid, index_cols, old, new):
    if old is None:
        return "was inserted by this transaction."
    if old is new or not any(old[c] != new[c] for c in txn.db.schema.tables[tname].columns):
        return "existed in the database before this transaction and was not modified by the transaction."
    if all(old[c] == new[c] for c in index_cols):
        return ("existed in the database before this transaction, which modified some of the row's "
                "columns but not any columns in this index.")
    cols = txn.db.schema.tables[tname].columns
    values = ", ".join(cols[c].to_string(old[c]) for c in index_cols)
    return f"had the following index values before the transaction: {values}."


def _compare_rows(tschema, a_uuid, a, b_uuid, b) -> int:
    """ovsdb_row_compare_columns_3way over every column in ovsdb-server's column order."""
    for name in tschema.ovs_column_order:
        if name == "_uuid":
            x, y = (a_uuid,), (b_uuid,)
        elif name == "_version":
            x, y = (a.get("_version") or "",), (b.get("_version") or "",)
        else:
            x, y = a[name], b[name]
        if x != y:
            if len(x) != len(y):        # ovsdb_datum_compare_3way: size first
                return -1 if len(x) < len(y) else 1
            return -1 if x < y else 1
    return 0


def _check_indexes(txn):
    schema, db = txn.db.schema, txn.db
    for tname, rows in txn.touched.items():
        tschema = schema.tables[tname]
        if not tschema.indexes:
            continue
        for i, cols in enumerate(tschema.indexes):
            seen = {}
            committed = db.indexes[tname][i]
            for uuid, (old, new) in rows.items():
                if new is None:
                    continue
                key = tuple(new[c] for c in cols)
                other = seen.get(key)
                if other is None:
                    holder = committed.get(key)
                    if holder is not None and holder != uuid:
                        entry = rows.get(holder)
                        if entry is None:
                            other = holder
                        elif entry[1] is not None and tuple(entry[1][c] for c in cols) == key:
                            other = holder
                if other is not None:
                    entry = rows.get(other)
                    a_old, a_new = (entry if entry is not None else (db.tables[tname][other],) * 2)
                    values = " and ".join(tschema.columns[c].to_string(v) for c, v in zip(cols, key))
                    if len(cols) == 1:
                        on = f'column "{cols[0]}"'
                    else:
                        on = "columns " + ", ".join(f'"{c}"' for c in cols[:-1]) + f' and "{cols[-1]}"'
                    first, second = (other, (a_old, a_new)), (uuid, (old, new))
                    if _compare_rows(tschema, first[0], first[1][1], second[0], second[1][1]) < 0:
                        first, second = second, first   # duplicate_index_row: the greater row first
                    raise OvsdbError(
                        "constraint violation",
                        f'Transaction causes multiple rows in "{tname}" table to have identical values '
                        f"({values}) for index on {on}.  "
                        f"First row, with UUID {first[0]}, {_describe(txn, tname, first[0], cols, *first[1])}  "
                        f"Second row, with UUID {second[0]}, {_describe(txn, tname, second[0], cols, *second[1])}")
                seen[key] = uuid
