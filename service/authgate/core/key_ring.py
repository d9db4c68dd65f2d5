"""The key set a serving process uses, reloaded from the store when the change log says a key
changed, and re-read before use whenever the log's tail is not current.

A rotation or retirement written anywhere appends a `key:<kid>` row; the tail hands it to this
ring, and the next token operation reloads the set first. When the tail is behind or broken
(core/change_follower.py), the set is re-read before use once it is older than the staleness
bound, so a retired key stops verifying within the bound whatever happened to the tail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from authgate.core.change_follower import ChangeFollower
from authgate.core.keys import KEY_SUBJECT_PREFIX, KeySet


class KeyRing:
    def __init__(
        self,
        key_set: KeySet,
        load: Callable[[], Awaitable[KeySet]],
        follower: ChangeFollower,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key_set = key_set
        self._load = load
        self.follower = follower
        self.max_age = max_age  # how old a set may be used while the tail is not current
        self.clock = clock
        self._loaded_at = clock()
        # Key rows seen, and how many of them the set in hand was loaded after.
        self._changes = 0
        self._loaded_changes = 0
        self._loading: asyncio.Future[None] | None = None
        follower.subscribe(self._forget, self._forget_all)

    @property
    def current(self) -> KeySet:
        """The set in hand, without a check (`fresh` first, where the caller can await)."""
        return self._key_set

    async def fresh(self) -> KeySet:
        """The set, reloaded first if a key changed or the set may be older than the bound."""
        while self._stale():
            if self._loading is None:
                self._loading = asyncio.ensure_future(self._reload())
            # Shielded: a cancelled request must not cancel the load the others wait for.
            await asyncio.shield(self._loading)
        return self._key_set

    def _stale(self) -> bool:
        if self._changes != self._loaded_changes:
            return True
        return not self.follower.is_current() and self.clock() - self._loaded_at > self.max_age

    async def _reload(self) -> None:
        changes, started = self._changes, self.clock()
        try:
            self._key_set = await self._load()
            self._loaded_changes, self._loaded_at = changes, started
        finally:
            self._loading = None

    def _forget(self, subject: str) -> None:
        if subject.startswith(KEY_SUBJECT_PREFIX):
            self._changes += 1

    def _forget_all(self) -> None:
        self._changes += 1
