"""Where clauses and mutations (RFC 7047 §5.1, with Open vSwitch's extensions).

`parse_where(table, json, symtab)` returns a `Condition` whose `matches(row)`
evaluates the clauses against a row dict; `uuid_hint` names the single row a
`["_uuid","==",U]` clause pins, so callers can skip the table scan (the
common case: every ovs-vsctl and IDL transaction addresses rows by UUID).

`parse_mutations(table, json, symtab)` returns a list of callables that turn
an old value into a new one, raising `OvsdbError` with ovsdb-server's tags
("range error", "domain error", "constraint violation").
"""
from __future__ import annotations

import operator
from bisect import bisect_left

from .errors import OvsdbError, syntax_error
from .schema import UINT_MAX

_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
FUNCTIONS = ("==", "!=", "<", "<=", ">", ">=", "includes", "excludes")


def _includes(value, arg, is_map):
    if is_map:
        d = dict(value)
        return all(k in d and d[k] == v for k, v in arg)
    s = set(value) if len(value) > 8 else value
    return all(a in s for a in arg)


def _excludes(value, arg, is_map):
    if is_map:
        d = dict(value)
        return not any(k in d and d[k] == v for k, v in arg)
    s = set(value) if len(value) > 8 else value
    return not any(a in s for a in arg)


class Condition:
    __slots__ = ("clauses", "uuid_hint", "always_false")

    def __init__(self, clauses, uuid_hint, always_false):
        self.clauses = clauses
        self.uuid_hint = uuid_hint
        self.always_false = always_false

    def matches(self, uuid, row) -> bool:
        if self.always_false:
            return False
        for name, func, arg, col in self.clauses:
            value = (uuid,) if name == "_uuid" else ((row["_version"],) if name == "_version" else row[name])
            if not _EVALUATE[func](value, arg, col.is_map):
                return False
        return True


# Set semantics everywhere: an empty optional value equals an empty argument
# and fails "<"-style comparisons (observed from ovsdb-server 3.1).
_EVALUATE = {
    "==": lambda value, arg, is_map: value == arg,
    "!=": lambda value, arg, is_map: value != arg,
    "includes": _includes,
    "excludes": _excludes,
    **{f: (lambda op: lambda value, arg, is_map: bool(value) and bool(arg) and op(value[0], arg[0]))(op)
       for f, op in _COMPARE.items()},
}


TRUE = Condition([], None, False)


def parse_where(table, where, symtab=None) -> Condition:
    clauses, hint, false = [], None, False
    for clause in where:
        if clause is True:
            continue
        if clause is False:
            false = True
            continue
        if type(clause) is not list or len(clause) != 3 or type(clause[0]) is not str or type(clause[1]) is not str:
            raise syntax_error("Parse error in condition.", clause)
        name, func, arg_json = clause
        col = table.all_columns.get(name)
        if col is None:
            raise OvsdbError("unknown column", f"No column {name} in table {table.name}.", clause)
        if func not in FUNCTIONS:
            raise OvsdbError("unknown function", f"No function named {func}.")
        if func in _COMPARE:
            if not col.comparable:
                raise syntax_error(f'Type mismatch: "{func}" operator may not be applied to column {name} '
                                   f"of type {col.english}.", clause)
            arg = col.parse(arg_json, symtab)
        elif func == "includes" and not col.scalar:
            arg = col.parse_as(arg_json, symtab, 0, col.n_max)
        elif func == "excludes" and not col.scalar:
            arg = col.parse_loose(arg_json, symtab)
        else:
            arg = col.parse(arg_json, symtab)
        if name == "_uuid" and func == "==" and hint is None:
            hint = arg[0] if len(arg) == 1 else ""
        clauses.append((name, func, arg, col))
    return Condition(clauses, hint, false)


# -- mutations --------------------------------------------------------------

_INT_MIN, _INT_MAX = -2**63, 2**63 - 1


def _arith(op, kind):
    def apply(a, b):
        if op == "+=":
            r = a + b
        elif op == "-=":
            r = a - b
        elif op == "*=":
            r = a * b
        elif op == "/=":
            if b == 0:
                raise OvsdbError("domain error", "Division by zero.")
            if kind == "integer":
                q = abs(a) // abs(b)
                r = q if (a >= 0) == (b >= 0) else -q
            else:
                r = a / b
        else:  # %=
            if b == 0:
                raise OvsdbError("domain error", "Division by zero.")
            r = abs(a) % abs(b)
            if a < 0:
                r = -r
        if kind == "integer" and not (_INT_MIN <= r <= _INT_MAX):
            raise OvsdbError("range error", f'Result of "{op}" operation is out of range.')
        return r
    return apply


_ARITH = ("+=", "-=", "*=", "/=", "%=")


def _type_mismatch(mutator, col, m):
    return syntax_error(f'Type mismatch: "{mutator}" operator may not be applied to column {col.name} '
                        f"of type {col.english}.", m)


def parse_mutations(table, mutations, symtab=None):
    """ovsdb_mutation_from_json, check for check: column, mutability, mutator,
    type; arithmetic arguments are one unconstrained atom (a bare atom or a
    one-element set), insert arguments keep the column's maximum size,
    delete arguments have no size limit, and a map delete that does not
    parse as a map is retried as a set of keys."""
    out = []
    for m in mutations:
        if type(m) is not list or len(m) != 3 or type(m[0]) is not str or type(m[1]) is not str:
            raise syntax_error("Parse error in mutation.", m)
        name, mutator, arg_json = m
        col = table.all_columns.get(name)
        if col is None:
            raise OvsdbError("unknown column", f"No column {name} in table {table.name}.", m)
        if not col.mutable:
            raise OvsdbError("constraint violation",
                             f"Cannot mutate immutable column {name} in table {table.name}.", m)
        if mutator in _ARITH:
            kind = col.key.kind
            if col.is_map or kind not in ("integer", "real") or (mutator == "%=" and kind != "integer"):
                raise _type_mismatch(mutator, col, m)
            arg = col.parse_as(arg_json, symtab, n_min=1, n_max=1, constrained=False)
            out.append((name, _make_arith(col, mutator, arg[0])))
        elif mutator == "insert" or mutator == "delete":
            if col.scalar:
                raise _type_mismatch(mutator, col, m)
            if mutator == "insert":
                arg = col.parse_as(arg_json, symtab, n_min=0, n_max=col.n_max)
                out.append((name, _make_insert(col, arg)))
                continue
            try:
                arg = col.parse_as(arg_json, symtab, n_min=0, n_max=UINT_MAX)
                out.append((name, _make_delete(col, arg)))
            except OvsdbError:
                if not col.is_map:
                    raise
                keys = col.parse_as(arg_json, symtab, n_min=0, n_max=UINT_MAX, keys_only=True)
                out.append((name, _make_delete_keys(col, set(keys))))
        else:
            raise OvsdbError("unknown mutator", f"No mutator named {mutator}.")
    return out


def _check_size(col, value):
    n = len(value)
    if n < col.n_min or n > col.n_max:
        raise OvsdbError("constraint violation", f"Attempted to store {n} elements in {col.english}.")


def _make_arith(col, op, b):
    """mutate_scalar: apply to every element, then check constraints, then duplicates."""
    f = _arith(op, col.key.kind)
    base = col.key
    if base.kind == "real":
        b = float(b)

    def mutate(value):
        out = [f(a, b) for a in value]
        for r in out:
            base.check(r)
        out.sort()
        for i in range(1, len(out)):
            if out[i] == out[i - 1]:
                raise OvsdbError("constraint violation", f'Result of "{op}" operation contains duplicates.')
        return tuple(out)
    return mutate


def _make_insert(col, arg):
    def mutate(value):
        if col.is_map:
            d = dict(value)
            for k, v in arg:
                d.setdefault(k, v)
            new = tuple(sorted(d.items()))
        elif len(arg) * 8 < len(value):
            # A few elements into a large sorted set: insert in place (C-speed
            # memmove) instead of re-sorting the whole set.
            out = list(value)
            for a in arg:
                i = bisect_left(out, a)
                if i == len(out) or out[i] != a:
                    out.insert(i, a)
            new = tuple(out)
        else:
            new = tuple(sorted(set(value).union(arg)))
        _check_size(col, new)
        return new
    return mutate


def _make_delete(col, arg):
    def mutate(value):
        if col.is_map:
            drop = set(arg)
            new = tuple(p for p in value if p not in drop)
        else:
            drop = set(arg)
            new = tuple(a for a in value if a not in drop)
        _check_size(col, new)
        return new
    return mutate


def _make_delete_keys(col, keys):
    def mutate(value):
        new = tuple(p for p in value if p[0] not in keys)
        _check_size(col, new)
        return new
    return mutate
