"""Token introspection (RFC 7662): the form endpoint, and IntrospectToken on both doors, say
`active` for a live token and exactly `{"active": false}` after every kind of revocation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from authgate.core.tokens import TokenType

from accounts import ADMIN_EMAIL, PASSWORD
from databases import own_database
from door_clients import assert_refused, claims, login
from in_process import Service, serving

INTROSPECT_URL = "/api/v1/oauth/introspect"
INACTIVE = {"active": False}


@pytest_asyncio.fixture(scope="module")
async def served(tmp_path_factory, database_url) -> AsyncIterator[Service]:
    with own_database(database_url) as url:
        async with serving(tmp_path_factory.mktemp("introspection"), url) as running:
            yield running


@pytest_asyncio.fixture(scope="module")
async def resource_server(served: Service):
    """The client a resource server would introspect as."""
    return await served.make_client()


@pytest_asyncio.fixture
async def form(served: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.http_url, timeout=10) as client:
        yield client


async def introspect_form(form: httpx.AsyncClient, caller, token: str) -> dict:
    answer = await form.post(
        INTROSPECT_URL, data={"token": token}, auth=(caller.client_id, caller.secret)
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()


@pytest_asyncio.fixture
async def introspect(served, resource_server, form, doors_onto, request):
    """Introspection through one of the three ways in: the form endpoint, REST JSON, gRPC."""
    way = request.param
    if way == "form":
        return lambda token: introspect_form(form, resource_server, token)
    door = doors_onto(way, served)
    issued = await door.issue_client_token(resource_server.client_id, resource_server.secret)
    access = issued.data["access_token"]

    async def through_door(token: str) -> dict:
        outcome = await door.introspect_token(access, token)
        assert outcome.ok, outcome
        return outcome.data

    return through_door


WAYS = pytest.mark.parametrize("introspect", ["form", "rest", "grpc"], indirect=True)


@WAYS
async def test_a_live_user_token_is_active_with_its_claims(served, introspect, rest_user):
    user, pair = rest_user
    found = await introspect(pair["access"])

    issued = claims(pair["access"])
    assert found == {
        "active": True,
        "sub": user.id,
        "scope": "",
        "exp": issued["exp"],
        "iat": issued["iat"],
        "iss": "authgate",
        "jti": issued["jti"],
        "token_type": "Bearer",
    }
    refresh = await introspect(pair["refresh"])
    assert refresh["active"] and refresh["token_type"] == "refresh_token"


@WAYS
async def test_a_live_client_token_is_active_with_its_client_and_scope(served, introspect):
    client = await served.make_client("users:read")
    token = (
        await served.runtime.core.issue_client_token(client.client_id, client.secret, None)
    ).access_token

    found = await introspect(token)

    assert found["active"] and found["sub"] == found["client_id"] == client.client_id
    assert found["scope"] == "users:read"


@WAYS
async def test_garbage_and_expired_tokens_are_exactly_inactive(served, introspect):
    user = await served.make_user()
    expired = served.codec(clock=lambda: time.time() - 3600).encode(user.id, TokenType.ACCESS)

    assert await introspect("garbage") == INACTIVE
    assert await introspect(expired) == INACTIVE


@WAYS
async def test_every_revocation_makes_a_token_inactive(served, introspect, doors_onto):
    rest = doors_onto("rest", served)
    admin = served.runtime.admin

    deactivated = await served.make_user()
    pair = await login(rest, deactivated.email, PASSWORD)
    await served.set_active(deactivated.email, False)
    assert await introspect(pair["access"]) == INACTIVE
    assert await introspect(pair["refresh"]) == INACTIVE

    logged_out = await served.make_user()
    pair = await login(rest, logged_out.email, PASSWORD)
    assert (await rest.revoke_all_tokens(pair["access"])).ok
    assert await introspect(pair["access"]) == INACTIVE

    changed = await served.make_user()
    pair = await login(rest, changed.email, PASSWORD)
    await admin.set_password(changed.email, "a brand new password")
    assert await introspect(pair["access"]) == INACTIVE

    client = await served.make_client("users:read")
    issued = await served.runtime.core.issue_client_token(client.client_id, client.secret, None)
    await admin.set_client_active(client.client_id, False)
    assert await introspect(issued.access_token) == INACTIVE


@pytest_asyncio.fixture
async def rest_user(served, doors_onto):
    user = await served.make_user()
    return user, await login(doors_onto("rest", served), user.email, PASSWORD)


async def test_a_users_token_may_not_introspect_on_either_door(served, doors_onto, door_kind):
    door = doors_onto(door_kind, served)
    access = (await login(door, ADMIN_EMAIL, "change-me-please"))["access"]

    assert_refused(await door.introspect_token(access, access), "permission_denied")


async def test_the_form_endpoint_needs_a_client_and_a_token(form, resource_server):
    anonymous = await form.post(INTROSPECT_URL, data={"token": "x"})
    no_token = await form.post(
        INTROSPECT_URL, data={}, auth=(resource_server.client_id, resource_server.secret)
    )

    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    assert no_token.status_code == 400 and no_token.json()["error"] == "invalid_request"
