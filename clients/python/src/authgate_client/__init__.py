"""The AuthGate client library: callers that keep a token fresh by themselves, and services
that verify AuthGate's tokens locally while honouring revocations as they happen.

Importing it imports neither grpc nor any web framework: the integrations are
`authgate_client.asgi` and `authgate_client.grpc` (the `grpc` extra).
"""

from __future__ import annotations

from authgate_client.access_rules import PUBLIC
from authgate_client.errors import (
    AuthGateError,
    InsufficientScope,
    InvalidCredentials,
    InvalidToken,
    MissingToken,
    TokenRequestFailed,
    VerificationUnavailable,
)
from authgate_client.http_auth import AuthGateAuth
from authgate_client.principal import Principal, current_principal, require_scopes
from authgate_client.token_requests import ClientLogin, PasswordLogin
from authgate_client.tokens import TokenKeeper
from authgate_client.verifier import Verifier

__version__ = "0.1.0"

__all__ = [
    "PUBLIC",
    "AuthGateAuth",
    "AuthGateError",
    "ClientLogin",
    "InsufficientScope",
    "InvalidCredentials",
    "InvalidToken",
    "MissingToken",
    "PasswordLogin",
    "Principal",
    "TokenKeeper",
    "TokenRequestFailed",
    "VerificationUnavailable",
    "Verifier",
    "current_principal",
    "require_scopes",
]
