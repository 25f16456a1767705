"""JSON-RPC 1.0 over a byte stream, as Open vSwitch speaks it (sans-I/O).

Theory of operation
-------------------
Open vSwitch frames messages as concatenated JSON objects with no delimiter.
`Framer.feed(data)` takes whatever bytes a read returned and returns the
complete messages found so far; a message split across reads is held until
the rest arrives, and several messages in one read all come out.

The decoder runs on every read for short messages and, for long ones, once
a `}` has arrived (every message is an object).  When it fails, the error itself tells a message that is merely
incomplete (the failure is at the end of the buffered text, or inside an
unterminated string) from one that is malformed (`ProtocolError`), so
well-behaved peers pay for one C-speed `json` decode per message.

Limits: a message nested deeper than `MAX_DEPTH` (checked exactly on
messages with that many brackets) or longer than `max_size` bytes
raises `ProtocolError`; the caller closes that connection, as
ovsdb-server does for every protocol violation.

`classify(obj)` validates a decoded object as a request, notification or
reply with ovsdb-server's rules (no extra members, params an array, ...)
and `encode(obj)` gives the bytes to send.
"""
from __future__ import annotations

import json
import sys

MAX_DEPTH = 1000
# The json module recurses once per nesting level when decoding and encoding
# (an `echo` of a MAX_DEPTH-deep message is legal); leave room for callers.
if sys.getrecursionlimit() < MAX_DEPTH + 500:
    sys.setrecursionlimit(MAX_DEPTH + 500)
DEFAULT_MAX_SIZE = 64 * 1024 * 1024
# Incomplete messages up to this size are test-decoded on every read, so
# malformed JSON is refused at once (as ovsdb-server's incremental parser
# does); longer ones are checked once a closing brace has arrived.
EARLY_CHECK_BYTES = 64 * 1024

_decoder = json.JSONDecoder()
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class ProtocolError(Exception):
    """The peer broke the protocol; the connection must be closed."""


def encode(obj) -> bytes:
    return _dumps(obj).encode()


def _frame_depth() -> int:
    f, n = sys._getframe(), 0
    while f is not None:
        n += 1
        f = f.f_back
    return n


def _truncated(text: str, e: json.JSONDecodeError) -> bool:
    """Did decoding fail only because the message is not complete yet?"""
    pos = e.pos
    if e.msg.startswith("Unterminated string"):
        return True
    rest = text[pos:].rstrip()
    if not rest:
        return True
    if e.msg == "Expecting value" and ("true".startswith(rest) or "false".startswith(rest)
                                       or "null".startswith(rest) or rest == "-"):
        return True
    if e.msg.startswith("Invalid \\uXXXX escape") and len(text) - pos <= 6:
        return True
    return False


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
        # json's C decoder counts nesting against the recursion limit: leave
        # room for a little more than MAX_DEPTH, then check depth exactly.
        saved = sys.getrecursionlimit()
        sys.setrecursionlimit(_frame_depth() + MAX_DEPTH + 100)
        try:
            while True:
                while pos < n and text[pos] in " \t\r\n":
                    pos += 1
                if pos >= n:
                    break
                if text[pos] != "{":
                    raise ProtocolError("syntax error: message is not a JSON object")
                if text.find("}", pos) < 0 and n - pos > EARLY_CHECK_BYTES:
                    break               # a long message in flight: check once it may be complete
                try:
                    obj, end = _decoder.raw_decode(text, pos)
                except RecursionError:
                    raise ProtocolError("input exceeds maximum nesting depth") from None
                except json.JSONDecodeError as e:
                    if _truncated(text, e):
                        break           # wait for more bytes
                    raise ProtocolError(f"error parsing stream: {e}") from None
                if end - pos > MAX_DEPTH and text.count("[", pos, end) + text.count("{", pos, end) > MAX_DEPTH:
                    if _depth(obj) > MAX_DEPTH:
                        raise ProtocolError("input exceeds maximum nesting depth")
                out.append(obj)
                pos = end
        finally:
            sys.setrecursionlimit(saved)
        self._text = text[pos:] if pos < n else ""
        if len(self._text) > self.max_size:
            raise ProtocolError(f"message exceeds size limit of {self.max_size} bytes")
        return out


def _depth(obj) -> int:
    """Nesting depth of a decoded value (the outermost container counts 1), iteratively."""
    best, stack = 0, [(obj, 1)]
    while stack:
        value, d = stack.pop()
        if d > best:
            best = d
        if type(value) is dict:
            stack.extend((v, d + 1) for v in value.values() if type(v) in (dict, list))
        elif type(value) is list:
            stack.extend((v, d + 1) for v in value if type(v) in (dict, list))
    return best


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
