"""Who a verified token speaks for, and the principal of the call being served.

    principal = verifier.verify(token)
    principal.require("invoices:read")   # InsufficientScope if the token lacks it

Inside a handler protected by `authgate_client.asgi` or `authgate_client.grpc`,
`current_principal()` returns the same object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from authgate_client.errors import InsufficientScope


@dataclass(frozen=True)
class Principal:
    """The holder of a verified access token."""

    # The `sub` claim: a user's id, or a client's id for a client's token.
    subject: str
    # The `scope` claim, split (RFC 9068 §2.2.3: space-delimited).
    scopes: frozenset[str]
    # The `client_id` claim: set on a client's token (client credentials), None for a user's.
    client_id: str | None
    # Every claim of the token, as verified. Not part of equality or hashing.
    claims: Mapping[str, Any] = field(compare=False, hash=False, repr=False)

    def require(self, *scopes: str) -> None:
        """Raise InsufficientScope naming every one of `scopes` the token lacks."""
        require_scopes(self, scopes)


def require_scopes(principal: Principal, scopes: Iterable[str]) -> None:
    """Raise InsufficientScope naming every one of `scopes` that `principal` lacks."""
    missing = frozenset(scopes) - principal.scopes
    if missing:
        raise InsufficientScope(missing)


_current: ContextVar[Principal | None] = ContextVar("authgate_principal", default=None)


def current_principal() -> Principal:
    """The principal of the request or RPC being served; LookupError outside a protected
    one (a public route has none)."""
    principal = _current.get()
    if principal is None:
        raise LookupError("no principal: this call was not authenticated by authgate_client")
    return principal


@contextmanager
def serving(principal: Principal) -> Iterator[None]:
    """`current_principal()` is `principal` inside the block, and what it was after (a
    server's worker threads serve one call after another in the same context)."""
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)
