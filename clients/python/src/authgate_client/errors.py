"""The library's errors: one shallow tree, each class what a caller may catch."""

from __future__ import annotations

from collections.abc import Iterable


class AuthGateError(Exception):
    """Base class of every error the AuthGate client library raises."""


class InvalidToken(AuthGateError):
    """The token is not one this service accepts: malformed, badly signed, expired, of the
    wrong type, issuer or audience, or revoked."""


class MissingToken(InvalidToken):
    """The request carries no bearer token (RFC 6750 §3.1: refused without an error code)."""


class VerificationUnavailable(InvalidToken):
    """No token can be vouched for now: AuthGate's keys are out of reach and the cached ones
    are past their stale bound. An InvalidToken, so that a caller who only catches that
    fails closed; the integrations answer 503 / UNAVAILABLE for it instead of 401."""


class InsufficientScope(AuthGateError):
    """The token is valid but lacks scopes the operation needs (RFC 6750 §3.1)."""

    def __init__(self, missing: Iterable[str]) -> None:
        self.missing = frozenset(missing)
        super().__init__(f"the token lacks the scope {' '.join(sorted(self.missing))}")


class TokenRequestFailed(AuthGateError):
    """AuthGate issued no token: `status` is the HTTP status, `code` the body's error code
    (RFC 9457 `code` or RFC 6749 §5.2 `error`); the message never holds a token or secret."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class InvalidCredentials(TokenRequestFailed):
    """AuthGate refused the email and password, or the client's id, secret or scope."""
