"""The one error type of the OVSDB engine, carrying its RFC 7047 wire answer.

Every failure inside a transaction, a monitor request or a method call
raises `OvsdbError(tag, details, syntax)`.  The session turns it into the
error object ovsdb-server would send (`{"error": tag, "details": ..,
"syntax": ..}`) in one place; nothing else formats errors.
"""
from __future__ import annotations

import json

_dumps = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode


def syntax_of(value) -> str:
    """The `syntax` member as ovsdb-server writes it: compact JSON, keys sorted."""
    return _dumps(value)


class OvsdbError(Exception):
    def __init__(self, tag: str, details: str | None = None, syntax=None, *, has_syntax: bool = False):
        super().__init__(f"{tag}: {details}")
        self.tag = tag
        self.details = details
        # `syntax` is the offending JSON value; None is a valid JSON value, so
        # whether one was given is tracked separately.
        self.syntax = syntax
        self.has_syntax = has_syntax or syntax is not None

    def to_json(self) -> dict:
        obj = {"error": self.tag}
        if self.details is not None:
            obj["details"] = self.details
        if self.has_syntax:
            obj["syntax"] = syntax_of(self.syntax)
        return obj

    def with_prefix(self, prefix: str) -> "OvsdbError":
        return OvsdbError(self.tag, prefix + (self.details or ""), self.syntax, has_syntax=self.has_syntax)


def syntax_error(details: str, syntax=None, has_syntax: bool | None = None) -> OvsdbError:
    return OvsdbError("syntax error", details, syntax,
                      has_syntax=(syntax is not None) if has_syntax is None else has_syntax)
