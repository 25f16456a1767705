"""Schemas and the in-memory form of OVSDB data.

Theory of operation
-------------------
Schemas are parsed by python-ovs (`ovs.db.schema.DbSchema`), the one
adapter to it being this module.  From each column's python-ovs `Type` we
build a `Column` with precomputed codecs, because the transaction engine
converts every value it touches and python-ovs's `Datum`/`Atom` objects are
too slow for a server.

In memory every column value is a tuple:
  * a set (including scalars and optional values): sorted atoms;
  * a map: sorted `(key, value)` pairs.
Atoms are plain Python values: int, float, bool, str, and UUIDs as their
canonical lowercase string (their string order equals Open vSwitch's
`uuid_compare_3way` order).  Tuples compare, hash and sort cheaply, and the
canonical sorted form makes equality of values equality of tuples.

`Column.parse(json, symtab)` accepts RFC 7047 JSON with ovsdb-server's
rules and error texts; `Column.to_json(value)` writes the canonical form
(a single-element set as a bare atom).  `symtab` maps `named-uuid` names to
UUIDs; an unknown name gets a fresh UUID (a forward reference), as in
ovsdb-server.
"""
from __future__ import annotations

import json
import os
import re
import sys
import uuid as uuidlib
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import ovs.db.schema as ovs_schema
    import ovs.db.types as ovs_types

from .errors import OvsdbError, syntax_error
from .ovsjson import ovs_order, schema_json_in_ovs_order

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "schemas")
VSWITCH_SCHEMA = os.path.join(SCHEMA_DIR, "vswitch.ovsschema")
ZERO_UUID = "00000000-0000-0000-0000-000000000000"

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ID_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_BARE_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.\-]*$")
UINT_MAX = 4294967295


def new_uuid() -> str:
    """A random (version 4) UUID as a lowercase string, without uuid.UUID's overhead."""
    n = (int.from_bytes(os.urandom(16), "big") & ~(0xF000 << 64 | 0xC000 << 48)) | (0x4000 << 64 | 0x8000 << 48)
    h = "%032x" % n
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def is_uuid(s) -> bool:
    return isinstance(s, str) and _UUID_RE.match(s) is not None


def is_id(s) -> bool:
    return isinstance(s, str) and _ID_RE.match(s) is not None


class Symtab(dict):
    """named-uuid name -> [uuid, defined-by-an-insert]."""

    def lookup(self, name: str) -> str:
        entry = self.get(name)
        if entry is None:
            entry = self[name] = [new_uuid(), False]
        return entry[0]


def atom_to_string(kind: str, atom) -> str:
    """ovsdb_atom_to_string: the text form used in error messages and indexes."""
    if kind == "string":
        if _BARE_RE.match(atom) and atom not in ("true", "false") and not is_uuid(atom):
            return atom
        return json.dumps(atom, ensure_ascii=False)
    if kind == "boolean":
        return "true" if atom else "false"
    if kind == "real":
        return "%.15g" % atom
    return str(atom)


class Base:
    """One atomic type with its constraints (a key or a value of a column)."""

    __slots__ = ("kind", "enum", "enum_text", "min", "max", "min_length", "max_length",
                 "ref_table", "ref_type")

    def __init__(self, base: ovs_types.BaseType):
        self.kind = base.type.name
        self.enum = None
        self.enum_text = ""
        if base.enum is not None:
            atoms = sorted(a.value if self.kind != "uuid" else str(a.value) for a in base.enum.values)
            self.enum = frozenset(atoms)
            self.enum_text = "[" + ", ".join(atom_to_string(self.kind, a) for a in atoms) + "]"
        self.min, self.max = base.min, base.max
        self.min_length, self.max_length = base.min_length, base.max_length
        self.ref_table = base.ref_table_name
        self.ref_type = base.ref_type if base.ref_table_name else None

    def default(self):
        return {"integer": 0, "real": 0.0, "boolean": False, "string": "", "uuid": ZERO_UUID}[self.kind]

    def parse(self, j, symtab, constrained=True):
        kind = self.kind
        if kind == "string":
            if type(j) is not str:
                raise syntax_error("expected string", j, has_syntax=True)
            atom = j
        elif kind == "integer":
            if type(j) is int:
                atom = j
            elif type(j) is float and j.is_integer() and -2**63 <= j < 2**63:
                atom = int(j)
            else:
                raise syntax_error("expected integer", j, has_syntax=True)
        elif kind == "uuid":
            if type(j) is list and len(j) == 2 and type(j[1]) is str:
                if j[0] == "uuid":
                    if not _UUID_RE.match(j[1]):
                        raise syntax_error(f'"{j[1]}" is not a valid UUID', j, has_syntax=True)
                    atom = j[1].lower()
                elif j[0] == "named-uuid" and symtab is not None:
                    atom = symtab.lookup(j[1])
                else:
                    raise syntax_error('expected ["uuid", <string>]', j, has_syntax=True)
            else:
                raise syntax_error('expected ["uuid", <string>]', j, has_syntax=True)
        elif kind == "boolean":
            if type(j) is not bool:
                raise syntax_error("expected boolean", j, has_syntax=True)
            atom = j
        else:  # real
            if type(j) is float or type(j) is int:
                atom = float(j)
            else:
                raise syntax_error("expected real", j, has_syntax=True)
        if constrained:
            self.check(atom)
        return atom

    def check(self, atom):
        if self.enum is not None:
            if atom not in self.enum:
                raise OvsdbError("constraint violation",
                                 f"{atom_to_string(self.kind, atom)} is not one of the allowed values ({self.enum_text})")
        elif self.kind == "integer" or self.kind == "real":
            lo, hi = self.min, self.max
            if (lo is None or atom >= lo) and (hi is None or atom <= hi):
                return
            fmt = "%d" if self.kind == "integer" else "%.15g"
            text = atom_to_string(self.kind, atom)
            if lo is not None and hi is not None:
                msg = f"{text} is not in the valid range {fmt % lo} to {fmt % hi} (inclusive)"
            elif lo is not None:
                msg = f"{text} is less than minimum allowed value {fmt % lo}"
            else:
                msg = f"{text} is greater than maximum allowed value {fmt % hi}"
            raise OvsdbError("constraint violation", msg)
        elif self.kind == "string" and (self.min_length or self.max_length != sys.maxsize):
            n = len(atom)
            if n < self.min_length:
                raise OvsdbError("constraint violation",
                                 f'"{atom}" length {n} is less than minimum allowed length {self.min_length}')
            if n > self.max_length:
                raise OvsdbError("constraint violation",
                                 f'"{atom}" length {n} is greater than maximum allowed length {self.max_length}')


def _atom_json(kind):
    if kind == "uuid":
        return lambda a: ["uuid", a]
    return None


class Column:
    """A column with its codecs; see the module docstring for the value form."""

    __slots__ = ("name", "key", "value", "is_map", "n_min", "n_max", "mutable", "ephemeral",
                 "default", "english", "scalar", "to_json", "strong_refs", "weak_refs", "comparable")

    def __init__(self, name: str, type_: ovs_types.Type, mutable: bool = True, ephemeral: bool = False):
        self.name = name
        self.key = Base(type_.key)
        self.value = Base(type_.value) if type_.value is not None else None
        self.is_map = self.value is not None
        self.n_min = type_.n_min
        self.n_max = type_.n_max if type_.n_max != sys.maxsize else UINT_MAX
        self.mutable = mutable
        self.ephemeral = ephemeral
        self.scalar = self.n_min == 1 and self.n_max == 1 and not self.is_map
        if self.n_min == 0:
            self.default = ()
        elif self.is_map:
            self.default = ((self.key.default(), self.value.default()),)
        else:
            self.default = (self.key.default(),)
        self.english = self._english()
        # Reference tables this column points at, split by strength.
        refs = [b for b in (self.key, self.value) if b is not None and b.ref_table]
        self.strong_refs = [b for b in refs if b.ref_type == "strong"]
        self.weak_refs = [b for b in refs if b.ref_type == "weak"]
        # "<", "<=", ... apply to scalar or optional integers and reals.
        self.comparable = (not self.is_map and self.n_max == 1 and self.key.kind in ("integer", "real"))
        self.to_json = self._make_to_json()

    def _english(self) -> str:
        key = self.key.kind
        if self.scalar:
            return key
        out = "set" if not self.is_map else "map"
        if self.n_max == UINT_MAX:
            out += f" of {self.n_min} or more" if self.n_min else " of"
        elif self.n_min:
            out += f" of {self.n_min} to {self.n_max}"
        else:
            out += f" of up to {self.n_max}"
        if self.is_map:
            return out + f" ({key}, {self.value.kind}) pairs"
        return out + f" {key}s"

    def _make_to_json(self):
        kj = _atom_json(self.key.kind)
        if self.is_map:
            vj = _atom_json(self.value.kind)
            if kj is None and vj is None:
                return lambda v: ["map", [[k, x] for k, x in v]]
            kj = kj or (lambda a: a)
            vj = vj or (lambda a: a)
            return lambda v: ["map", [[kj(k), vj(x)] for k, x in v]]
        if kj is None:
            return lambda v: v[0] if len(v) == 1 else ["set", list(v)]
        return lambda v: ["uuid", v[0]] if len(v) == 1 else ["set", [["uuid", a] for a in v]]

    # -- parsing -----------------------------------------------------------
    def parse(self, j, symtab=None):
        """RFC 7047 <value> for this column -> canonical tuple (or OvsdbError)."""
        return self.parse_as(j, symtab, self.n_min, self.n_max)

    def parse_as(self, j, symtab, n_min, n_max, *, constrained=True, keys_only=False):
        """ovsdb_datum_from_json with a relaxed type: other size limits, no
        atom constraints (arithmetic arguments), or only the keys of a map (a
        map "delete" given a set of keys)."""
        is_map = self.is_map and not keys_only
        if is_map:
            if type(j) is not list or len(j) != 2 or j[0] != "map" or type(j[1]) is not list:
                raise syntax_error('expected ["map", <array>]', j, has_syntax=True)
        elif type(j) is list and j and j[0] == "set":
            if len(j) != 2 or type(j[1]) is not list:
                raise syntax_error('expected ["set", <array>]', j, has_syntax=True)
        else:
            return (self.key.parse(j, symtab, constrained),)
        inner = j[1]
        n = len(inner)
        what = "map" if is_map else "set"
        if n < n_min or n > n_max:
            if n_min == 1 and n_max == 1:
                raise syntax_error(f"{what} must have exactly one member but {n} are present", j, has_syntax=True)
            raise syntax_error(f"{what} must have {n_min} to {n_max} members but {n} are present", j, has_syntax=True)
        kp = self.key.parse
        if is_map:
            vp = self.value.parse
            pairs = []
            for e in inner:
                if type(e) is not list or len(e) != 2:
                    raise syntax_error("expected 2-element array", e, has_syntax=True)
                pairs.append((kp(e[0], symtab), vp(e[1], symtab)))
            pairs.sort()
            for i in range(1, len(pairs)):
                if pairs[i][0] == pairs[i - 1][0]:
                    raise OvsdbError("ovsdb error", "map contains duplicate key")
            return tuple(pairs)
        atoms = sorted(kp(e, symtab, constrained) for e in inner)
        for i in range(1, len(atoms)):
            if atoms[i] == atoms[i - 1]:
                raise OvsdbError("ovsdb error", "set contains duplicate")
        return tuple(atoms)

    def parse_loose(self, j, symtab=None):
        """Like parse() but with no size limits (file records, excludes)."""
        return self.parse_as(j, symtab, 0, UINT_MAX)

    def check_size(self, value, syntax=None):
        n = len(value)
        if n < self.n_min or n > self.n_max:
            what = "map" if self.is_map else "set"
            raise OvsdbError("constraint violation",
                             f"Attempted to store {n} elements in {what} of {self.n_min} to {self.n_max} elements")

    def to_string(self, value) -> str:
        """ovsdb_datum_to_string."""
        k = self.key.kind
        if self.is_map:
            v = self.value.kind
            return "{" + ", ".join(f"{atom_to_string(k, a)}={atom_to_string(v, b)}" for a, b in value) + "}"
        body = ", ".join(atom_to_string(k, a) for a in value)
        if self.n_max > 1 or not value:
            return "[" + body + "]"
        return body

    def ref_changes(self, old, new, strength: str):
        """(removed, added): references of `strength` only in old / only in new.

        Only the differing elements are visited, so growing a 1,000-element
        set by one costs one reference, not 2,000."""
        if old is None or new is None or len(old) + len(new) < 16:
            return (list(self.refs(old, strength)) if old is not None else [],
                    list(self.refs(new, strength)) if new is not None else [])
        o, n = set(old), set(new)
        return list(self.refs(tuple(o - n), strength)), list(self.refs(tuple(n - o), strength))

    def refs(self, value, base_strength: str):
        """Yield (ref_table, uuid) for every reference of the given strength in value."""
        if self.is_map:
            if self.key.ref_type == base_strength:
                t = self.key.ref_table
                for k, _ in value:
                    yield t, k
            if self.value.ref_type == base_strength:
                t = self.value.ref_table
                for _, v in value:
                    yield t, v
        elif self.key.ref_type == base_strength:
            t = self.key.ref_table
            for a in value:
                yield t, a


class UuidColumn(Column):
    """The implicit _uuid and _version columns."""

    def __init__(self, name):
        super().__init__(name, ovs_types.Type(ovs_types.BaseType(ovs_types.UuidType)), mutable=False)


class Table:
    __slots__ = ("name", "columns", "is_root", "max_rows", "indexes", "all_columns",
                 "persistent_columns", "has_strong", "has_weak", "defaults", "ovs_column_order")

    def __init__(self, ts: ovs_schema.TableSchema, is_root: bool, column_text_order=()):
        self.name = ts.name
        self.columns = {name: Column(name, c.type, c.mutable, not c.persistent) for name, c in ts.columns.items()}
        self.is_root = is_root
        self.max_rows = ts.max_rows if ts.max_rows != sys.maxsize else None
        self.indexes = [tuple(c.name for c in index) for index in ts.indexes]
        self.all_columns = dict(self.columns)
        self.all_columns["_uuid"] = UuidColumn("_uuid")
        self.all_columns["_version"] = UuidColumn("_version")
        self.persistent_columns = [c for c in self.columns.values() if not c.ephemeral]
        self.has_strong = [c for c in self.columns.values() if c.strong_refs]
        self.has_weak = [c for c in self.columns.values() if c.weak_refs]
        self.defaults = {name: c.default for name, c in self.columns.items()}
        # ovsdb-server's own column order (its shash: _uuid and _version
        # first, then the schema text's columns as its JSON parser iterated
        # them), which decides e.g. which of two rows an index error names first.
        text_order = [c for c in column_text_order if c in self.columns] or list(self.columns)
        self.ovs_column_order = ovs_order(["_uuid", "_version"] + ovs_order(text_order))


class Schema:
    """A database schema: python-ovs parses it; we keep its JSON verbatim for get_schema."""

    def __init__(self, schema_json: dict):
        try:
            parsed = ovs_schema.DbSchema.from_json(schema_json, allow_extensions=True)
        except Exception as e:  # python-ovs raises its own Error
            raise OvsdbError("syntax error", f"bad schema: {e}")
        # ovsdb-server sends (and stores) the schema in its own hash order, and
        # stock clients print tables and columns in an order that depends on
        # it: reproduce that order exactly.
        self.json = schema_json_in_ovs_order(schema_json)
        self.name = parsed.name
        self.version = parsed.version
        self.cksum = schema_json.get("cksum")
        any_root = any(t.is_root for t in parsed.tables.values())
        # With no isRoot anywhere, every table is a root (backward compatibility).
        tables_json = schema_json.get("tables", {})
        self.tables = {name: Table(t, t.is_root or not any_root, tables_json.get(name, {}).get("columns", ()))
                       for name, t in parsed.tables.items()}
        self.text = json.dumps(self.json, separators=(",", ":"))
        # Which (table, column) pairs hold weak references into each table.
        self.weak_referrers: dict[str, list[tuple[str, str]]] = {}
        for t in self.tables.values():
            for c in t.has_weak:
                for b in c.weak_refs:
                    self.weak_referrers.setdefault(b.ref_table, []).append((t.name, c.name))

    @classmethod
    def from_file(cls, path: str) -> "Schema":
        with open(path) as f:
            return cls(json.load(f))


SERVER_SCHEMA_JSON = {
    "name": "_Server", "version": "1.2.0", "cksum": "3009684573 744",
    "tables": {"Database": {"columns": {
        "name": {"type": "string"},
        "model": {"type": {"key": {"type": "string", "enum": ["set", ["clustered", "relay", "standalone"]]}}},
        "connected": {"type": "boolean"},
        "leader": {"type": "boolean"},
        "schema": {"type": {"key": {"type": "string"}, "min": 0, "max": 1}},
        "sid": {"type": {"key": {"type": "uuid"}, "min": 0, "max": 1}},
        "cid": {"type": {"key": {"type": "uuid"}, "min": 0, "max": 1}},
        "index": {"type": {"key": {"type": "integer"}, "min": 0, "max": 1}},
    }, "isRoot": True}},
}


def load_vswitch_schema() -> Schema:
    return Schema.from_file(VSWITCH_SCHEMA)
