"""Token introspection (RFC 7662): what an active token says, for resource servers."""

from __future__ import annotations

from dataclasses import dataclass

from authgate.core.access import format_scope
from authgate.core.tokens import TokenClaims, TokenType


@dataclass(frozen=True)
class Introspection:
    """RFC 7662 §2.2: the claims of a token that is active now."""

    sub: str
    client_id: str | None  # set on a client's token only
    scope: str
    exp: int
    iat: int
    iss: str
    jti: str
    token_type: str  # "Bearer" for an access token, "refresh_token" for a refresh token


def introspection_of(claims: TokenClaims, scopes: frozenset[str], issuer: str) -> Introspection:
    """What an active token says: its claims, with the scopes it holds now."""
    kind = "refresh_token" if claims.token_type is TokenType.REFRESH else "Bearer"
    return Introspection(
        sub=claims.user_id,
        client_id=claims.client_id,
        scope=format_scope(scopes),
        exp=claims.expires_at,
        iat=claims.issued_at,
        iss=issuer,
        jti=claims.jti,
        token_type=kind,
    )
