"""The change log and the caches it keeps true, on both stores: every write that changes
whether a subject's tokens are good, or what a list of users shows, appends a row, and a write
made elsewhere (another process's store) is refused by this one within the staleness bound,
whatever its tail does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest

from authgate.core.access import Caller
from authgate.store.change_log import ChangeKind, changes_after, last_seq
from authgate.store.change_tail import LISTENER_NAME
from authgate.store.users import UserStore

from accounts import PASSWORD
from door_clients import STALENESS_BOUND, login, open_door, refused_within_bound
from in_process import Service, serving
from servers import wait_for
from unit_fixtures import as_caller, open_database


async def refused_within(door, access: str, since: float) -> float:
    """Seconds from `since` until `access` is refused; every call that starts once the
    staleness bound has passed must be refused."""
    refusal = await refused_within_bound(lambda: door.list_users(access), since)
    assert refusal.reason == "token_not_valid", refusal
    return time.monotonic() - since


async def test_every_write_that_changes_tokens_or_the_user_list_appends_a_row_in_seq_order(
    service: Service,
):
    core, admin = service.runtime.core, service.runtime.admin
    database = core.store.database
    start = await database.read(last_seq)
    staff = as_caller(await service.make_user(staff=True))
    user = await service.make_user()
    pair = await core.issue_token_pair(user.email, PASSWORD)
    await core.revoke_token(pair.refresh)
    await admin.set_active(user.email, False)
    await admin.set_active(user.email, True)
    await core.update_user(staff, user.id, ["is_staff"], is_active=True, is_staff=True)
    await core.revoke_all_tokens(Caller(user.id, frozenset(), user))
    await core.issue_token_pair(user.email, PASSWORD)
    await admin.set_password(user.email, "a new password, long enough")
    client = await service.make_client("users:read")
    await admin.rotate_client_secret(client.client_id, 0)
    await admin.set_client_active(client.client_id, False)
    await core.delete_user(staff, user.id)

    rows = await database.read(changes_after, start)
    assert [row.seq for row in rows] == sorted({row.seq for row in rows})
    assert [(row.subject, row.kind) for row in rows] == [
        (staff.subject, ChangeKind.USER_CREATED),
        (user.id, ChangeKind.USER_CREATED),
        (user.id, ChangeKind.LOGGED_IN),
        (user.id, ChangeKind.REFRESH_REVOKED),
        (user.id, ChangeKind.USER_DEACTIVATED),
        (user.id, ChangeKind.USER_ACTIVATED),
        (user.id, ChangeKind.SCOPES_CHANGED),
        (user.id, ChangeKind.TOKENS_REVOKED),
        (user.id, ChangeKind.LOGGED_IN),
        (user.id, ChangeKind.PASSWORD_SET),
        (user.id, ChangeKind.REFRESH_REVOKED),  # the login's refresh token, with the password
        (client.client_id, ChangeKind.CLIENT_SECRET_ROTATED),
        (client.client_id, ChangeKind.CLIENT_DEACTIVATED),
        (user.id, ChangeKind.USER_DELETED),
    ]
    versions = [row.version for row in rows if row.kind is ChangeKind.TOKENS_REVOKED]
    assert versions == [1]


async def test_a_detected_refresh_reuse_appends_a_row(tmp_path: Path, database_url: str):
    async with serving(tmp_path, database_url, rotate_refresh_tokens=True) as running:
        database = running.runtime.core.store.database
        user = await running.make_user()
        core = running.runtime.core
        pair = await core.issue_token_pair(user.email, PASSWORD)
        start = await database.read(last_seq)  # after the user's creation and login
        await core.refresh_access_token(pair.refresh)
        with pytest.raises(Exception, match="revoked"):
            await core.refresh_access_token(pair.refresh)  # spent: reuse
        rows = await database.read(changes_after, start)
        assert [(row.subject, row.kind) for row in rows] == [
            (user.id, ChangeKind.REFRESH_REUSE_DETECTED)
        ]


async def test_a_write_by_another_process_is_refused_within_the_bound(service: Service, door):
    user = await service.make_user()
    access = (await login(door, user.email, PASSWORD))["access"]
    assert (await door.list_users(access)).ok  # now cached: user, and the verified token
    # Another writer, as the CLI is: this process hears of it only through the change log.
    async with open_database(service.settings.resolved_database_url) as elsewhere:
        await UserStore(elsewhere).set_active(user.email, False)
    lag = await refused_within(door, access, time.monotonic())
    assert lag < STALENESS_BOUND * 2


async def test_with_the_tail_stalled_no_revoked_token_is_accepted_past_the_bound(
    service: Service, door, monkeypatch: pytest.MonkeyPatch
):
    follower = service.runtime.core.subjects.follower
    user = await service.make_user()
    access = (await login(door, user.email, PASSWORD))["access"]
    # The tail applies the login's row after this process did: a lookup racing it is not
    # kept. Once it has, the lookup below fills the caches for good.
    newest = await service.runtime.core.store.database.read(last_seq)
    for _ in range(100):
        if follower.applied_seq >= newest:
            break
        await asyncio.sleep(0.005)
    assert (await door.list_users(access)).ok
    monkeypatch.setattr(follower, "caught_up", lambda *_args: None)  # the tail delivers nothing
    async with open_database(service.settings.resolved_database_url) as elsewhere:
        await UserStore(elsewhere).set_active(user.email, False)
    await refused_within(door, access, time.monotonic())
    assert not follower.is_current()


def listeners(url: str) -> list[int]:
    """The backends LISTENing on the change log's channel in this database."""
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = %s",
            (LISTENER_NAME,),
        ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_killed_listen_connection_lets_no_revoked_token_through(
    service: Service, database_url: str
):
    url = service.settings.resolved_database_url
    door = open_door("rest", service.http_url, service.grpc_target)
    try:
        user = await service.make_user()
        access = (await login(door, user.email, PASSWORD))["access"]
        assert (await door.list_users(access)).ok
        (listener,) = listeners(url)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (listener,))
        async with open_database(url) as elsewhere:
            await UserStore(elsewhere).set_active(user.email, False)
        await refused_within(door, access, time.monotonic())
        # It listens again on a new connection, and the caches answer again.
        wait_for(lambda: listeners(url) not in ([], [listener]), timeout=5)
        follower = service.runtime.core.subjects.follower
        for _ in range(100):
            if follower.is_current():
                break
            await asyncio.sleep(0.01)
        assert follower.is_current()
    finally:
        await door.close()


async def test_the_caches_hold_their_bound_under_a_flood_of_distinct_tokens(
    tmp_path: Path, database_url: str
):
    async with serving(tmp_path, database_url, cache_entries=20) as running:
        door = open_door("rest", running.http_url, running.grpc_target)
        try:
            refresh = (await login(door))["refresh"]
            for _ in range(80):
                access = (await door.refresh_token(refresh)).data["access"]
                assert (await door.verify_token(access)).ok
            core = running.runtime.core
            assert len(core.tokens.verified) == 20
            metrics = (await door.client.get("/metrics")).text
            assert 'authgate_cache_evictions_total{cache="verified_tokens"}' in metrics
            evicted = _sample(metrics, 'authgate_cache_evictions_total{cache="verified_tokens"}')
            assert evicted >= 60
            # The first refreshes may come before the tail first caught up (no caching yet).
            assert _sample(metrics, 'authgate_cache_hits_total{cache="refresh_tokens"}') >= 70
        finally:
            await door.close()


def _sample(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")
