"""The user list is cached by page and kept true by the change log, on both stores: a user
created, or a login, by another process shows in every list within the staleness bound."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from connexion.jsonifier import Jsonifier

from authgate.core.paging import encode_page_token
from authgate.core.user_pages import PageKey
from authgate.store.change_log import last_seq
from authgate.store.users import UserStore

from accounts import PASSWORD
from door_clients import changed_within_bound, login
from in_process import Service
from servers import cli
from unit_fixtures import open_database


def listed(outcome) -> dict[str, dict]:
    """The users a list answer shows, by email."""
    assert outcome.ok, (outcome.reason, outcome.detail)
    return {user["email"]: user for user in outcome.data.get("users", [])}


async def cached_page_after(service: Service, door, access: str, after: str):
    """A call listing the users after `after`, once its page is in the cache and stays there:
    the tail has applied every row so far (it empties the cache again on reading the rows
    this process wrote, a few ms after this process forgot them itself)."""

    def call():
        return door.list_users(access, page_token=encode_page_token(after))

    core = service.runtime.core
    newest = await core.store.database.read(last_seq)
    for _ in range(200):
        if core.subjects.follower.applied_seq >= newest:
            break
        await asyncio.sleep(0.005)
    pages = core.subjects.pages.pages
    for _ in range(200):
        await call()
        if pages.get(PageKey(after, 50, None)) is not None:
            return call
        await asyncio.sleep(0.005)
    raise AssertionError("the page was never cached")


async def test_a_user_created_by_the_cli_is_listed_within_the_bound(service: Service, door):
    access = (await login(door))["access"]  # the bootstrap admin: staff, lists every user
    marker = await service.make_user()  # ids sort by creation: the new user comes after it
    call = await cached_page_after(service, door, access, marker.id)
    email = f"cli-{door.name}-{time.time_ns()}@example.com"
    assert email not in listed(await call())
    cli(service, "users", "create", "--email", email, "--password-stdin", stdin=f"{PASSWORD}\n")
    await changed_within_bound(call, lambda outcome: email in listed(outcome), time.monotonic())


async def test_a_login_elsewhere_shows_in_the_list_within_the_bound(service: Service, door):
    access = (await login(door))["access"]
    marker = await service.make_user()
    user = await service.make_user()
    call = await cached_page_after(service, door, access, marker.id)
    assert "lastLoginTime" not in listed(await call())[user.email]
    # Another process's login, as another replica's: this one hears of it by the log alone.
    async with open_database(service.settings.resolved_database_url) as elsewhere:
        await UserStore(elsewhere).record_login(user.id, datetime.now(UTC))
    shown = await changed_within_bound(
        call, lambda outcome: "lastLoginTime" in listed(outcome)[user.email], time.monotonic()
    )
    assert listed(shown)[user.email]["lastLoginTime"].startswith(str(datetime.now(UTC).year))


async def test_a_cached_page_is_rendered_once_by_each_door(service: Service, door):
    access = (await login(door))["access"]
    marker = await service.make_user()
    await service.make_user()
    call = await cached_page_after(service, door, access, marker.id)
    first, second = await call(), await call()
    page = service.runtime.core.subjects.pages.pages.get(PageKey(marker.id, 50, None))
    assert page is not None and door.name in page.renderings
    assert first.data == second.data and len(listed(first)) == 1


async def test_a_cached_pages_rest_body_is_what_connexion_would_send(service: Service, rest_door):
    access = (await login(rest_door))["access"]
    marker = await service.make_user()
    await service.make_user()
    call = await cached_page_after(service, rest_door, access, marker.id)
    response = (await call()).raw
    assert response.headers["content-type"] == "application/json"
    assert response.content == Jsonifier().dumps(response.json()).encode()
