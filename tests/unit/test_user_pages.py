"""The page cache of the user list: kept while the change log's tail is current, emptied by any
users row, never holding a page read across a change, and bounded by the users it holds."""

from __future__ import annotations

from datetime import UTC, datetime

from authgate.core.change_follower import ChangeFollower
from authgate.core.user_pages import UserPages
from authgate.core.users import User, UserPage, new_user_id
from authgate.store.change_log import Change, ChangeKind

from unit_fixtures import Clock

STALENESS = 0.1
USERS = sorted(new_user_id() for _ in range(120))


def current_follower(clock: Clock) -> ChangeFollower:
    follower = ChangeFollower(STALENESS, clock=clock)
    follower.caught_up([], clock(), complete=True)
    return follower


def row(seq: int, subject: str, kind: ChangeKind = ChangeKind.LOGGED_IN) -> Change:
    return Change(seq, subject, kind, None, datetime.now(UTC))


def user(user_id: str) -> User:
    return User(user_id, f"{user_id.lower()}@example.com", True, False, datetime.now(UTC), None)


class Store:
    """A store of USERS that counts its page reads; `during_read` runs inside each one."""

    def __init__(self) -> None:
        self.reads = 0
        self.during_read = lambda: None

    def loader(self, after_id: str, only_id: str | None = None):
        async def load(rows: int) -> list[User]:
            self.reads += 1
            self.during_read()
            ids = [i for i in USERS if i > after_id and only_id in (None, i)]
            return [user(i) for i in ids[:rows]]

        return load


async def page(pages: UserPages, store: Store, after: str = "", limit: int = 50, only=None):
    return await pages.page(after, limit, only, store.loader(after, only))


async def test_a_page_is_read_once_then_answered_by_the_cache():
    pages, store = UserPages(current_follower(Clock(1000.0)), rows=1000), Store()
    first = await page(pages, store)
    assert await page(pages, store) is first
    assert store.reads == 1
    assert [u.id for u in first.users] == USERS[:50] and first.next_page_token


async def test_the_last_page_has_no_next_token_from_the_cache_either():
    pages, store = UserPages(current_follower(Clock(1000.0)), rows=1000), Store()
    for _ in range(2):
        last = await page(pages, store, after=USERS[99])
        assert [u.id for u in last.users] == USERS[100:] and last.next_page_token == ""
    assert store.reads == 1


async def test_a_stale_tail_sends_every_page_to_the_store():
    clock = Clock(1000.0)
    pages, store = UserPages(current_follower(clock), rows=1000), Store()
    await page(pages, store)
    clock.now += STALENESS * 2  # no catch-up since: the cache may be missing a row
    await page(pages, store)
    await page(pages, store)
    assert store.reads == 3
    assert len(pages.pages) == 1  # nothing was filled while stale


async def test_a_page_read_while_a_row_arrived_is_not_kept():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    pages, store = UserPages(follower, rows=1000), Store()
    store.during_read = lambda: follower.caught_up([row(1, USERS[3])], clock(), complete=True)
    await page(pages, store)  # the read may predate the login: not kept
    assert len(pages.pages) == 0
    store.during_read = lambda: None
    await page(pages, store)
    await page(pages, store)
    assert store.reads == 2


async def test_any_users_row_empties_every_page_of_all_users():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    pages, store = UserPages(follower, rows=1000), Store()
    await page(pages, store)
    await page(pages, store, after=USERS[49])
    follower.caught_up([row(1, new_user_id(), ChangeKind.USER_CREATED)], clock(), complete=True)
    assert len(pages.pages) == 0
    await page(pages, store)
    assert store.reads == 3


async def test_a_users_own_page_is_forgotten_by_that_users_row_alone():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    pages, store = UserPages(follower, rows=1000), Store()
    mine, theirs = USERS[7], USERS[8]
    await page(pages, store, only=mine)
    await page(pages, store, only=theirs)
    follower.caught_up([row(1, theirs)], clock(), complete=True)
    assert (await page(pages, store, only=mine)).users[0].id == mine
    assert store.reads == 2  # mine stayed; theirs went
    await page(pages, store, only=theirs)
    assert store.reads == 3


async def test_pages_hold_at_most_their_bound_of_users_and_keep_the_latest():
    pages, store = UserPages(current_follower(Clock(1000.0)), rows=120), Store()
    for after in ["", *USERS[:60]]:  # 61 pages of 50 (fewer at the end), 2,000 users or more
        await page(pages, store, after=after)
    assert sum(max(1, len(p.users)) for p in pages.pages._entries.values()) <= 120
    assert pages._held <= 120 and len(pages._shared) == len(pages.pages)
    reads = store.reads
    await page(pages, store, after=USERS[59])  # the latest page stayed
    assert store.reads == reads


async def test_own_pages_of_many_users_hold_their_bound_and_their_index():
    pages, store = UserPages(current_follower(Clock(1000.0)), rows=25), Store()
    for user_id in USERS:
        await page(pages, store, only=user_id)
    assert len(pages.pages) == 25 and pages._held == 25
    assert sum(len(keys) for keys in pages._own.values()) == 25


async def test_a_page_larger_than_the_bound_is_not_kept():
    pages, store = UserPages(current_follower(Clock(1000.0)), rows=10), Store()
    await page(pages, store)
    assert len(pages.pages) == 0 and pages._held == 0
    assert isinstance(await page(pages, store), UserPage) and store.reads == 2


async def test_a_tail_behind_for_long_forgets_every_page():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    pages, store = UserPages(follower, rows=1000), Store()
    await page(pages, store)
    await page(pages, store, only=USERS[0])
    clock.now += 3600
    follower.caught_up([], clock(), complete=True)
    assert len(pages.pages) == 0 and pages._held == 0 and not pages._own and not pages._shared
