"""The checks an AuthGate access token must pass, once its key is known (RFC 9068 §4, RFC
8725): the header first, read unverified only to pick the key, then PyJWT's signature and
time checks, then AuthGate's own claims."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import jwt

from authgate_client.errors import InvalidToken
from authgate_client.principal import Principal

# RFC 8725 §3.1 asks for a bound on what is parsed; AuthGate's tokens are well under 1 KiB.
MAX_TOKEN_LENGTH = 8192
# RFC 9068 §2.1; §4 accepts the media type's full name too, compared case-insensitively as
# media types are (RFC 7515 §4.1.9).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub", "token_type")


def key_id(token: str) -> str:
    """The `kid` of an access token's header, read before its signature is checked: only to
    choose among AuthGate's keys. InvalidToken unless the header is an access token's."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidToken("the token is not a JWT")
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidToken("the token is not a JWT") from None
    if not isinstance(header, dict):
        raise InvalidToken("the token is not a JWT")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        # A refresh token (typ "JWT") or any other JWT is no access token (RFC 9068 §4).
        raise InvalidToken("the token is not an access token")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token names no key")
    return kid


def verified_claims(
    token: str, key: jwt.PyJWK, *, issuer: str, audience: str | None, leeway: float
) -> dict[str, Any]:
    """The token's claims once its signature, issuer, audience and times are checked, and
    its type: InvalidToken otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            # The algorithm is the key's, never the token header's (RFC 8725 §3.1).
            algorithms=[key.algorithm_name],
            issuer=issuer,
            # RFC 7519 §4.1.3: a token for other audiences is refused, and with no audience
            # given, so is any token that names one.
            audience=audience,
            leeway=leeway,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("the token is not valid yet") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("the token is from another issuer") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("the token is for another audience") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("the token's signature does not verify") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("the token is malformed or lacks a claim") from None
    if claims["token_type"] != "access":  # noqa: S105 (a claim value, not a secret)
        raise InvalidToken("the token is not an access token")
    return claims


def principal_of(claims: Mapping[str, Any]) -> Principal:
    """Who the verified `claims` speak for; InvalidToken if `sub`, `scope` or `client_id` is
    not what AuthGate writes."""
    subject, scope, client_id = claims["sub"], claims.get("scope", ""), claims.get("client_id")
    if not (isinstance(subject, str) and subject and isinstance(scope, str)):
        raise InvalidToken("the token is malformed or lacks a claim")
    # RFC 9068 §2.2: a client's token names the client in both `sub` and `client_id`.
    if client_id is not None and client_id != subject:
        raise InvalidToken("the token is malformed or lacks a claim")
    return Principal(subject, frozenset(scope.split()), client_id, MappingProxyType(dict(claims)))
