"""The bearer token a request carries in its Authorization header or `authorization`
metadata (RFC 6750 §2.1), for the ASGI middleware and the gRPC interceptors."""

from __future__ import annotations

from collections.abc import Sequence

from authgate_client.errors import InvalidToken, MissingToken


def bearer_token(values: Sequence[str]) -> str:
    """The token of the one Authorization value; MissingToken when there is none or it
    uses another scheme (RFC 6750 §3.1: no error code), InvalidToken when it is malformed
    or repeated."""
    if not values:
        raise MissingToken("a bearer token is required")
    if len(values) > 1:
        raise InvalidToken("more than one Authorization value")
    scheme, _, token = values[0].strip().partition(" ")
    # RFC 9110 §11.1: the scheme is case-insensitive.
    if scheme.lower() != "bearer":
        raise MissingToken("a bearer token is required")
    token = token.strip()
    if not token or " " in token:
        raise InvalidToken("the Authorization header is malformed")
    return token
