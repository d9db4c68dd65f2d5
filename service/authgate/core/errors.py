"""The one error type the core raises, and the table of reasons it can carry.

Each door maps an AuthError once: the gRPC door to a status code with google.rpc.ErrorInfo,
the REST door to an application/problem+json response (docs/architecture.md, "Errors").
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Code(enum.Enum):
    """Canonical status codes (google.rpc.Code names); the doors map them to the wire."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    NOT_FOUND = "NOT_FOUND"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"


class Reason(enum.Enum):
    """Stable machine-readable reasons; the value is the REST body's `code`."""

    INVALID_REQUEST = ("invalid_request", Code.INVALID_ARGUMENT)
    NO_ACTIVE_ACCOUNT = ("no_active_account", Code.UNAUTHENTICATED)
    NOT_AUTHENTICATED = ("not_authenticated", Code.UNAUTHENTICATED)
    TOKEN_NOT_VALID = ("token_not_valid", Code.UNAUTHENTICATED)
    # RFC 6749 §5.2, from the token endpoint: the slug is the OAuth error code.
    INVALID_CLIENT = ("invalid_client", Code.UNAUTHENTICATED)
    INVALID_SCOPE = ("invalid_scope", Code.INVALID_ARGUMENT)
    UNSUPPORTED_GRANT_TYPE = ("unsupported_grant_type", Code.INVALID_ARGUMENT)
    PERMISSION_DENIED = ("permission_denied", Code.PERMISSION_DENIED)
    INSUFFICIENT_SCOPE = ("insufficient_scope", Code.PERMISSION_DENIED)
    ALREADY_EXISTS = ("already_exists", Code.ALREADY_EXISTS)
    NOT_FOUND = ("not_found", Code.NOT_FOUND)
    THROTTLED = ("throttled", Code.RESOURCE_EXHAUSTED)
    UNAVAILABLE = ("unavailable", Code.UNAVAILABLE)

    def __init__(self, slug: str, code: Code) -> None:
        self.slug = slug
        self.code = code


class AuthError(Exception):
    """A refusal the client can act on: a reason, a human detail and per-field messages."""

    def __init__(
        self,
        reason: Reason,
        detail: str,
        field_errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.field_errors: dict[str, list[str]] = dict(field_errors or {})
        # Seconds until a throttled client may retry (Retry-After, google.rpc.RetryInfo).
        self.retry_after: int | None = None
        # The scopes an insufficient_scope refusal asks for (RFC 6750 §3.1's `scope`).
        self.required_scope: str = ""

    @property
    def code(self) -> Code:
        return self.reason.code

    def __repr__(self) -> str:
        return f"AuthError({self.reason.slug!r}, {self.detail!r})"


def invalid_request(field_errors: Mapping[str, list[str]]) -> AuthError:
    """A 400 / INVALID_ARGUMENT naming every offending field."""
    fields = ", ".join(sorted(field_errors))
    return AuthError(Reason.INVALID_REQUEST, f"Invalid fields: {fields}.", field_errors)


def token_not_valid(detail: str = "Token is invalid or expired.") -> AuthError:
    return AuthError(Reason.TOKEN_NOT_VALID, detail)


# One message for every failed login, whatever the cause: an unknown email, a wrong password
# and an inactive user are indistinguishable.
NO_ACTIVE_ACCOUNT_DETAIL = "No active account found with the given credentials."


def no_active_account() -> AuthError:
    return AuthError(Reason.NO_ACTIVE_ACCOUNT, NO_ACTIVE_ACCOUNT_DETAIL)


def not_authenticated() -> AuthError:
    return AuthError(Reason.NOT_AUTHENTICATED, "Authentication credentials were not provided.")


def unavailable() -> AuthError:
    return AuthError(Reason.UNAVAILABLE, "The user store is unavailable; retry later.")
