"""Which scopes each route or RPC needs, as one mapping the ASGI middleware and the gRPC
interceptors share:

    rules = {
        "/healthz": PUBLIC,                       # no token needed
        "GET /invoices*": "invoices:read",        # a prefix, one method
        "POST /invoices*": {"invoices:write"},
        "/pkg.Billing/*": PUBLIC,                 # gRPC: every method of a service
        "/pkg.Billing/Refund": "refunds:write",   # gRPC: full method names
    }

A key is `[METHOD ]PATH`: the HTTP method is optional (none matches every method; gRPC keys
have none), and a PATH ending in `*` is a literal prefix. A value is a set of scopes, a
string of space-separated scopes (as OAuth writes them), or PUBLIC. The most specific key
wins: an exact path over a prefix, a longer prefix over a shorter, a key with a method over
one without. A path no key matches needs a valid token and no scope: nothing is public by
omission.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class Access(enum.Enum):
    PUBLIC = "public"


# Served without a token: no verification, and no principal for the handler.
PUBLIC = Access.PUBLIC

Required = frozenset[str] | Access
Rule = str | Iterable[str] | Access
Rules = Mapping[str, Rule]

# Routers serve HEAD with the GET route (Starlette does): it must need what GET needs.
_SAME_AS = {"HEAD": "GET"}


@dataclass(frozen=True)
class _Entry:
    method: str | None
    path: str
    prefix: bool
    required: Required

    def matches(self, path: str, method: str | None) -> bool:
        if self.method is not None and self.method != method:
            return False
        return path.startswith(self.path) if self.prefix else path == self.path

    @property
    def specificity(self) -> tuple[bool, int, bool]:
        return (not self.prefix, len(self.path), self.method is not None)


class AccessRules:
    """The mapping of the module docstring, parsed once; `required` per request."""

    def __init__(self, rules: Rules | None = None) -> None:
        entries = [_entry(key, rule) for key, rule in (rules or {}).items()]
        self._entries = sorted(entries, key=lambda entry: entry.specificity, reverse=True)

    def required(self, path: str, method: str | None = None) -> Required:
        """The scopes a request for `path` (with HTTP `method`) needs, or PUBLIC."""
        method = _SAME_AS.get(method, method) if method is not None else None
        for entry in self._entries:
            if entry.matches(path, method):
                return entry.required
        return frozenset()


def _entry(key: str, rule: Rule) -> _Entry:
    words = key.split()
    method, path = (None, words[0]) if len(words) == 1 else (words[0], words[-1])
    if len(words) not in (1, 2) or not path.startswith("/") or (method and not method.isupper()):
        raise ValueError(f"access rule {key!r}: expected '[METHOD ]/path[*]'")
    prefix = path.endswith("*")
    return _Entry(
        _SAME_AS.get(method, method) if method else None,
        path.removesuffix("*"),
        prefix,
        _required(rule),
    )


def _required(rule: Rule) -> Required:
    if isinstance(rule, Access):
        return rule
    if isinstance(rule, str):
        return frozenset(rule.split())  # RFC 6749 §3.3: space-delimited
    return frozenset(rule)
