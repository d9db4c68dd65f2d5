"""The caches the change log keeps true: their bounds, the staleness gate, and what a verified
token cache may never accept (a token past its `exp`, a token whose key has left)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from authgate.core.cache import BoundedCache
from authgate.core.change_follower import FORGET_ALL_AFTER, RECENT_FORGETS, ChangeFollower
from authgate.core.errors import AuthError
from authgate.core.key_ring import KeyRing
from authgate.core.keys import KeySet
from authgate.core.subject_states import SubjectStates
from authgate.core.tokens import TokenCodec, TokenType
from authgate.core.users import User
from authgate.core.verified_tokens import VerifiedTokens
from authgate.store.change_log import Change, ChangeKind

from unit_fixtures import ISSUER, Clock, key_for, key_set_of, other_key_for

STALENESS = 0.1


def current_follower(clock: Clock) -> ChangeFollower:
    """A follower whose tail has just caught up (on `clock`)."""
    follower = ChangeFollower(STALENESS, clock=clock)
    follower.caught_up([], clock(), complete=True)
    return follower


def change(seq: int, subject: str) -> Change:
    return Change(seq, subject, ChangeKind.USER_DEACTIVATED, None, datetime.now(UTC))


def user(user_id: str = "U1", active: bool = True) -> User:
    return User(user_id, f"{user_id}@example.com", active, False, datetime.now(UTC), None)


def caching_codec(key_set: KeySet | KeyRing, wall: Clock, follower: ChangeFollower, size: int):
    verified = VerifiedTokens(follower, size, clock=wall)
    return TokenCodec(key_set, issuer=ISSUER, clock=wall, verified=verified)


# A bounded LRU


def test_a_cache_never_holds_more_than_its_bound_and_evicts_the_least_recent():
    cache: BoundedCache[int, str] = BoundedCache("test_bound", 3)
    for n in range(3):
        cache.put(n, str(n))
    assert cache.get(0) == "0"  # 0 is now the most recent
    assert cache.put(3, "3") == (1, "1")
    assert len(cache) == 3 and cache.get(1) is None and cache.get(0) == "0"


# The staleness gate


def test_the_follower_is_current_only_within_the_bound_of_its_last_catch_up():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    clock.now += STALENESS * 0.99
    assert follower.is_current()
    clock.now += STALENESS * 0.02
    assert not follower.is_current()
    follower.caught_up([], clock(), complete=False)  # a partial catch-up is not caught up
    assert not follower.is_current()


def test_a_read_that_raced_a_change_is_not_kept():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    ticket = follower.ticket()
    follower.caught_up([change(1, "someone else")], clock(), complete=True)
    assert not follower.may_fill(ticket)
    assert follower.may_fill(follower.ticket())


def test_a_subjects_read_is_kept_when_only_other_subjects_changed_meanwhile():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    ticket = follower.ticket()
    follower.caught_up([change(1, "U2")], clock(), complete=True)  # U2 logged in, say
    assert follower.may_fill(ticket, "U1")
    assert not follower.may_fill(ticket, "U2")
    assert not follower.may_fill(ticket), "a read of many subjects (a page) may hold U2"


def test_a_read_that_began_before_everything_was_forgotten_is_not_kept():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    ticket = follower.ticket()
    clock.now += FORGET_ALL_AFTER + 1
    follower.caught_up([], clock(), complete=True)  # behind for long: every cache emptied
    assert not follower.may_fill(ticket, "U1")
    assert follower.may_fill(follower.ticket(), "U1")


def test_once_the_record_of_forgets_starts_again_older_reads_are_not_kept():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    ticket = follower.ticket()
    others = [change(n, f"other-{n}") for n in range(1, RECENT_FORGETS + 2)]
    follower.caught_up(others, clock(), complete=True)
    assert not follower.may_fill(ticket, "U1"), "U1's forget may be among those let go"
    assert follower.may_fill(follower.ticket(), "U1")


async def test_a_refused_users_state_is_cached_while_others_log_in():
    """A deactivated user's token is refused from the cache, not a store read each time,
    though logins of other users append rows during the read."""
    clock = Clock(1000.0)
    follower = current_follower(clock)
    states = SubjectStates(follower, size=10)
    reads = []

    async def load() -> User:
        reads.append(1)
        follower.caught_up([change(len(reads), f"login-{len(reads)}")], clock(), complete=True)
        return user("U1", active=False)

    for _ in range(3):
        found = await states.user("U1", load)
        assert found is not None and not found.is_active
    assert len(reads) == 1


def test_nothing_is_kept_while_the_tail_is_behind():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    clock.now += 1
    assert follower.ticket() is None and not follower.may_fill(follower.epoch)


def test_a_read_with_nothing_new_keeps_the_follower_current_only_once_every_row_is_applied():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    clock.now += STALENESS * 0.5
    assert follower.heard_nothing_new(0, clock())  # no row handed over: current from now
    clock.now += STALENESS * 0.9
    assert follower.is_current()
    # The tail handed row 1 over, and the loop has not applied it yet (or never will).
    assert not follower.heard_nothing_new(1, clock())
    clock.now += STALENESS * 0.2
    assert not follower.is_current()
    follower.caught_up([change(1, "U1")], clock(), complete=True)
    clock.now += STALENESS * 0.5
    assert follower.heard_nothing_new(1, clock())


def test_a_read_with_nothing_new_after_a_long_gap_goes_to_the_loop_to_forget_everything():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    clock.now += FORGET_ALL_AFTER + 1
    assert not follower.heard_nothing_new(0, clock())
    assert not follower.is_current()


def test_each_applied_row_is_timed_from_its_write():
    """/metrics says how stale the caches were: each row from its time to its application."""
    lag = "authgate_change_log_apply_lag_seconds"

    def over(le: str) -> float:
        count = REGISTRY.get_sample_value(f"{lag}_count") or 0.0
        return count - (REGISTRY.get_sample_value(f"{lag}_bucket", {"le": le}) or 0.0)

    follower = current_follower(Clock())
    fresh, late_before = over("0.05"), over("0.25")
    written = datetime.now(UTC)
    follower.caught_up(
        [
            Change(1, "U1", ChangeKind.USER_DEACTIVATED, None, written),
            Change(2, "U2", ChangeKind.USER_DEACTIVATED, None, written - timedelta(seconds=0.3)),
            Change(2, "U2", ChangeKind.USER_DEACTIVATED, None, written - timedelta(seconds=9)),
        ],
        follower.clock(),
        complete=True,
    )
    assert over("0.25") - late_before == 1, "the row written 0.3 s ago; the repeat is not applied"
    assert over("0.05") - fresh == 1, "the row written just now is not late"


async def test_a_users_row_in_the_log_drops_the_cached_user_and_their_live_refresh_tokens():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    states = SubjectStates(follower, size=10)
    loads = []

    async def load():
        loads.append(1)
        return user()

    await states.user("U1", load)
    await states.user("U1", load)
    states.remember_live_refresh("jti-1", user(), follower.ticket())
    assert len(loads) == 1 and states.refresh_is_live("jti-1", "U1")
    follower.caught_up([change(1, "U1")], clock(), complete=True)
    assert not states.refresh_is_live("jti-1", "U1")
    await states.user("U1", load)
    assert len(loads) == 2


async def test_a_stale_tail_sends_every_lookup_to_the_store():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    states = SubjectStates(follower, size=10)
    answers = iter([user(active=True), user(active=False)])

    async def load():
        return next(answers)

    assert (await states.user("U1", load)).is_active
    clock.now += STALENESS * 2  # the tail stopped: no catch-up since
    assert not (await states.user("U1", load)).is_active


def test_a_tail_behind_for_long_forgets_everything_when_it_catches_up():
    clock = Clock(1000.0)
    follower = current_follower(clock)
    states = SubjectStates(follower, size=10)
    states.remember_live_refresh("jti-1", user(), follower.ticket())
    clock.now += FORGET_ALL_AFTER + 1
    follower.caught_up([], clock(), complete=True)
    assert len(states.users) == 0 and len(states.live_refresh) == 0


async def test_subject_caches_hold_their_bound_under_a_flood_of_subjects():
    clock = Clock(1000.0)
    states = SubjectStates(current_follower(clock), size=25)
    for n in range(500):

        async def load(n=n):
            return user(f"U{n}")

        await states.user(f"U{n}", load)
        states.remember_live_refresh(f"jti-{n}", user(f"U{n}"), states.follower.ticket())
    assert len(states.users) == 25 and len(states.live_refresh) == 25
    assert sum(len(jtis) for jtis in states._refresh_of_user.values()) == 25


# Verified tokens


def test_a_verified_token_is_never_accepted_after_its_exp():
    wall, monotonic = Clock(), Clock(1000.0)
    key = key_for("EdDSA")
    codec = caching_codec(key_set_of(key), wall, current_follower(monotonic), 10)
    token = codec.encode("U1", TokenType.ACCESS)
    codec.decode(token, TokenType.ACCESS)
    assert len(codec.verified) == 1
    wall.now += 299
    assert codec.decode(token, TokenType.ACCESS).user_id == "U1"
    wall.now += 1  # exp: issued at NOW with a 300 s lifetime
    with pytest.raises(AuthError, match="expired"):
        codec.decode(token, TokenType.ACCESS)
    assert len(codec.verified) == 0


def test_a_verified_token_keeps_its_type():
    wall, monotonic = Clock(), Clock(1000.0)
    key = key_for("EdDSA")
    codec = caching_codec(key_set_of(key), wall, current_follower(monotonic), 10)
    refresh = codec.encode("U1", TokenType.REFRESH)
    codec.decode(refresh, None)
    with pytest.raises(AuthError, match="wrong type"):
        codec.decode(refresh, TokenType.ACCESS)


def ring_over(sets: list[KeySet], follower: ChangeFollower, clock: Clock) -> KeyRing:
    """A ring whose store holds `sets[-1]`: the test appends a set to change what it holds."""

    async def load() -> KeySet:
        return sets[-1]

    return KeyRing(sets[-1], load, follower, max_age=STALENESS, clock=clock)


def ringed_codec(store: list[KeySet]) -> tuple[TokenCodec, ChangeFollower, Clock]:
    """A caching codec over a ring whose store holds `store[-1]`; its follower and clock."""
    wall, monotonic = Clock(), Clock(1000.0)
    follower = current_follower(monotonic)
    return (
        caching_codec(ring_over(store, follower, monotonic), wall, follower, 10),
        follower,
        monotonic,
    )


async def test_a_verified_token_is_refused_once_its_key_is_retired():
    old, new = key_for("EdDSA"), other_key_for("EdDSA")
    store = [key_set_of(old)]
    codec, follower, monotonic = ringed_codec(store)
    by_old = codec.encode("U1", TokenType.ACCESS)
    await codec.checked(by_old, TokenType.ACCESS)
    assert len(codec.verified) == 1
    store.append(key_set_of(new))  # the old key retired, in the store
    follower.caught_up([key_change(1, old.kid)], monotonic(), complete=True)
    with pytest.raises(AuthError, match="unknown key"):
        await codec.checked(by_old, TokenType.ACCESS)
    assert len(codec.verified) == 0


async def test_a_retired_key_is_refused_within_the_bound_when_the_tail_is_broken():
    old, new = key_for("EdDSA"), other_key_for("EdDSA")
    store = [key_set_of(old)]
    codec, _, monotonic = ringed_codec(store)
    by_old = codec.encode("U1", TokenType.ACCESS)
    store.append(key_set_of(new))  # retired, and the tail never says so
    monotonic.now += STALENESS / 2
    await codec.checked(by_old, TokenType.ACCESS)  # within the bound, the set in hand
    monotonic.now += STALENESS
    with pytest.raises(AuthError, match="unknown key"):
        await codec.checked(by_old, TokenType.ACCESS)


def key_change(seq: int, kid: str) -> Change:
    return Change(seq, f"key:{kid}", ChangeKind.KEY_RETIRED, None, datetime.now(UTC))


def test_verified_tokens_hold_their_bound_under_a_flood_of_distinct_tokens():
    wall, monotonic = Clock(), Clock(1000.0)
    key = key_for("EdDSA")
    codec = caching_codec(key_set_of(key), wall, current_follower(monotonic), 50)
    for n in range(1000):
        codec.decode(codec.encode(f"U{n}", TokenType.ACCESS), TokenType.ACCESS)
    assert len(codec.verified) == 50


def test_a_verified_token_cache_behind_its_tail_checks_every_token_in_full():
    wall, monotonic = Clock(), Clock(1000.0)
    key = key_for("EdDSA")
    follower = current_follower(monotonic)
    codec = caching_codec(key_set_of(key), wall, follower, 10)
    token = codec.encode("U1", TokenType.ACCESS)
    monotonic.now += 1
    codec.decode(token, TokenType.ACCESS)
    assert len(codec.verified) == 0
    codec.keys = key_set_of(other_key_for("EdDSA"))  # the token's key retired
    with pytest.raises(AuthError):
        codec.decode(token, TokenType.ACCESS)
