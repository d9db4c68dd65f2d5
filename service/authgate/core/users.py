"""The user as the core sees it, and the rules for emails and passwords."""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authgate.core import passwords

MAX_EMAIL_LENGTH = 254  # RFC 5321 §4.5.3.1.3, the longest usable forward-path
# Deliberately loose: one @, something on each side, a dot in the domain, no white space
# and no control characters (PostgreSQL refuses NUL in text).
_EMAIL_SHAPE = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class User:
    """A user account. There is deliberately no password hash here (it stays in the store)."""

    id: str
    email: str
    is_active: bool
    is_staff: bool
    created_at: datetime
    last_login: datetime | None
    # Tokens issued under an older version are revoked (logout everywhere, new password).
    token_version: int = 0


@dataclass(frozen=True)
class UserPage:
    users: tuple[User, ...]
    next_page_token: str
    # What whoever presents the page made of it (a response body), by their own key, kept as
    # long as the page: the page cache hands one page to every request for it, so each
    # rendering is made once. Not part of the page's value.
    renderings: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def normalize_email(email: str) -> str:
    """Emails are unique regardless of case and surrounding white space."""
    return email.strip().lower()


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # base32 without I, L, O and U


class _MonotonicUlid:
    """ULID-style ids: 48-bit milliseconds then 80 random bits, Crockford base32.

    Within one millisecond the random part is incremented (the ULID spec's monotonic mode), so
    ids from one process sort in creation order and keyset pages list users by creation.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def __call__(self) -> str:
        with self._lock:
            value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
            if value <= self._last:
                value = self._last + 1
            self._last = value
        return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


new_user_id = _MonotonicUlid()
# What new_user_id makes: 26 characters of Crockford base32.
USER_ID_SHAPE = re.compile(f"[{_CROCKFORD}]{{26}}")


def new_account_problems(email: str, password: str) -> dict[str, list[str]]:
    """What is wrong with the email and password of an account about to be created."""
    problems: dict[str, list[str]] = {}
    normalized = normalize_email(email)
    if len(normalized) > MAX_EMAIL_LENGTH:
        problems["email"] = [f"Ensure this field has no more than {MAX_EMAIL_LENGTH} characters."]
    elif not _EMAIL_SHAPE.fullmatch(normalized):
        problems["email"] = ["Enter a valid email address."]
    if len(password) < passwords.MIN_LENGTH:
        problems["password"] = [
            f"Ensure this field has at least {passwords.MIN_LENGTH} characters."
        ]
    elif len(password) > passwords.MAX_LENGTH:
        problems["password"] = [
            f"Ensure this field has no more than {passwords.MAX_LENGTH} characters."
        ]
    return problems
