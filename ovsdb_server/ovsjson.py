"""Open vSwitch's JSON object member order, reproduced.

Open vSwitch keeps JSON objects, schema tables and table columns in `shash`es
(string-keyed `hmap`s) and walks them in bucket order wherever it serializes
or lists them.  A stock `ovsdb-client` builds its own shashes from the text we
send, so what it prints (list-tables, list-columns, ...) depends on the member
order of our JSON text.  This module emulates, in pure Python:

* `hash_string()` / `hash_bytes()` -- lib/hash.c with the portable
  Murmur3-style `hash_add()` / `hash_finish()` (the build used by distro
  packages on x86-64 without SSE4.2 and on other CPUs without CRC32);
* `Hmap` / `Shash` -- lib/hmap.c insertion at the head of a bucket chain,
  doubling ("expand") when n/2 > mask, and bucket-by-bucket iteration;
* `schema_json_in_ovs_order()` -- the whole chain ovsdb-server 3.1 runs on a
  schema it reads from its database file and sends back for `get_schema`:
  file text -> json objects (shash, in text order) -> `ovsdb_schema_from_json`
  (tables shash; per table a columns shash that starts with `_uuid` and
  `_version`) -> `ovsdb_schema_to_json` (fresh object shashes, members put in
  schema iteration order) -> serialized text (object iteration order).
  The values are normalized the way `ovsdb_schema_to_json` writes them too
  (defaults such as `"mutable": true` dropped, types in their shortest form,
  enums sorted), since that is what ovsdb-server sends.

Python dicts keep insertion order, so an "ordered" dict here is one whose
iteration order equals Open vSwitch's serialization order.
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = [
    "hash_bytes", "hash_string", "Hmap", "Shash", "ovs_order", "ovs_ordered",
    "parse_order", "schema_to_ovs_json", "schema_json_in_ovs_order",
]

_M32 = 0xFFFFFFFF

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
UINT_MAX = 0xFFFFFFFF
DBL_MAX = 1.7976931348623157e308


# --------------------------------------------------------------------------
# lib/hash.h, lib/hash.c

def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def _mhash_add__(h: int, data: int) -> int:
    if not data:               # a zero word leaves the hash unchanged
        return h
    data = (data * 0xCC9E2D51) & _M32
    data = _rot(data, 15)
    data = (data * 0x1B873593) & _M32
    return h ^ data


def _mhash_add(h: int, data: int) -> int:
    h = _rot(_mhash_add__(h, data), 13)
    return (h * 5 + 0xE6546B64) & _M32


def _mhash_finish(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def hash_add(h: int, data: int) -> int:
    """lib/hash.h hash_add() (murmur build: Debian's binaries have no SSE4.2 variant)."""
    return _mhash_add(h, data & _M32)


def hash_add64(h: int, data: int) -> int:
    return hash_add(hash_add(h, data & _M32), data >> 32)


def hash_finish(h: int, final: int) -> int:
    return _mhash_finish(h ^ final)


def hash_int(x: int, basis: int = 0) -> int:
    """lib/hash.h hash_int() = hash_2words(x, basis): e.g. OVS's port hmaps."""
    return hash_finish(hash_add(hash_add(x & _M32, 0), basis), 8)


def hash_bytes(data: bytes, basis: int = 0) -> int:
    """OVS `hash_bytes()`: little-endian 32-bit words, zero-padded tail word,
    then `hash_finish(hash, n_bytes)`."""
    h = basis & _M32
    n = len(data)
    full = n - n % 4
    for i in range(0, full, 4):
        h = _mhash_add(h, int.from_bytes(data[i:i + 4], "little"))
    if n % 4:
        h = _mhash_add(h, int.from_bytes(data[full:], "little"))
    return _mhash_finish(h ^ (n & _M32))


def hash_string(s: str | bytes, basis: int = 0) -> int:
    """OVS `hash_string()` (what `shash` uses, with basis 0); str is UTF-8."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    return hash_bytes(s, basis)


# --------------------------------------------------------------------------
# lib/hmap.c, include/openvswitch/hmap.h, lib/shash.c

def _calc_mask(capacity: int) -> int:
    mask = capacity // 2
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> shift
    mask |= (mask & 1) << 1    # at least 4 buckets once allocated
    return mask


class Hmap:
    """An hmap of (hash, item) nodes.  Each bucket is a Python list holding
    its chain head first, exactly like the C singly linked list."""

    __slots__ = ("mask", "buckets", "n")

    def __init__(self) -> None:
        self.mask = 0
        self.buckets: list[list[tuple[int, Any]]] = [[]]
        self.n = 0

    def insert_fast(self, h: int, item: Any) -> None:
        self.buckets[h & self.mask].insert(0, (h, item))
        self.n += 1

    def insert(self, h: int, item: Any) -> None:
        """hmap_insert(): insert at the chain head, then expand if needed."""
        self.insert_fast(h, item)
        if self.n // 2 > self.mask:
            new_mask = _calc_mask(self.n)
            if new_mask > self.mask:
                self._resize(new_mask)

    def remove(self, item: Any) -> None:
        for b in self.buckets:
            for i, (_, it) in enumerate(b):
                if it is item:
                    del b[i]
                    self.n -= 1
                    return
        raise KeyError(item)

    def _resize(self, new_mask: int) -> None:
        old = self.buckets
        self.mask = new_mask
        self.buckets = [[] for _ in range(new_mask + 1)]
        n = self.n
        self.n = 0
        for chain in old:                   # buckets 0..mask, each head first
            for h, item in chain:
                self.insert_fast(h, item)   # re-inserted at new chain heads
        assert self.n == n

    def __iter__(self):
        for chain in self.buckets:
            for _, item in chain:
                yield item

    def __len__(self) -> int:
        return self.n


class Shash:
    """`struct shash`: names hashed with hash_string(name, 0)."""

    __slots__ = ("map", "_data")

    def __init__(self) -> None:
        self.map = Hmap()
        self._data: dict[str, Any] = {}

    def add(self, name: str, data: Any = None) -> None:
        """shash_add(): no duplicate check."""
        self.map.insert(hash_string(name), name)
        self._data[name] = data

    def replace(self, name: str, data: Any = None) -> None:
        """shash_replace() / json_object_put(): an existing name keeps its
        place and only gets the new value."""
        if name not in self._data:
            self.map.insert(hash_string(name), name)
        self._data[name] = data

    def names(self) -> list[str]:
        return list(self.map)

    def items(self) -> list[tuple[str, Any]]:
        return [(name, self._data[name]) for name in self.map]

    def __len__(self) -> int:
        return len(self._data)


def ovs_order(keys_in_insertion_order: Iterable[str]) -> list[str]:
    """The order in which Open vSwitch iterates a fresh shash after putting
    these names into it in this order (later duplicates only replace)."""
    sh = Shash()
    for k in keys_in_insertion_order:
        sh.replace(k)
    return sh.names()


def ovs_ordered(d: dict) -> dict:
    """A shallow copy of `d` whose keys are in ovs_order(d)."""
    return {k: d[k] for k in ovs_order(d)}


def parse_order(value: Any) -> Any:
    """What OVS's JSON parser + serializer do to any JSON value: every
    object's members, recursively, come out in ovs_order of the text order.
    (One parse followed by one serialization of the same `struct json`.)"""
    if isinstance(value, dict):
        return {k: parse_order(value[k]) for k in ovs_order(value)}
    if isinstance(value, list):
        return [parse_order(v) for v in value]
    return value


# --------------------------------------------------------------------------
# ovsdb/ovsdb.c, ovsdb/table.c, ovsdb/column.c, lib/ovsdb-types.c

def _object(pairs: list[tuple[str, Any]]) -> dict:
    """json_object_create() + json_object_put() in this order, then
    serialized: the result dict is in iteration order."""
    sh = Shash()
    for k, v in pairs:
        sh.replace(k, v)
    return dict(sh.items())


def _atom_sort_key(kind: str, atom: Any):
    if kind == "uuid" and isinstance(atom, list) and len(atom) == 2:
        return str(atom[1]).lower()
    if kind == "string":
        return atom.encode("utf-8")          # strcmp() order
    return atom


class _Base:
    __slots__ = ("type", "enum", "constraints", "ref_table", "ref_type")

    def __init__(self, j: Any):
        self.enum = None
        self.constraints: list[tuple[str, Any]] = []   # (member, value) in put order
        self.ref_table = None
        self.ref_type = "strong"
        if isinstance(j, str):
            self.type = j
            return
        self.type = j["type"]
        if "enum" in j:
            e = j["enum"]
            atoms = e[1] if (isinstance(e, list) and len(e) == 2 and e[0] == "set"
                             and isinstance(e[1], list)) else [e]
            try:
                atoms = sorted(atoms, key=lambda a: _atom_sort_key(self.type, a))
            except TypeError:
                pass
            self.enum = atoms
        elif self.type == "integer":
            self._bound(j, "minInteger", INT64_MIN)
            self._bound(j, "maxInteger", INT64_MAX)
        elif self.type == "real":
            self._bound(j, "minReal", -DBL_MAX)
            self._bound(j, "maxReal", DBL_MAX)
        elif self.type == "string":
            self._bound(j, "minLength", 0)
            self._bound(j, "maxLength", UINT_MAX)
        elif self.type == "uuid" and "refTable" in j:
            self.ref_table = j["refTable"]
            self.ref_type = j.get("refType", "strong")

    def _bound(self, j: dict, member: str, default) -> None:
        if member in j and j[member] != default:
            self.constraints.append((member, j[member]))

    def has_constraints(self) -> bool:
        return bool(self.enum is not None or self.constraints or self.ref_table)

    def is_strong_ref(self) -> bool:
        return self.type == "uuid" and self.ref_table is not None and self.ref_type == "strong"

    def is_weak_ref(self) -> bool:
        return self.type == "uuid" and self.ref_table is not None and self.ref_type == "weak"

    def to_json(self) -> Any:
        """ovsdb_base_type_to_json()."""
        if not self.has_constraints():
            return self.type
        pairs: list[tuple[str, Any]] = [("type", self.type)]
        if self.enum is not None:
            pairs.append(("enum", self.enum[0] if len(self.enum) == 1
                          else ["set", list(self.enum)]))
        pairs.extend(self.constraints)
        if self.ref_table is not None:
            pairs.append(("refTable", self.ref_table))
            if self.ref_type == "weak":
                pairs.append(("refType", "weak"))
        return _object(pairs)


class _Type:
    __slots__ = ("key", "value", "n_min", "n_max")

    def __init__(self, j: Any):
        self.value = None
        self.n_min = 1
        self.n_max = 1
        if not isinstance(j, dict):
            self.key = _Base(j)
            return
        self.key = _Base(j["key"])
        if "value" in j:
            self.value = _Base(j["value"])
        if "min" in j:
            self.n_min = j["min"]
        if "max" in j:
            self.n_max = UINT_MAX if j["max"] == "unlimited" else j["max"]

    def to_json(self) -> Any:
        """ovsdb_type_to_json()."""
        scalar = self.n_min == 1 and self.n_max == 1 and self.value is None
        if scalar and not self.key.has_constraints():
            return self.key.to_json()
        pairs: list[tuple[str, Any]] = [("key", self.key.to_json())]
        if self.value is not None:
            pairs.append(("value", self.value.to_json()))
        if self.n_min != 1:
            pairs.append(("min", self.n_min))
        if self.n_max == UINT_MAX:
            pairs.append(("max", "unlimited"))
        elif self.n_max != 1:
            pairs.append(("max", self.n_max))
        return _object(pairs)


class _Column:
    __slots__ = ("name", "mutable", "persistent", "type")

    def __init__(self, name: str, j: dict | None):
        self.name = name
        if j is None:               # _uuid / _version
            self.mutable, self.persistent, self.type = False, True, None
            return
        self.type = _Type(j["type"])
        self.mutable = j.get("mutable", True) is not False
        if not self.mutable and (self.type.key.is_weak_ref()
                                 or (self.type.value is not None
                                     and self.type.value.is_weak_ref())):
            self.mutable = True     # weak references must stay mutable
        self.persistent = not j.get("ephemeral", False)

    def to_json(self) -> dict:
        """ovsdb_column_to_json()."""
        pairs: list[tuple[str, Any]] = []
        if not self.mutable:
            pairs.append(("mutable", False))
        if not self.persistent:
            pairs.append(("ephemeral", True))
        pairs.append(("type", self.type.to_json()))
        return _object(pairs)


class _Table:
    __slots__ = ("name", "mutable", "is_root", "max_rows", "indexes", "columns")

    def __init__(self, name: str, j: dict):
        self.name = name
        self.mutable = j.get("mutable", True) is not False
        self.is_root = bool(j.get("isRoot", False))
        self.max_rows = min(j["maxRows"], UINT_MAX) if "maxRows" in j else UINT_MAX
        self.indexes = j.get("indexes") or []
        # ovsdb_table_schema_create() puts _uuid and _version first.
        self.columns = Shash()
        self.columns.add("_uuid", _Column("_uuid", None))
        self.columns.add("_version", _Column("_version", None))
        cols = j["columns"]
        for cname in ovs_order(cols):          # SHASH_FOR_EACH over parsed json
            self.columns.add(cname, _Column(cname, cols[cname]))

    def to_json(self, default_is_root: bool) -> dict:
        """ovsdb_table_schema_to_json()."""
        pairs: list[tuple[str, Any]] = []
        if not self.mutable:
            pairs.append(("mutable", False))
        if default_is_root != self.is_root:
            pairs.append(("isRoot", self.is_root))
        columns = _object([(n, c.to_json()) for n, c in self.columns.items()
                           if not n.startswith("_")])
        pairs.append(("columns", columns))
        if self.max_rows != UINT_MAX:
            pairs.append(("maxRows", self.max_rows))
        if self.indexes:
            pairs.append(("indexes", [list(ix) for ix in self.indexes]))
        return _object(pairs)


def schema_to_ovs_json(schema_json: dict) -> dict:
    """`ovsdb_schema_to_json(ovsdb_schema_from_json(json))` where `json` was
    parsed from text whose members are in `schema_json`'s dict order.
    Returns a dict (recursively) in the order ovsdb-server serializes it."""
    tables = Shash()
    tj = schema_json["tables"]
    for tname in ovs_order(tj):                # SHASH_FOR_EACH over parsed json
        tables.add(tname, _Table(tname, tj[tname]))
    all_tables = [t for _, t in tables.items()]
    if not any(t.is_root for t in all_tables):  # no isRoot at all: all roots
        for t in all_tables:
            t.is_root = True
    # ovsdb_schema_check_ref_table(): strong refs to non-root tables persist.
    by_name = {t.name: t for t in all_tables}
    for t in all_tables:
        for _, c in t.columns.items():
            if c.type is None:
                continue
            for base in (c.type.key, c.type.value):
                if base is not None and base.is_strong_ref():
                    ref = by_name.get(base.ref_table)
                    if ref is not None and not ref.is_root:
                        c.persistent = True
    default_is_root = all(t.is_root for t in all_tables)

    pairs: list[tuple[str, Any]] = [("name", schema_json["name"])]
    if schema_json.get("version"):
        pairs.append(("version", schema_json["version"]))
    if schema_json.get("cksum"):
        pairs.append(("cksum", schema_json["cksum"]))
    pairs.append(("tables", _object([(n, t.to_json(default_is_root))
                                     for n, t in tables.items()])))
    return _object(pairs)


def schema_json_in_ovs_order(schema_json: dict) -> dict:
    """The schema as ovsdb-server 3.1 answers `get_schema` (and stores it in
    _Server's Database.schema) after reading `schema_json` -- given in the
    member order of the text it read, e.g. its database file's first record
    -- from its file.  Members of every object (top level, tables, columns,
    column and type objects) are in Open vSwitch's order; values are
    normalized like `ovsdb_schema_to_json()` does.

    `ovsdb-tool create` runs the same chain once on the .ovsschema text before
    writing the database file, so for a database made by stock ovsdb-tool
    from FILE the server sends
    schema_json_in_ovs_order(schema_json_in_ovs_order(json.load(FILE)))."""
    return schema_to_ovs_json(schema_json)
