"""Users, clients, live refresh tokens and pages of users (core/user_pages.py) as the store last
said, kept true by the change log.

A lookup asks the cache while the change log's tail is current (core/change_follower.py), and
the store otherwise. What the store answers is kept only if its subject was not forgotten while
it was read, so a read that raced a write can never be kept past the write's row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from authgate.core.cache import BoundedCache
from authgate.core.change_follower import ChangeFollower
from authgate.core.clients import Client
from authgate.core.user_pages import UserPages
from authgate.core.users import User

Subject = TypeVar("Subject", User, Client)


class SubjectStates:
    def __init__(self, follower: ChangeFollower, size: int) -> None:
        self.follower = follower
        self.users: BoundedCache[str, User] = BoundedCache("users", size)
        self.clients: BoundedCache[str, Client] = BoundedCache("clients", size)
        # Refresh tokens the registry said were live (registered, unspent, unrevoked), with
        # their user. Only a change-log row of that user (a revocation among them) or the
        # bound ends one; rotation spends tokens with no row, so it never reads this cache.
        self.live_refresh: BoundedCache[str, str] = BoundedCache("refresh_tokens", size)
        self._refresh_of_user: dict[str, set[str]] = {}
        follower.subscribe(self.forget, self.forget_all)
        # Pages of the user list, holding at most `size` users between them.
        self.pages = UserPages(follower, size)

    @classmethod
    def uncached(cls) -> SubjectStates:
        """Every lookup goes to the store (the operator's commands, and tests of the core)."""
        return cls(ChangeFollower(staleness=0.0), size=1)

    async def user(self, user_id: str, load: Callable[[], Awaitable[User | None]]) -> User | None:
        return await self._through(self.users, user_id, load)

    async def client(
        self, client_id: str, load: Callable[[], Awaitable[Client | None]]
    ) -> Client | None:
        return await self._through(self.clients, client_id, load)

    def refresh_is_live(self, jti: str, user_id: str) -> bool:
        """Whether the registry said `jti` (of `user_id`) is live, and nothing since changed."""
        if not self.follower.is_current():
            self.live_refresh.bypassed()
            return False
        return self.live_refresh.get(jti) == user_id

    def remember_live_refresh(self, jti: str, user: User, ticket: int | None) -> None:
        """The registry read with `ticket` said `jti` is live and held by `user`."""
        # A revocation of `jti` appends a row of its user, as every change to the user does.
        if not self.follower.may_fill(ticket, user.id):
            return
        self.users.put(user.id, user)
        evicted = self.live_refresh.put(jti, user.id)
        self._refresh_of_user.setdefault(user.id, set()).add(jti)
        if evicted is not None:
            self._unindex(*evicted)

    def forget(self, subject: str) -> None:
        self.users.discard(subject)
        self.clients.discard(subject)
        for jti in self._refresh_of_user.pop(subject, ()):
            self.live_refresh.discard(jti)

    def forget_all(self) -> None:
        for cache in (self.users, self.clients, self.live_refresh):
            cache.clear()
        self._refresh_of_user.clear()

    async def _through(
        self,
        cache: BoundedCache[str, Subject],
        key: str,
        load: Callable[[], Awaitable[Subject | None]],
    ) -> Subject | None:
        if not self.follower.is_current():
            cache.bypassed()
            return await load()
        found = cache.get(key)
        if found is not None:
            return found
        ticket = self.follower.epoch
        loaded = await load()
        if loaded is not None and self.follower.may_fill(ticket, key):
            cache.put(key, loaded)
        return loaded

    def _unindex(self, jti: str, user_id: str) -> None:
        jtis = self._refresh_of_user.get(user_id)
        if jtis is not None:
            jtis.discard(jti)
            if not jtis:
                del self._refresh_of_user[user_id]
