"""The operations both doors serve. Protocol-free: plain values in, dataclasses or AuthError out."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from . import passwords
from .errors import AuthError, Reason, invalid_request, no_active_account, token_not_valid
from .store import UserStore
from .tokens import TokenCodec, TokenType
from .users import MAX_EMAIL_LENGTH, User, UserPage, new_account_problems

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class TokenPair:
    refresh: str
    access: str


@dataclass(frozen=True)
class RefreshedTokens:
    access: str
    refresh: str | None = None  # set only when refresh-token rotation is on


class AuthCore:
    def __init__(self, store: UserStore, tokens: TokenCodec) -> None:
        self.store = store
        self.tokens = tokens

    async def issue_token_pair(self, email: str, password: str) -> TokenPair:
        problems = _required_text(
            {"email": (email, MAX_EMAIL_LENGTH), "password": (password, passwords.MAX_LENGTH)}
        )
        if problems:
            raise invalid_request(problems)
        user = await self.store.verify_credentials(email, password)
        if user is None:
            raise no_active_account()
        await self.store.record_login(user.id, datetime.now(UTC))
        return TokenPair(
            refresh=self.tokens.encode(user.id, TokenType.REFRESH),
            access=self.tokens.encode(user.id, TokenType.ACCESS),
        )

    async def refresh_access_token(self, refresh: str) -> RefreshedTokens:
        problems = _required_text({"refresh": (refresh, None)})
        if problems:
            raise invalid_request(problems)
        claims = self.tokens.decode(refresh, TokenType.REFRESH)
        user = await self._active_user(claims.user_id)
        return RefreshedTokens(access=self.tokens.encode(user.id, TokenType.ACCESS))

    async def authenticate(self, access: str) -> User:
        """The active user an access token speaks for; AuthError(token_not_valid) otherwise."""
        claims = self.tokens.decode(access, TokenType.ACCESS)
        return await self._active_user(claims.user_id)

    async def _active_user(self, user_id: str) -> User:
        # A deleted or deactivated user's tokens stop working at once (simplejwt: a 500).
        user = await self.store.get(user_id)
        if user is None or not user.is_active:
            raise token_not_valid("User is inactive or deleted.")
        return user

    async def list_visible_users(self, caller: User, page_size: int, page_token: str) -> UserPage:
        """AIP-158 pages of the users `caller` may see (AIP-211: staff all, others themselves)."""
        if page_size < 0:
            raise invalid_request({"page_size": ["Must not be negative."]})
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        return await self._page(page_token, limit, only_id=None if caller.is_staff else caller.id)

    async def _page(self, page_token: str, limit: int, only_id: str | None) -> UserPage:
        after_id = decode_page_token(page_token)
        # One extra row tells whether another page follows, without a COUNT.
        found = await self.store.page(after_id=after_id, limit=limit + 1, only_id=only_id)
        page = found[:limit]
        next_token = encode_page_token(page[-1].id) if len(found) > limit else ""
        return UserPage(tuple(page), next_token)

    # Administration (CLI and bootstrap); the doors do not expose these.

    async def create_user(self, email: str, password: str, *, is_staff: bool = False) -> User:
        problems = new_account_problems(email, password)
        if problems:
            raise invalid_request(problems)
        return await self.store.create_user(email, password, is_staff=is_staff)

    async def set_active(self, email: str, active: bool) -> User:
        user = await self.store.set_active(email, active)
        if user is None:
            raise AuthError(Reason.NOT_FOUND, "No user with that email.")
        return user

    async def list_all_users(self, page_token: str) -> UserPage:
        """Every user, a page at a time, for the operator's CLI."""
        return await self._page(page_token, MAX_PAGE_SIZE, only_id=None)

    async def bootstrap(self, email: str, password: str) -> User | None:
        """Create the first staff user when the store is empty; None when it is not."""
        if not email or await self.store.count() > 0:
            return None
        return await self.create_user(email, password, is_staff=True)


def _required_text(fields: dict[str, tuple[str, int | None]]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name, (value, max_length) in fields.items():
        if not value or not value.strip():
            problems[name] = ["This field may not be blank."]
        elif max_length is not None and len(value) > max_length:
            problems[name] = [f"Ensure this field has no more than {max_length} characters."]
        elif "\x00" in value:
            problems[name] = ["This field may not contain NUL characters."]
    return problems


def encode_page_token(last_id: str) -> str:
    raw = json.dumps({"after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The id a page starts after; '' for the first page. Malformed tokens are refused."""
    if not token:
        return ""
    try:
        padded = token + "=" * (-len(token) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        after = None
    if not isinstance(after, str) or not after:
        raise invalid_request({"page_token": ["Invalid page token."]})
    return after
