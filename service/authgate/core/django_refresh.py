"""Refresh tokens issued by a Django project with simplejwt, accepted until their own expiry.

simplejwt signs with HS256 under Django's SECRET_KEY (AUTHGATE_DJANGO_SECRET_KEY here) and
names the user by `user_id`, the Django pk, which the import's mapping turns into the AuthGate
user. Such a token is good while that user is active and their token version is the one they
were imported with: a logout everywhere or a new password (each bumps the version) refuses it
from then on, as it does every token of AuthGate's own.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from typing import Any

import jwt

from authgate.core.audit import audit
from authgate.core.errors import token_not_valid
from authgate.core.tokens import MAX_TOKEN_LENGTH, TokenType
from authgate.core.users import User
from authgate.store.django_users import DjangoUserMap

# simplejwt's claim names (its settings USER_ID_CLAIM, TOKEN_TYPE_CLAIM, JTI_CLAIM).
_REQUIRED = ["exp", "iat", "jti", "token_type", "user_id"]


class DjangoRefreshTokens:
    def __init__(
        self, secret_key: str, users: DjangoUserMap, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret_key = secret_key
        self.users = users
        self.clock = clock
        self._jwt = jwt.PyJWT()

    async def holder(self, token: str, client: str = "") -> User | None:
        """The user a simplejwt refresh token speaks for; None when `token` is not simplejwt's
        (it names a `kid`, as AuthGate's own tokens do); AuthError when it is one but refused."""
        if not _unkeyed_hs256(token):
            return None
        try:
            payload: dict[str, Any] = self._jwt.decode(
                token,
                self._secret_key,
                algorithms=["HS256"],
                # simplejwt sets no `aud` or `iss` by default; time is checked below.
                options={
                    "require": _REQUIRED,
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise token_not_valid() from exc
        exp, iat, user_id = payload["exp"], payload["iat"], payload["user_id"]
        if payload["token_type"] != TokenType.REFRESH.value:
            raise token_not_valid("Token has wrong type.")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
            raise token_not_valid()
        now = self.clock()
        if exp <= now:
            raise token_not_valid("Token is expired.")
        if iat > now + 60:
            raise token_not_valid("Token is not yet valid.")
        if isinstance(user_id, bool) or not isinstance(user_id, int | str):
            raise token_not_valid()
        found = await self.users.holder(str(user_id))
        if found is None or not found[0].is_active:
            raise token_not_valid("User is inactive or deleted.")
        user, imported_version = found
        if user.token_version != imported_version:
            raise token_not_valid("Token has been revoked.")
        audit("migration_login", user_id=user.id, client=client, reason="django refresh token")
        return user


def _unkeyed_hs256(token: str) -> bool:
    """Whether the token's header is simplejwt's: HS256 and no `kid` (ours always name one)."""
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return False  # the token codec refuses it
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return False
    return isinstance(header, dict) and header.get("alg") == "HS256" and "kid" not in header
