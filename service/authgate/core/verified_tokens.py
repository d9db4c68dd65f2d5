"""Tokens whose signature and claims this process has already checked, by a hash of the token.

A signature that verified once verifies forever, so an entry needs no invalidation beyond its
token's `exp` (checked on every hit) and its key leaving the key set (every entry of that key
goes at once). What the token's subject may do now is not cached here: the caller still asks
the subject's state, which the change log keeps true.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from authgate.core.cache import BoundedCache
from authgate.core.change_follower import ChangeFollower

if TYPE_CHECKING:
    from authgate.core.tokens import TokenClaims


class VerifiedTokens:
    def __init__(
        self, follower: ChangeFollower, size: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.follower = follower
        self.clock = clock
        # The value: the claims and the `kid` of the key that verified them. The key: SHA-256
        # of the token, 32 bytes where the token is 300 to 800.
        self._cache: BoundedCache[bytes, tuple[TokenClaims, str]] = BoundedCache(
            "verified_tokens", size
        )
        self._kids: frozenset[str] | None = None

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, token: str) -> tuple[TokenClaims, str] | None:
        """The claims and key of `token` if it verified before and has not expired since."""
        if not self.follower.is_current():
            self._cache.bypassed()
            return None
        key = _digest(token)
        found = self._cache.get(key)
        if found is not None and found[0].expires_at <= self.clock():
            self._cache.discard(key)
            return None
        return found

    def remember(self, token: str, claims: TokenClaims, kid: str) -> None:
        if self.follower.is_current():
            self._cache.put(_digest(token), (claims, kid))

    def keep_keys(self, kids: frozenset[str]) -> None:
        """The key set is now `kids`: every entry of a key that left it goes."""
        if kids != self._kids:
            self._kids = kids
            self._cache.discard_where(lambda _digest, entry: entry[1] not in kids)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
