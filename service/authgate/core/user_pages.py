"""Pages of the user list as the store last said, kept true by the change log.

A page shows every user after its first id, so any users row of the log (a user created,
deactivated, deleted, a login's last_login...) may change it: each row empties every page
that lists all users, and the pages a user's own token lists of that user alone. A page is
read from the store when the tail is behind (core/change_follower.py), and kept only if
nothing was forgotten while it was read.

The cache is bounded by the users its pages hold, not by pages: a page holds up to 1,000.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from authgate.core.cache import BoundedCache
from authgate.core.change_follower import ChangeFollower
from authgate.core.paging import encode_page_token
from authgate.core.users import User, UserPage


class PageKey(NamedTuple):
    after_id: str  # '' for the first page
    limit: int
    only_id: str | None  # the one user a caller without `users:read` may see


class UserPages:
    def __init__(self, follower: ChangeFollower, rows: int) -> None:
        self.follower = follower
        self.rows = rows  # the most users all the pages hold together
        self.pages: BoundedCache[PageKey, UserPage] = BoundedCache("user_pages", rows)
        self._held = 0  # users in the pages held (an empty page counts as one)
        self._shared: set[PageKey] = set()  # pages of every user
        self._own: dict[str, set[PageKey]] = {}  # pages of one user, by that user
        follower.subscribe(self.forget, self.forget_all)

    async def page(
        self,
        after_id: str,
        limit: int,
        only_id: str | None,
        load: Callable[[int], Awaitable[list[User]]],
    ) -> UserPage:
        """The page of at most `limit` users after `after_id`; `load(n)` reads n rows."""
        key = PageKey(after_id, limit, only_id)
        if not self.follower.is_current():
            self.pages.bypassed()
            return _page_of(await load(limit + 1), limit)
        found = self.pages.get(key)
        if found is not None:
            return found
        ticket = self.follower.ticket()
        page = _page_of(await load(limit + 1), limit)
        if self.follower.may_fill(ticket):
            self._hold(key, page)
        return page

    def forget(self, subject: str) -> None:
        """A users row of `subject` arrived (or a client's: the same, being rare)."""
        for key in self._shared:
            self._drop(self.pages.discard(key))
        self._shared.clear()
        for key in self._own.pop(subject, ()):
            self._drop(self.pages.discard(key))

    def forget_all(self) -> None:
        self.pages.clear()
        self._shared.clear()
        self._own.clear()
        self._held = 0

    def _hold(self, key: PageKey, page: UserPage) -> None:
        self._drop(self.pages.discard(key))  # a fill racing another of the same page
        evicted = self.pages.put(key, page)
        if evicted is not None:  # as many pages as rows, each of one row: the last one goes
            self._unindex(*evicted)
        self._held += _weight(page)
        if key.only_id is None:
            self._shared.add(key)
        else:
            self._own.setdefault(key.only_id, set()).add(key)
        while self._held > self.rows:
            evicted = self.pages.evict_oldest()
            assert evicted is not None  # _held > 0: something is held
            self._unindex(*evicted)

    def _drop(self, page: UserPage | None) -> None:
        if page is not None:
            self._held -= _weight(page)

    def _unindex(self, key: PageKey, page: UserPage) -> None:
        self._drop(page)
        if key.only_id is None:
            self._shared.discard(key)
            return
        keys = self._own.get(key.only_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._own[key.only_id]


def _page_of(found: list[User], limit: int) -> UserPage:
    # `found` has one row more than the page when another page follows: no COUNT needed.
    page = found[:limit]
    next_token = encode_page_token(page[-1].id) if len(found) > limit else ""
    return UserPage(tuple(page), next_token)


def _weight(page: UserPage) -> int:
    return max(1, len(page.users))
