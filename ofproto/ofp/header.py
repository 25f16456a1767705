"""ofp_header, message registry, stream splitting, decode/encode entry points.

Theory of operation
-------------------
A message is ``ofp_header`` (version, type, length, xid) and a body.  Bodies
are typed frozen dataclasses (subclasses of :class:`Message`) that know how
to read themselves from, and write themselves after, a header.

One registry maps a *key* to a message class.  The key is ``(version,
type)`` for ordinary messages; experimenter messages extend it with
``(experimenter, subtype)`` and multipart/stats messages with the stats type
(and, for vendor stats, experimenter and subtype): the dispatch classes for
OFPT_EXPERIMENTER and OFPT_MULTIPART_* read those extra fields and look the
longer key up in the same table.  Each class learns its keys at
registration, so :func:`encode` needs nothing but the dataclass.

Decoders take ``(key, version, xid, buf)`` where ``buf`` is the complete
message (header included) and offsets are absolute; they must raise
:class:`OFPError` for anything malformed.  :func:`decode` additionally turns
stray Python exceptions from a decoder into OFPBRC_BAD_LEN, because the only
way a bounds-checked decoder fails that way is a lying length field.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import ClassVar

from .errors import OFPError
from .layout import layout, u8, u16, u32

OFP10_VERSION, OFP11_VERSION, OFP12_VERSION = 0x01, 0x02, 0x03
OFP13_VERSION, OFP14_VERSION, OFP15_VERSION = 0x04, 0x05, 0x06
VERSIONS = (1, 2, 3, 4, 5, 6)
VERSION_NAMES = {1: "OF1.0", 2: "OF1.1", 3: "OF1.2", 4: "OF1.3", 5: "OF1.4", 6: "OF1.5"}
ALL = VERSIONS
OF10 = (1,)
OF11UP = (2, 3, 4, 5, 6)
OF12UP = (3, 4, 5, 6)
OF13UP = (4, 5, 6)
OF14UP = (5, 6)
OF15UP = (6,)

ofp_header = layout("ofp_header", "version"/u8, "type"/u8, "length"/u16, "xid"/u32)
OFP_HEADER_LEN = 8
_hdr_unpack = struct.Struct("!BBHI").unpack_from
_hdr_pack = struct.Struct("!BBHI").pack


def msg_type(name: str, version: int) -> int:
    """OFPT_* number of ``name`` in ``version`` (OF1.0 numbers differ after 14)."""
    return (OFPT10 if version == 1 else OFPT11)[name]


# OF1.0 and OF1.1+ renumbered everything from PORT_MOD on.
OFPT10 = dict(HELLO=0, ERROR=1, ECHO_REQUEST=2, ECHO_REPLY=3, VENDOR=4,
              FEATURES_REQUEST=5, FEATURES_REPLY=6, GET_CONFIG_REQUEST=7,
              GET_CONFIG_REPLY=8, SET_CONFIG=9, PACKET_IN=10, FLOW_REMOVED=11,
              PORT_STATUS=12, PACKET_OUT=13, FLOW_MOD=14, PORT_MOD=15,
              STATS_REQUEST=16, STATS_REPLY=17, BARRIER_REQUEST=18, EXPERIMENTER=4,
              MULTIPART_REQUEST=16, MULTIPART_REPLY=17,
              BARRIER_REPLY=19, QUEUE_GET_CONFIG_REQUEST=20,
              QUEUE_GET_CONFIG_REPLY=21)
OFPT11 = dict(HELLO=0, ERROR=1, ECHO_REQUEST=2, ECHO_REPLY=3, EXPERIMENTER=4,
              FEATURES_REQUEST=5, FEATURES_REPLY=6, GET_CONFIG_REQUEST=7,
              GET_CONFIG_REPLY=8, SET_CONFIG=9, PACKET_IN=10, FLOW_REMOVED=11,
              PORT_STATUS=12, PACKET_OUT=13, FLOW_MOD=14, GROUP_MOD=15,
              PORT_MOD=16, TABLE_MOD=17, MULTIPART_REQUEST=18,
              MULTIPART_REPLY=19, BARRIER_REQUEST=20, BARRIER_REPLY=21,
              QUEUE_GET_CONFIG_REQUEST=22, QUEUE_GET_CONFIG_REPLY=23,
              ROLE_REQUEST=24, ROLE_REPLY=25, GET_ASYNC_REQUEST=26,
              GET_ASYNC_REPLY=27, SET_ASYNC=28, METER_MOD=29, ROLE_STATUS=30,
              TABLE_STATUS=31, REQUESTFORWARD=32, BUNDLE_CONTROL=33,
              BUNDLE_ADD_MESSAGE=34, CONTROLLER_STATUS=35)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Message:
    """Base of every message: the header fields that survive decoding.

    ``length`` and ``type`` are not stored: they follow from the body and
    the class.  Subclasses implement ``_decode(key, version, xid, buf)``
    (classmethod) and ``_encode_body(key) -> bytes`` (everything after the
    8-byte header).
    """

    version: int = OFP13_VERSION
    xid: int = 0

    NAME: ClassVar[str] = "?"
    _keys: ClassVar[dict]   # version -> registry key, filled by register()

    def encode(self) -> bytes:
        return encode(self)

    @classmethod
    def _make(cls, **kw):
        """``cls(**kw)`` for the hot decoders: the frozen dataclass __init__
        sets each field through ``object.__setattr__``; this fills the
        instance dict from the defaults and ``kw`` in one go."""
        defaults = cls.__dict__.get("_DEFAULTS")
        if defaults is None:
            defaults = {} if not hasattr(cls, "__post_init__") else False
            for f in dataclasses.fields(cls) if defaults is not False else ():
                if f.default is dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                    defaults = False            # a required or factory field: no shortcut
                    break
                defaults[f.name] = f.default
            cls._DEFAULTS = defaults
        if defaults is False:
            return cls(**kw)
        obj = object.__new__(cls)
        d = obj.__dict__
        d.update(defaults)
        d.update(kw)
        return obj


_REGISTRY: dict[tuple, type] = {}


def register(versions, type_name: str, *extra):
    """Class decorator: register for ``(version, OFPT_<type_name>, *extra)``.

    ``extra`` may be a callable ``version -> tuple`` when the sub-key differs
    by version (e.g. OF1.0 stats vs OF1.3 multipart numbering)."""
    def deco(cls):
        keys = dict(getattr(cls, "_keys", {})) if "_keys" in cls.__dict__ else {}
        for v in versions:
            ex = extra[0](v) if extra and callable(extra[0]) else extra
            if ex is None:
                continue
            key = (v, msg_type(type_name, v)) + tuple(ex)
            if key in _REGISTRY and _REGISTRY[key] is not cls:
                raise RuntimeError(f"duplicate registration {key}")
            _REGISTRY[key] = cls
            keys[v] = key
        cls._keys = keys
        return cls
    return deco


def lookup(key: tuple):
    return _REGISTRY.get(key)


def split(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Cut a stream buffer into complete messages and the unconsumed rest.

    Raises OFPBRC_BAD_LEN for a header whose length is below 8: the stream
    cannot be resynchronised after that, so the connection must drop.
    """
    out = []
    off = 0
    n = len(buffer)
    while n - off >= 8:
        length = (buffer[off + 2] << 8) | buffer[off + 3]
        if length < 8:
            raise OFPError("OFPBRC_BAD_LEN", bytes(buffer[off:off + 64]),
                           "header length below 8")
        if n - off < length:
            break
        out.append(bytes(buffer[off:off + length]))
        off += length
    return out, bytes(buffer[off:])


def decode(data: bytes) -> Message:
    """Decode one complete message; raise :class:`OFPError` if malformed."""
    if len(data) < 8:
        raise OFPError("OFPBRC_BAD_LEN", bytes(data), "shorter than ofp_header")
    version, type_, length, xid = _hdr_unpack(data)
    if length != len(data):
        raise OFPError("OFPBRC_BAD_LEN", bytes(data[:64]),
                       f"header says {length} bytes, got {len(data)}")
    if version not in VERSION_NAMES:
        raise OFPError("OFPBRC_BAD_VERSION", bytes(data[:64]))
    key = (version, type_)
    cls = _REGISTRY.get(key)
    if cls is None:
        raise OFPError("OFPBRC_BAD_TYPE", bytes(data[:64]))
    if type(data) is not bytes:
        data = bytes(data)
    try:
        return cls._decode(key, version, xid, data)
    except OFPError as e:
        if not e.data:
            e.data = data[:64]
        raise
    except (struct.error, IndexError, ValueError, KeyError, OverflowError,
            UnicodeDecodeError, TypeError, RecursionError) as e:
        raise OFPError("OFPBRC_BAD_LEN", data[:64], f"{type(e).__name__}: {e}")


def encode(msg: Message) -> bytes:
    """Serialize ``msg`` (header length and type computed here)."""
    try:
        key = msg._keys[msg.version]
    except (KeyError, AttributeError):
        raise OFPError("OFPBRC_BAD_VERSION", b"",
                       f"{type(msg).__name__} does not exist in version {msg.version}")
    body = msg._encode_body(key)
    n = 8 + len(body)
    if n > 0xFFFF:
        raise OFPError("OFPBRC_BAD_LEN", b"", f"message too long ({n} bytes)")
    return _hdr_pack(msg.version, key[1], n, msg.xid) + body


def frozen(cls):
    """The dataclass decorator every message and wire object uses."""
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


def pad8(n: int) -> int:
    """Bytes of zero padding that bring ``n`` up to a multiple of 8."""
    return (-n) & 7

