"""Shared machinery for message bodies: prefixes and declarative messages.

Theory of operation
-------------------
A registry key (see :mod:`.header`) fully determines the bytes between the
8-byte header and the message's own body: nothing for plain messages,
``experimenter, subtype`` for experimenter messages, ``type, flags[, pad]``
for stats/multipart, plus ``experimenter, subtype[, pad]`` for vendor stats.
:func:`prefix_len` and :func:`pack_prefix` encode that rule once.

:func:`message` declares the common case - a fixed layout followed by an
optional opaque tail - as a frozen dataclass with generic ``_decode`` and
``_encode_body``; hand-written classes use the same helpers.
"""

from __future__ import annotations

import dataclasses
import struct

from .errors import OFPError
from .header import Message, register

_II = struct.Struct("!II")


def is_stats(key) -> bool:
    v, t = key[0], key[1]
    return (v == 1 and t in (16, 17)) or (v > 1 and t in (18, 19))


def prefix_len(key) -> int:
    if len(key) == 2:
        return 8
    if is_stats(key):
        base = 12 if key[0] == 1 else 16
        if len(key) == 5:
            return base + (12 if key[0] == 1 else 8)
        return base
    return 16                                     # experimenter message


def pack_prefix(key, msg) -> bytes:
    if len(key) == 2:
        return b""
    if is_stats(key):
        flags = msg.flags
        if key[0] == 1:
            if len(key) == 5:
                return struct.pack("!HHII4x", key[2], flags, key[3], key[4])
            return struct.pack("!HH", key[2], flags)
        if len(key) == 5:
            return struct.pack("!HH4xII", key[2], flags, key[3], key[4])
        return struct.pack("!HH4x", key[2], flags)
    return _II.pack(key[2], key[3])


def stats_flags(key, buf) -> int:
    return struct.unpack_from("!H", buf, 10)[0] if is_stats(key) else 0


def message(name, versions, type_name, extra, lay=None, tail=None, doc="",
            stats=False, validate=None):
    """Declare a message made of a fixed ``lay`` (a Layout, or a dict
    version -> Layout) and an optional bytes ``tail`` field named ``tail``."""
    lays = lay if isinstance(lay, dict) else {v: lay for v in versions}
    names = []
    for v in versions:
        if lays.get(v) is not None:
            for n in lays[v].names:
                if n not in names:
                    names.append(n)
    cols = []
    if stats:
        cols.append(("flags", int, dataclasses.field(default=0)))
    for n in names:
        sample = next(lays[v] for v in versions if lays.get(v) and n in lays[v].names)
        sub = next(s for s in sample.decl.subcons if s.name == n)
        if type(sub.subcon).__name__ == "Bytes":
            cols.append((n, bytes, dataclasses.field(default=bytes(sub.subcon.length))))
        else:
            cols.append((n, int, dataclasses.field(default=0)))
    if tail:
        cols.append((tail, bytes, dataclasses.field(default=b"")))

    def _decode(cls, key, version, xid, buf):
        off = prefix_len(key)
        lay_ = lays.get(version)
        kw = {}
        if lay_ is not None:
            kw = dict(zip(lay_.names, lay_.unpack(buf, off)))
            off += lay_.size
        if tail:
            kw[tail] = buf[off:]
        elif off != len(buf):
            raise OFPError("OFPBRC_BAD_LEN", detail=f"{name}: {len(buf) - off} extra bytes")
        if stats:
            kw["flags"] = stats_flags(key, buf)
        if validate:
            validate(version, kw)
        return cls(version=version, xid=xid, **kw)

    def _encode_body(self, key):
        lay_ = lays.get(self.version)
        out = pack_prefix(key, self)
        if lay_ is not None:
            out += lay_.pack(*(getattr(self, n) for n in lay_.names))
        if tail:
            out += getattr(self, tail)
        return out

    cls = dataclasses.make_dataclass(
        name, cols, bases=(Message,), frozen=True, kw_only=True,
        namespace={"NAME": name, "__doc__": doc or name,
                   "_decode": classmethod(_decode), "_encode_body": _encode_body})
    return register(versions, type_name, *extra)(cls)


def check_tlv_list(data: bytes, hdr_fmt: str, len_index: int, min_len: int,
                   align: int, err: str, what: str) -> list:
    """Walk a list of ``{.., len, ..}`` records in ``data``; return
    ``(offset, length)`` pairs; raise ``err`` on a length shorter than the
    record header or running past the end (the classic decoder bug)."""
    h = struct.Struct(hdr_fmt)
    out = []
    off = 0
    n = len(data)
    while off < n:
        if n - off < h.size:
            raise OFPError(err, detail=f"truncated {what}")
        ln = h.unpack_from(data, off)[len_index]
        if ln < min_len or off + ln > n:
            raise OFPError(err, detail=f"{what} length {ln}")
        out.append((off, ln))
        off += (ln + align - 1) // align * align if align > 1 else ln
    return out
