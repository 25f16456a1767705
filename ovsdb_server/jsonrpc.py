"""JSON-RPC 1.0 over a byte stream, as Open vSwitch speaks it (sans-I/O).

Theory of operation
-------------------
Open vSwitch frames messages as concatenated JSON objects with no delimiter.
`Framer.feed(data)` takes whatever bytes a read returned and returns the
complete messages found so far; a message split across reads is held until
the rest arrives, and several messages in one read all come out.

The fast path tries the decoder only when the buffered text ends with `}`
(every message is an object).  When decoding fails, a structural scan tells
a message that is merely incomplete (wait for more) from one that is
malformed (raise `ProtocolError`): that scan runs only on failure, so
well-behaved peers pay for one `json` decode per message.

Limits: a message nested deeper than `MAX_DEPTH` or longer than `max_size`
bytes raises `ProtocolError`; the caller closes that connection, as
ovsdb-server does for every protocol violation.

`classify(obj)` validates a decoded object as a request, notification or
reply with ovsdb-server's rules (no extra members, params an array, ...)
and `encode(obj)` gives the bytes to send.
"""
from __future__ import annotations

import json
import re

MAX_DEPTH = 1000
DEFAULT_MAX_SIZE = 64 * 1024 * 1024

_decoder = json.JSONDecoder()
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_TOKENS = re.compile(r'[{}\[\]"\\]')


class ProtocolError(Exception):
    """The peer broke the protocol; the connection must be closed."""


def encode(obj) -> bytes:
    return _dumps(obj).encode()


def _scan(text: str, start: int) -> tuple[int | None, int]:
    """Structural scan from `start`: (end of the first complete value or None, max depth)."""
    depth = max_depth = 0
    in_string = escape = False
    i = start
    for m in _TOKENS.finditer(text, start):
        ch = m.group()
        pos = m.start()
        if in_string:
            if escape and pos == i + 1:
                escape = False
                i = pos
                continue
            escape = False
            if ch == "\\":
                escape = True
                i = pos
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            if depth > max_depth:
                max_depth = depth
                if depth > MAX_DEPTH:
                    return None, depth
        elif ch in "}]":
            depth -= 1
            if depth <= 0:
                return pos + 1, max_depth
    return None, max_depth


class Framer:
    """Incremental splitter of a stream of concatenated JSON objects."""

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE):
        self.max_size = max_size
        self._pending = b""     # bytes that may end inside a UTF-8 sequence
        self._text = ""

    @property
    def buffered(self) -> int:
        return len(self._text) + len(self._pending)

    def feed(self, data: bytes) -> list:
        data = self._pending + data if self._pending else data
        try:
            chunk = data.decode()
            self._pending = b""
        except UnicodeDecodeError as e:
            if e.start < len(data) - 3 or e.reason != "unexpected end of data":
                raise ProtocolError("invalid UTF-8 in stream") from None
            chunk = data[:e.start].decode()
            self._pending = data[e.start:]
        text = self._text + chunk if self._text else chunk
        out = []
        pos, n = 0, len(text)
        while True:
            while pos < n and text[pos] in " \t\r\n":
                pos += 1
            if pos >= n:
                break
            if text[pos] != "{":
                raise ProtocolError("syntax error: message is not a JSON object")
            if text.find("}", pos) < 0:
                break               # cannot be complete yet
            try:
                obj, end = _decoder.raw_decode(text, pos)
            except (json.JSONDecodeError, RecursionError):
                stop, depth = _scan(text, pos)
                if depth > MAX_DEPTH:
                    raise ProtocolError("nesting too deep") from None
                if stop is None:
                    break           # incomplete: wait for more bytes
                try:
                    obj, end = _decoder.raw_decode(text[:stop], pos)
                except (json.JSONDecodeError, RecursionError) as e:
                    raise ProtocolError(f"error parsing stream: {e}") from None
            else:
                # Only a message with many brackets can be too deep: scan just those.
                if end - pos > MAX_DEPTH and text.count("{", pos, end) + text.count("[", pos, end) > MAX_DEPTH:
                    if _scan(text, pos)[1] > MAX_DEPTH:
                        raise ProtocolError("nesting too deep")
            out.append(obj)
            pos = end
        self._text = text[pos:] if pos < n else ""
        if len(self._text) > self.max_size:
            raise ProtocolError(f"message exceeds size limit of {self.max_size} bytes")
        return out


# Message kinds, as classify() returns them.
REQUEST, NOTIFY, REPLY, ERROR = "request", "notify", "reply", "error"
_ALLOWED = frozenset(("method", "params", "id", "result", "error"))


def classify(obj) -> str:
    """Validate one decoded JSON-RPC message and return its kind (or raise ProtocolError)."""
    if not isinstance(obj, dict):
        raise ProtocolError("message is not a JSON object")
    if not _ALLOWED.issuperset(obj):
        extra = sorted(set(obj) - _ALLOWED)
        raise ProtocolError(f"message has unexpected member \"{extra[0]}\"")
    if "method" in obj:
        method = obj["method"]
        if not isinstance(method, str):
            raise ProtocolError("method is not a JSON string")
        if "result" in obj or "error" in obj:
            raise ProtocolError("request has result or error member")
        if "params" not in obj:
            raise ProtocolError("request lacks params")
        if not isinstance(obj["params"], list):
            raise ProtocolError("params is not a JSON array")
        return REQUEST if obj.get("id") is not None else NOTIFY
    if "id" not in obj:
        raise ProtocolError("message lacks id")
    if obj.get("result") is not None:
        return REPLY
    if "error" in obj and obj["error"] is not None:
        return ERROR
    if "result" in obj:
        return REPLY
    raise ProtocolError("reply lacks result or error")


def reply(id_, result) -> dict:
    return {"id": id_, "result": result, "error": None}


def error_reply(id_, error) -> dict:
    return {"id": id_, "error": error}


def notification(method: str, params: list) -> dict:
    return {"id": None, "method": method, "params": params}


def request(method: str, params: list, id_) -> dict:
    return {"id": id_, "method": method, "params": params}
