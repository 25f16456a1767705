"""pyovsdb-tool: offline commands on standalone database files, like ``ovsdb-tool``.

    pyovsdb-tool [-m]... COMMAND [ARG...]
      create [DB [SCHEMA]]   create DB with SCHEMA (default: the vswitch schema we ship)
      show-log [DB]          print DB's records (-m: row changes, -mm: column values)

DB defaults to $OVS_DBDIR/conf.db.  Errors go to stderr as ``pyovsdb-tool: ...``
with exit status 1.  Output copies ovsdb-tool 3.1's (show-log -m lists tables and
columns in file order where OVS uses its hash order).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from importlib import resources

from .ovsjson import schema_json_in_ovs_order
from .storage import DbFile, StorageError

PROG = "pyovsdb-tool"
USAGE = "usage:\n" + __doc__.split("\n\n")[1] + "\n"


class ToolError(Exception):
    """A failure to report as ``pyovsdb-tool: <message>`` (exit status 1)."""


def default_db() -> str:
    return os.path.join(os.environ.get("OVS_DBDIR", "/etc/openvswitch"), "conf.db")


def default_schema() -> str:
    return str(resources.files("ovsdb_server") / "schemas" / "vswitch.ovsschema")


# --------------------------------------------------------------------------- create

def cmd_create(args: list[str], out, verbosity: int = 0) -> None:
    db = args[0] if args else default_db()
    schema_file = args[1] if len(args) > 1 else default_schema()
    try:
        with open(schema_file, "rb") as f:
            schema = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise ToolError(f"{schema_file}: {e.strerror}") from None
    except ValueError as e:
        raise ToolError(f"{schema_file}: not valid JSON ({e})") from None
    # Like ovsdb-tool, store the schema as ovsdb-server would serialize it.
    DbFile.create(db, schema_json_in_ovs_order(schema))


# --------------------------------------------------------------------------- show-log

def _json_text(value: object) -> str:
    """OVS's json_to_string(value, JSSF_SORT)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _format_date(ms: int) -> str:
    if ms < 2**31 - 1:  # old files stored seconds
        ms *= 1000
    secs, msec = divmod(ms, 1000)
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs)) + ".%03d" % msec
    except (OverflowError, OSError, ValueError):
        return "????-??-?? ??:??:??.???"


_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{12}\Z")
_BARE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


class _Invalid(Exception):
    """A value that is not a valid datum of its column's type (printed as raw JSON)."""


def _base_type(j) -> dict:
    return {"type": j} if isinstance(j, str) else j


def _atom(base: dict, j):
    """Parse and check one atom as ovsdb_atom_from_json() does; returns a sortable value."""
    kind = base["type"]
    if kind == "integer" and type(j) is int:
        value = j
        if not base.get("minInteger", value) <= value <= base.get("maxInteger", value):
            raise _Invalid
    elif kind == "real" and type(j) in (int, float):
        value = float(j)
        if not base.get("minReal", value) <= value <= base.get("maxReal", value):
            raise _Invalid
    elif kind == "boolean" and type(j) is bool:
        value = j
    elif kind == "string" and type(j) is str:
        value = j
        if not base.get("minLength", 0) <= len(value) <= base.get("maxLength", len(value)):
            raise _Invalid
    elif (kind == "uuid" and isinstance(j, list) and len(j) == 2 and j[0] == "uuid"
          and isinstance(j[1], str) and _UUID_RE.match(j[1])):
        value = j[1].lower()
    else:
        raise _Invalid
    if "enum" in base:
        enum = base["enum"]
        members = enum[1] if isinstance(enum, list) and enum[:1] == ["set"] else [enum]
        if value not in [_atom({"type": kind}, m) for m in members]:
            raise _Invalid
    return value


def _atom_text(kind: str, value) -> str:
    """ovsdb_atom_to_string()."""
    if kind == "real":
        return "%.15g" % value
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "string":
        bare = (_BARE_RE.match(value) and value not in ("true", "false")
                and not _UUID_RE.match(value))
        return value if bare else _json_text(value)
    return str(value)


def _datum_text(column_type, j) -> str:
    """ovsdb_datum_from_json() then ovsdb_datum_to_string(); _Invalid if the former fails."""
    t = {"key": column_type} if isinstance(column_type, str) else column_type
    key, value = _base_type(t["key"]), t.get("value")
    value = _base_type(value) if value is not None else None
    n_min, n_max = t.get("min", 1), t.get("max", 1)
    n_max = float("inf") if n_max == "unlimited" else n_max
    tag = "map" if value is not None else "set"
    if value is not None or (isinstance(j, list) and j[:1] == ["set"]):
        if not (isinstance(j, list) and len(j) == 2 and j[0] == tag and isinstance(j[1], list)):
            raise _Invalid
        if not n_min <= len(j[1]) <= n_max:
            raise _Invalid
        pairs = []
        for e in j[1]:
            if value is not None:
                if not (isinstance(e, list) and len(e) == 2):
                    raise _Invalid
                pairs.append((_atom(key, e[0]), _atom(value, e[1])))
            else:
                pairs.append((_atom(key, e), None))
    else:
        pairs = [(_atom(key, j), None)]
    pairs.sort(key=lambda p: p[0])
    if any(a[0] == b[0] for a, b in zip(pairs, pairs[1:])):
        raise _Invalid  # duplicate key
    items = [_atom_text(key["type"], k) + ("" if value is None
                                           else "=" + _atom_text(value["type"], v))
             for k, v in pairs]
    text = ", ".join(items)
    if n_max > 1 or not pairs:
        text = ("{%s}" if value is not None else "[%s]") % text
    return text


class _ValueFormatter:
    """Renders column values as ``ovsdb-tool -mm show-log`` does."""

    def __init__(self, schema_json: dict):
        self.types = {(table, column): c.get("type")
                      for table, t in schema_json.get("tables", {}).items()
                      for column, c in t.get("columns", {}).items()}

    def __call__(self, table: str, column: str, value: object) -> str:
        column_type = self.types.get((table, column))
        if column_type is not None:
            try:
                return _datum_text(column_type, value)
            except (_Invalid, KeyError, TypeError, AttributeError):
                pass  # not a valid datum (e.g. a diff too big for the column): raw JSON
        return _json_text(value)


def _print_changes(record: dict, names: dict[str, str], verbosity: int,
                   fmt: _ValueFormatter, out) -> None:
    diff = record.get("_is_diff") is True
    first = True
    for table, rows in record.items():
        if table.startswith("_") or not isinstance(rows, dict):
            continue
        if first:
            out.write("\n")
            first = False
        for uuid, columns in rows.items():
            old_name = names.get(uuid)
            new_name = None
            if isinstance(columns, dict) and "name" in columns:
                new_name = _json_text(columns["name"])
            if old_name is None:
                if new_name is not None:
                    out.write(f"  table {table} insert row {new_name} ({uuid[:8]}):\n")
                else:
                    out.write(f"  table {table} insert row {uuid[:8]}:\n")
            else:
                out.write(f"  table {table} row {old_name} ({uuid[:8]})"
                          f"{' diff' if diff else ''}:\n")
            if isinstance(columns, dict):
                if verbosity > 1:
                    for column, value in columns.items():
                        out.write(f"    {column}={fmt(table, column, value)}\n")
                if new_name is not None and new_name != old_name:
                    names[uuid] = new_name
                elif old_name is None:
                    names[uuid] = uuid[:8]
            elif columns is None:
                out.write("    delete row\n")
                names.pop(uuid, None)


def cmd_show_log(args: list[str], out, verbosity: int = 0) -> None:
    db = args[0] if args else default_db()
    f = DbFile.open(db, lock=False)  # reading needs no lock, as in ovsdb-tool
    try:
        schema = f.schema_json
        out.write(f'record 0: "{schema["name"]}" schema, '
                  f'version="{schema.get("version", "")}", '
                  f'cksum="{schema.get("cksum", "")}"\n\n')
        names: dict[str, str] = {}
        fmt = _ValueFormatter(schema) if verbosity > 1 else None
        for i, record in enumerate(f.records, 1):
            out.write(f"record {i}:")
            date = record.get("_date")
            if isinstance(date, int) and not isinstance(date, bool):
                out.write(" " + _format_date(date))
            comment = record.get("_comment")
            if isinstance(comment, str):
                out.write(f' "{comment}"')
            if verbosity > 0:
                _print_changes(record, names, verbosity, fmt, out)
            out.write("\n")
        if f.torn:  # ovsdb-tool prints the good records, then fails
            raise ToolError(f.torn)
    finally:
        f.close()


# --------------------------------------------------------------------------- main

COMMANDS = {
    # name: (handler, max args)
    "create": (cmd_create, 2),
    "show-log": (cmd_show_log, 1),
}


def run(argv: list[str], out) -> None:
    # Options may come anywhere before "--", as with getopt_long().
    verbosity = 0
    args: list[str] = []
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            args += rest
            break
        if not arg.startswith("-") or arg == "-":
            args.append(arg)
        elif arg in ("-h", "--help"):
            out.write(USAGE)
            return
        elif arg == "--more":
            verbosity += 1
        elif not arg.startswith("--") and set(arg[1:]) == {"m"}:
            verbosity += len(arg) - 1
        else:
            raise ToolError(f"unrecognized option '{arg}'; use --help for help")
    if not args:
        raise ToolError("missing command name; use --help for help")
    name, args = args[0], args[1:]
    if name not in COMMANDS:
        raise ToolError(f"unknown command '{name}'; use --help for help")
    handler, max_args = COMMANDS[name]
    if len(args) > max_args:
        raise ToolError(f"'{name}' command takes at most {max_args} arguments")
    handler(args, out, verbosity)


def main(argv: list[str] | None = None) -> int:
    out = sys.stdout
    try:
        run(sys.argv[1:] if argv is None else argv, out)
    except (ToolError, StorageError) as e:
        out.flush()
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
