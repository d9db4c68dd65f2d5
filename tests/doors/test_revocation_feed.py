"""The revocation feed (WatchRevocations) on both doors and both stores: what it sends, from
where, to whom, and how it ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from authgate.store.change_log import last_seq

from accounts import PASSWORD
from door_clients import login, open_door
from feed_clients import FeedError, watch
from in_process import Service, serving

KINDS = ["rest", "grpc"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def client_token(service: Service, *scopes: str) -> str:
    """An access token of a new client that may hold `scopes` (the client credentials grant)."""
    secret = await service.make_client(*scopes)
    door = open_door("rest", service.http_url, service.grpc_target)
    try:
        outcome = await door.issue_client_token(secret.client_id, secret.secret)
    finally:
        await door.close()
    assert outcome.ok, outcome
    return str(outcome.data["access_token"])


async def until(events: AsyncIterator[dict[str, Any]], wanted, within: float = 5.0) -> dict:
    """The first event `wanted(event)` holds for, within `within` seconds."""

    async def scan() -> dict:
        async for event in events:
            if wanted(event):
                return event
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(scan(), within)


def revocation_of(subject: str, kind: str):
    def wanted(event: dict) -> bool:
        found = event.get("revocation")
        return found is not None and found["subject"] == subject and found["kind"] == kind

    return wanted


def is_heartbeat(event: dict) -> bool:
    return "heartbeat" in event


def feed(service: Service, kind: str, token: str | None, after_seq: int | str = 0):
    return watch(kind, service.http_url, service.grpc_target, token, after_seq)


async def test_a_deactivation_reaches_a_watcher_as_it_commits(service, kind, make_user):
    token = await client_token(service, "revocations:watch")
    user = await make_user()
    events = feed(service, kind, token)
    start = await until(events, is_heartbeat)  # every event kept, then a heartbeat
    assert start["heartbeat"]["reset"] is False
    written = time.monotonic()
    await service.set_active(user.email, False)
    event = await until(events, revocation_of(user.id, "user_deactivated"))
    assert time.monotonic() - written < 1.0
    revocation = event["revocation"]
    assert int(revocation["seq"]) > int(start["heartbeat"]["seq"])
    assert revocation["notBefore"].endswith("Z")
    await events.aclose()


async def test_a_watcher_resumes_after_the_last_event_it_applied(service, kind, make_user):
    token = await client_token(service, "revocations:watch")
    first, second = await make_user(), await make_user()
    await service.set_active(first.email, False)
    events = feed(service, kind, token)
    seen = await until(events, revocation_of(first.id, "user_deactivated"))
    await events.aclose()
    await service.set_active(second.email, False)

    resumed = feed(service, kind, token, after_seq=seen["revocation"]["seq"])
    collected = []
    async for event in resumed:
        collected.append(event)
        if is_heartbeat(event):
            break
    await resumed.aclose()
    subjects = [e["revocation"]["subject"] for e in collected if "revocation" in e]
    assert first.id not in subjects and second.id in subjects
    seqs = [int(e["revocation"]["seq"]) for e in collected if "revocation" in e]
    assert seqs == sorted(seqs) and all(seq > int(seen["revocation"]["seq"]) for seq in seqs)


async def test_a_cursor_this_log_never_gave_starts_again_and_says_so(service, kind):
    token = await client_token(service, "revocations:watch")
    events = feed(service, kind, token, after_seq=2**62)
    beat = await until(events, is_heartbeat)
    await events.aclose()
    assert beat["heartbeat"]["reset"] is True


async def test_an_idle_feed_sends_a_heartbeat_every_second(service, kind):
    token = await client_token(service, "revocations:watch")
    events = feed(service, kind, token)
    await until(events, is_heartbeat)
    started = time.monotonic()
    for _ in range(2):
        await until(events, is_heartbeat, within=3.0)
    await events.aclose()
    assert time.monotonic() - started < 4.0


async def test_a_row_just_before_a_heartbeat_does_not_put_it_off(service, kind, make_user):
    # A row wakes the stream; the wait after it runs to the heartbeat due, not a whole period
    # (which sent the next heartbeat up to two periods after the last).
    token = await client_token(service, "revocations:watch")
    events = feed(service, kind, token)
    await until(events, is_heartbeat)
    beat = time.monotonic()
    await asyncio.sleep(0.7)
    await make_user()  # a row the stream wakes for and does not send (list-only)
    await until(events, is_heartbeat, within=3.0)
    await events.aclose()
    assert time.monotonic() - beat < 1.5


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("nobody", "not_authenticated"),
        ("staff user", "permission_denied"),
        ("client without the scope", "insufficient_scope"),
    ],
)
async def test_only_a_client_holding_revocations_watch_may_watch(service, kind, who, reason):
    if who == "nobody":
        token = None
    elif who == "staff user":
        door = open_door("rest", service.http_url, service.grpc_target)
        token = (await login(door))["access"]
        await door.close()
    else:
        token = await client_token(service, "users:read")
    with pytest.raises(FeedError) as refused:
        await until(feed(service, kind, token), is_heartbeat)
    assert refused.value.reason == reason
    assert refused.value.status in (
        {"not_authenticated": 401}.get(reason, 403),
        "UNAUTHENTICATED" if reason == "not_authenticated" else "PERMISSION_DENIED",
    )


async def test_a_watcher_whose_client_is_deactivated_is_cut_off(service, kind):
    secret = await service.make_client("revocations:watch")
    door = open_door("rest", service.http_url, service.grpc_target)
    token = (await door.issue_client_token(secret.client_id, secret.secret)).data["access_token"]
    await door.close()
    events = feed(service, kind, token)
    await until(events, is_heartbeat)
    await service.runtime.admin.set_client_active(secret.client_id, False)
    with pytest.raises(FeedError) as ended:
        await until(events, lambda event: False, within=5.0)
    assert ended.value.reason == "token_not_valid"


@pytest_asyncio.fixture
async def stopping(tmp_path, database_url) -> AsyncIterator[Service]:
    from databases import own_database

    with own_database(database_url) as url:
        async with serving(tmp_path / "stopping", url) as running:
            yield running


async def test_a_stopping_server_ends_its_streams_at_once(stopping, kind):
    token = await client_token(stopping, "revocations:watch")
    events = feed(stopping, kind, token)
    await until(events, is_heartbeat)
    stopping.runtime.core.revocations.close()
    with pytest.raises(FeedError) as ended:
        await until(events, lambda event: False, within=3.0)
    assert ended.value.reason == "unavailable"


async def test_new_users_and_logins_stay_out_of_the_feed_and_its_cursor_passes_them(
    service, kind, make_user
):
    token = await client_token(service, "revocations:watch")
    events = feed(service, kind, token)
    await until(events, is_heartbeat)
    user = await make_user()  # a user_created row
    door = open_door("rest", service.http_url, service.grpc_target)
    await login(door, user.email, PASSWORD)  # a logged_in row
    await door.close()
    newest = await service.runtime.core.store.database.read(last_seq)
    beat = await until(events, lambda e: is_heartbeat(e) and int(e["heartbeat"]["seq"]) >= newest)
    await service.set_active(user.email, False)
    collected = [await until(events, revocation_of(user.id, "user_deactivated"))]
    await events.aclose()
    resumed = feed(service, kind, token, after_seq=0)  # every row kept, from the start
    async for event in resumed:
        collected.append(event)
        if is_heartbeat(event):
            break
    await resumed.aclose()
    kinds = {e["revocation"]["kind"] for e in collected if "revocation" in e}
    assert "user_deactivated" in kinds and not kinds & {"user_created", "logged_in"}
    assert beat["heartbeat"]["reset"] is False
