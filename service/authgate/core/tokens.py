"""JWT access and refresh tokens (docs/architecture.md, "Tokens"), signed and checked with PyJWT.

Access and refresh tokens differ only in `token_type`, lifetime and the `typ` header, as in
simplejwt. PyJWT's exceptions become AuthError here and nowhere else.
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from authgate.core.errors import AuthError, Reason, token_not_valid
from authgate.core.key_ring import KeyRing
from authgate.core.keys import KeySet, NoSigningKey
from authgate.core.signers import Signer
from authgate.core.verified_tokens import VerifiedTokens

log = logging.getLogger(__name__)

# RFC 8725 §3.1 asks for a bound on what we parse; a real token of ours is well under 1 KiB.
MAX_TOKEN_LENGTH = 8192
REQUIRED_CLAIMS = ("exp", "iat", "jti", "sub", "token_type")


class TokenType(enum.Enum):
    ACCESS = "access"
    REFRESH = "refresh"

    @property
    def header_typ(self) -> str:
        # RFC 9068 §2.1: access tokens are typed "at+jwt".
        return "at+jwt" if self is TokenType.ACCESS else "JWT"


@dataclass(frozen=True)
class TokenClaims:
    """The claims of a token that passed every check."""

    user_id: str
    token_type: TokenType
    jti: str
    issued_at: int
    expires_at: int
    version: int = 0
    # The `scope` claim (RFC 9068 §2.2.3); None when the token carries none.
    scopes: frozenset[str] | None = None
    # Set on a client's token (the client credentials grant): its `client_id`, equal to `sub`.
    client_id: str | None = None


class TokenCodec:
    def __init__(
        self,
        keys: KeySet | KeyRing,
        *,
        issuer: str,
        audience: str = "",
        access_lifetime: int = 300,
        refresh_lifetime: int = 86400,
        clock: Callable[[], float] = time.time,
        verified: VerifiedTokens | None = None,
    ) -> None:
        self.keys = keys
        # Tokens this process has checked before (None: every token is checked in full).
        self.verified = verified
        self._key_set_seen: KeySet | None = None
        self.issuer = issuer
        self.audience = audience
        self.lifetimes = {TokenType.ACCESS: access_lifetime, TokenType.REFRESH: refresh_lifetime}
        self.clock = clock
        self._jwt = jwt.PyJWT()
        # Each signer's encoded JWS header by token type: a header is the same for every token.
        self._headers: dict[tuple[Signer, TokenType], str] = {}

    async def fresh_keys(self) -> KeySet:
        """The key set, reloaded first if a key changed (core/key_ring.py)."""
        return await self.keys.fresh()

    async def checked(self, token: str, expected: TokenType | None) -> TokenClaims:
        """`decode`, on a key set reloaded first if a key changed."""
        await self.keys.fresh()
        return self.decode(token, expected)

    def encode(
        self,
        user_id: str,
        token_type: TokenType,
        *,
        version: int = 0,
        scopes: frozenset[str] | None = None,
    ) -> str:
        return self.encode_with_claims(user_id, token_type, version=version, scopes=scopes)[0]

    def encode_for_client(self, client_id: str, scopes: frozenset[str]) -> tuple[str, int]:
        """A client's access token (RFC 9068 §2.2: `sub` and `client_id` are the client), and
        its lifetime in seconds."""
        token, _ = self.encode_with_claims(client_id, TokenType.ACCESS, scopes=scopes, client=True)
        return token, self.lifetimes[TokenType.ACCESS]

    def encode_with_claims(
        self,
        user_id: str,
        token_type: TokenType,
        *,
        version: int = 0,
        scopes: frozenset[str] | None = None,
        client: bool = False,
    ) -> tuple[str, TokenClaims]:
        """A signed token and the claims it carries (the registry needs jti and expiry)."""
        instant = self.clock()
        now = int(instant)
        claims: dict[str, Any] = {"iss": self.issuer, "sub": user_id}
        if client:
            claims["client_id"] = user_id
        else:
            claims["user_id"] = user_id  # for clients written for simplejwt
            claims["ver"] = version  # the user's token version: bumped to revoke them all
        claims.update(
            token_type=token_type.value,
            jti=uuid.uuid4().hex,
            iat=now,
            exp=now + self.lifetimes[token_type],
        )
        if scopes is not None:
            claims["scope"] = " ".join(sorted(scopes))  # RFC 9068 §2.2.3: space-delimited
        if self.audience:
            claims["aud"] = self.audience
        try:
            signer = self.keys.current.signing(instant).signer
        except NoSigningKey as error:  # every key retired, or none this KEK opens
            log.error("signing keys: %s", error)
            raise AuthError(
                Reason.UNAVAILABLE, "No signing key is available; retry later."
            ) from None
        assert signer is not None  # KeySet.signing picks only keys that have one
        token = self._sign(signer, token_type, claims)
        return token, TokenClaims(
            user_id,
            token_type,
            claims["jti"],
            now,
            claims["exp"],
            version,
            scopes,
            user_id if client else None,
        )

    def _sign(self, signer: Signer, token_type: TokenType, claims: dict[str, Any]) -> str:
        """The compact JWS (RFC 7515 §7.1) of `claims`, signed by `signer`. Built here rather
        than by PyJWT, whose encode rebuilds and re-serializes the header every time (71
        against 42 us per token, measured), and which would need the private key itself."""
        header = self._headers.get((signer, token_type))
        if header is None:
            if len(self._headers) > 64:  # keys come and go; a few are live at a time
                self._headers.clear()
            fields = {"alg": signer.alg, "kid": signer.kid, "typ": token_type.header_typ}
            header = _b64(json.dumps(fields, separators=(",", ":"), sort_keys=True).encode())
            self._headers[(signer, token_type)] = header
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}"
        return f"{signing_input}.{_b64(signer.sign(signing_input.encode('ascii')))}"

    def decode(self, token: str, expected: TokenType | None) -> TokenClaims:
        """Verify signature, issuer, audience, expiry and type; raise AuthError otherwise.

        `expected` None accepts either type (VerifyToken); the type is still checked for
        consistency between the `token_type` claim and the `typ` header.
        """
        if len(token) > MAX_TOKEN_LENGTH:
            raise token_not_valid("Token is too long.")
        if not token.isascii():  # a JWT is base64url and dots; anything else is not ours
            raise token_not_valid()
        if self.verified is not None:
            known = self.verified.get(token)
            if known is not None and self._still_a_key(known[1]):
                return _of_type(known[0], expected)
        try:
            kid = _unverified_kid(token)
            key = self.keys.current.verifying(kid, self.clock()) if isinstance(kid, str) else None
            if key is None:
                # The whole token parsed as before: a malformed one keeps the generic answer.
                jwt.get_unverified_header(token)
                raise token_not_valid("Token is signed by an unknown key.")
            # The one full parse: PyJWT checks every segment, then the signature with our key.
            decoded = self._jwt.decode_complete(
                token,
                key.verifying_key,
                algorithms=[key.algorithm],  # from our key, never from the token
                issuer=self.issuer,
                audience=self.audience or None,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_aud": bool(self.audience),
                    # Time is checked below against the injectable clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise token_not_valid() from exc
        claims = self._check_claims(decoded["header"], decoded["payload"], expected)
        if self.verified is not None:
            self.verified.remember(token, claims, key.kid)
        return claims

    def _still_a_key(self, kid: str) -> bool:
        """Whether `kid` is still in the key set; when the set changed (a key file re-read),
        the verified tokens of every key that left it are forgotten first."""
        current = self.keys.current
        if current is not self._key_set_seen:
            self._key_set_seen = current
            assert self.verified is not None
            self.verified.keep_keys(current.kids)
        return current.verifying(kid, self.clock()) is not None

    def _check_claims(
        self, header: dict[str, Any], payload: dict[str, Any], expected: TokenType | None
    ) -> TokenClaims:
        try:
            token_type = TokenType(payload.get("token_type"))
        except ValueError:
            raise token_not_valid("Token has wrong type.") from None
        if (expected is not None and token_type is not expected) or header.get(
            "typ"
        ) != token_type.header_typ:
            raise token_not_valid("Token has wrong type.")
        exp, iat, sub, jti = payload["exp"], payload["iat"], payload["sub"], payload["jti"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, iat)):
            raise token_not_valid()
        if not (isinstance(sub, str) and sub and isinstance(jti, str) and jti):
            raise token_not_valid()
        now = self.clock()
        if exp <= now:
            raise token_not_valid("Token is expired.")
        # RFC 7519 §4.1.5: not before `nbf`; and no token of ours is issued in the future.
        nbf = payload.get("nbf", iat)
        if not isinstance(nbf, int) or isinstance(nbf, bool) or nbf > now or iat > now + 60:
            raise token_not_valid("Token is not yet valid.")
        version = payload.get("ver", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise token_not_valid()
        scope = payload.get("scope")
        if scope is not None and not isinstance(scope, str):
            raise token_not_valid()
        scopes = None if scope is None else frozenset(scope.split())
        client_id = payload.get("client_id")
        if client_id is not None and (client_id != sub or token_type is not TokenType.ACCESS):
            raise token_not_valid()
        return TokenClaims(sub, token_type, jti, iat, exp, version, scopes, client_id)


def _of_type(claims: TokenClaims, expected: TokenType | None) -> TokenClaims:
    if expected is not None and claims.token_type is not expected:
        raise token_not_valid("Token has wrong type.")
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unverified_kid(token: str) -> object:
    """The `kid` in the token's header, or None; read unverified, it only picks our key.

    Only the header segment is decoded: jwt.get_unverified_header would decode and check all
    three, which decode_complete does again (about 25 us each time).
    """
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):  # binascii.Error and JSON errors are ValueErrors
        return None
    return header.get("kid") if isinstance(header, dict) else None
