"""Who may call what: the scope vocabulary, a caller's scopes, and an operation's requirement.

The requirement of each RPC is declared once, in the proto (`authgate.v1.access`); the doors
read it from the descriptors and hand it to `AuthCore.authorize`, which decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from authgate.core.errors import AuthError, Reason
from authgate.core.users import User

# The scopes AuthGate grants (RFC 6749 §3.3), and what each lets a token do.
SCOPES = {
    "users:read": "List every user.",
    "users:write": "Create, update and delete users.",
    "revocations:watch": "Follow the revocation feed.",
}
# What a staff user's token holds; any other user's holds no scope.
STAFF_SCOPES = frozenset({"users:read", "users:write"})


@dataclass(frozen=True)
class Requirement:
    """What an operation needs of its caller (the proto's `authgate.v1.Access`)."""

    public: bool = False
    scopes: frozenset[str] = frozenset()
    # A user's own token may call without the scopes, the operation acting on that user alone.
    self_without_scopes: bool = False
    # Only a client's (service account's) token may call.
    clients_only: bool = False

    def __post_init__(self) -> None:
        unknown = self.scopes - SCOPES.keys()
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}; known: {sorted(SCOPES)}")


@dataclass(frozen=True)
class Caller:
    """Whom an access token speaks for, with the scopes it holds now."""

    subject: str
    scopes: frozenset[str]
    user: User | None = None  # None for a client (service account)

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def scopes_of(user: User) -> frozenset[str]:
    """The scopes a user holds: staff hold STAFF_SCOPES, anyone else none."""
    return STAFF_SCOPES if user.is_staff else frozenset()


def format_scope(scopes: frozenset[str]) -> str:
    """RFC 6749 §3.3: space-delimited, here in a stable order."""
    return " ".join(sorted(scopes))


def check(caller: Caller, requirement: Requirement) -> None:
    """Refuse a caller whose token lacks a scope the operation requires (RFC 6750 §3.1)."""
    if requirement.clients_only and caller.user is not None:
        raise AuthError(Reason.PERMISSION_DENIED, "Only a client's token may call this.")
    missing = requirement.scopes - caller.scopes
    if not missing or (requirement.self_without_scopes and caller.user is not None):
        return
    error = AuthError(
        Reason.INSUFFICIENT_SCOPE, f"This operation needs the scope {format_scope(missing)}."
    )
    error.required_scope = format_scope(requirement.scopes)
    raise error
