"""Clients (service accounts): the client credentials grant on both doors and at the OAuth 2.0
token endpoint, spoken by Authlib's client; scopes enforced alike on REST and gRPC."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
import pytest_asyncio
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from authgate.v1 import auth_pb2, auth_pb2_grpc

from databases import own_database
from door_clients import assert_refused, claims
from in_process import Service, serving

TOKEN_URL = "/api/v1/oauth/token"


@pytest_asyncio.fixture(scope="module")
async def served(tmp_path_factory, database_url) -> AsyncIterator[Service]:
    """A service of this module's own: its throttling tests count failures from zero."""
    with own_database(database_url) as url:
        async with serving(tmp_path_factory.mktemp("clients"), url) as running:
            yield running


@pytest_asyncio.fixture
async def oauth_form(served: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.http_url, timeout=10) as client:
        yield client


async def fetch_with_authlib(served: Service, client_id: str, secret: str, method: str) -> dict:
    async with AsyncOAuth2Client(
        client_id, secret, token_endpoint_auth_method=method, base_url=served.http_url
    ) as oauth:
        return dict(
            await oauth.fetch_token(served.http_url + TOKEN_URL, grant_type="client_credentials")
        )


async def list_users_over_grpc(served: Service, access: str) -> grpc.aio.AioRpcError | int:
    async with grpc.aio.insecure_channel(served.grpc_target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        try:
            reply = await stub.ListUsers(
                auth_pb2.ListUsersRequest(), metadata=[("authorization", f"Bearer {access}")]
            )
        except grpc.aio.AioRpcError as error:
            return error
        return len(reply.users)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_authlib_fetches_a_token_that_lists_users_on_both_doors(served, method):
    client = await served.make_client("users:read")

    token = await fetch_with_authlib(served, client.client_id, client.secret, method)

    assert token["token_type"] == "Bearer" and token["scope"] == "users:read"
    assert token["expires_in"] == 300 and "refresh_token" not in token
    issued = claims(token["access_token"])
    assert issued["sub"] == issued["client_id"] == client.client_id
    assert issued["scope"] == "users:read" and "user_id" not in issued
    async with httpx.AsyncClient(base_url=served.http_url) as http:
        listed = await http.get(
            "/api/v1/users/", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    assert listed.status_code == 200 and len(listed.json()["users"]) >= 1
    assert await list_users_over_grpc(served, token["access_token"]) == len(listed.json()["users"])


async def test_a_client_without_users_read_is_refused_with_insufficient_scope(served):
    client = await served.make_client("revocations:watch")
    token = await fetch_with_authlib(served, client.client_id, client.secret, "client_secret_basic")

    async with httpx.AsyncClient(base_url=served.http_url) as http:
        refused = await http.get(
            "/api/v1/users/", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    error = await list_users_over_grpc(served, token["access_token"])

    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert refused.headers["www-authenticate"] == (
        'Bearer realm="authgate", error="insufficient_scope", scope="users:read"'
    )
    assert isinstance(error, grpc.aio.AioRpcError)
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_the_json_twin_and_grpc_issue_the_same_kind_of_token(served, doors_onto, door_kind):
    client = await served.make_client("users:read", "users:write")
    door = doors_onto(door_kind, served)

    issued = await door.issue_client_token(client.client_id, client.secret, "users:read")
    everything = await door.issue_client_token(client.client_id, client.secret)

    assert issued.ok, issued
    assert issued.data["token_type"] == "Bearer" and issued.data["scope"] == "users:read"
    assert everything.data["scope"] == "users:read users:write"
    assert claims(issued.data["access_token"])["client_id"] == client.client_id


async def test_a_wrong_secret_and_a_foreign_scope_are_refused_on_both_doors(
    served, doors_onto, door_kind
):
    client = await served.make_client("users:read")
    door = doors_onto(door_kind, served)

    assert_refused(await door.issue_client_token(client.client_id, "wrong"), "invalid_client")
    assert_refused(
        await door.issue_client_token(client.client_id, client.secret, "users:write"),
        "invalid_scope",
    )


async def test_a_wrong_secret_is_401_invalid_client_at_the_token_endpoint(served, oauth_form):
    client = await served.make_client("users:read")

    answer = await oauth_form.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client.client_id, "wrong")
    )

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert answer.headers["www-authenticate"] == 'Basic realm="authgate"'
    assert answer.headers["cache-control"] == "no-store"


async def test_the_eleventh_failure_in_a_minute_is_429(served, oauth_form):
    client = await served.make_client("users:read")
    statuses = []
    for _ in range(11):
        answer = await oauth_form.post(
            TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client.client_id, "bad")
        )
        statuses.append(answer.status_code)

    assert statuses == [401] * 10 + [429]
    assert answer.json()["error"] == "temporarily_unavailable"
    assert 0 < int(answer.headers["retry-after"]) <= 60
    # The right secret is throttled too until the window passes: the attacker's counter.
    right = await oauth_form.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
    )
    assert right.status_code == 429


async def test_a_rotated_secret_keeps_working_through_the_overlap_then_stops(served):
    client = await served.make_client("users:read")
    admin = served.runtime.admin

    rotated = await admin.rotate_client_secret(client.client_id, keep_old_seconds=1)
    old = await fetch_with_authlib(served, client.client_id, client.secret, "client_secret_post")
    new = await fetch_with_authlib(served, client.client_id, rotated.secret, "client_secret_post")
    await asyncio.sleep(1.2)

    assert old["access_token"] and new["access_token"]
    with pytest.raises(OAuthError) as refused:
        await fetch_with_authlib(served, client.client_id, client.secret, "client_secret_post")
    assert refused.value.error == "invalid_client"
    assert await fetch_with_authlib(served, client.client_id, rotated.secret, "client_secret_post")


async def test_a_deactivated_clients_tokens_stop_working_at_once(served, doors_onto, door_kind):
    client = await served.make_client("users:read")
    door = doors_onto(door_kind, served)
    access = (await door.issue_client_token(client.client_id, client.secret)).data["access_token"]
    assert (await door.list_users(access)).ok

    await served.runtime.admin.set_client_active(client.client_id, False)

    assert_refused(await door.list_users(access), "token_not_valid")
    assert_refused(await door.verify_token(access), "token_not_valid")
    assert_refused(await door.issue_client_token(client.client_id, client.secret), "invalid_client")


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("grant_type=client_credentials&grant_type=client_credentials", "invalid_request"),
        ("grant_type=client_credentials&scope=a&scope=b", "invalid_request"),
        ("grant_type=%ZZ", "invalid_request"),
        ("grant_type=client%FFcredentials", "invalid_request"),
        ("scope=users:read", "invalid_request"),
        ("grant_type=password&username=a&password=b", "unsupported_grant_type"),
        ("grant_type=client_credentials&scope=users:write", "invalid_scope"),
        ("grant_type=client_credentials&client_secret=again", "invalid_request"),
    ],
)
async def test_a_malformed_token_request_gets_an_rfc_6749_error(served, oauth_form, body, error):
    client = await served.make_client("users:read")

    answer = await oauth_form.post(
        TOKEN_URL,
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": basic(client.client_id, client.secret),
        },
    )

    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == error and answer.json()["error_description"]


@pytest.mark.parametrize(
    ("method", "content_type", "status"),
    [("GET", None, 405), ("POST", "application/json", 415), ("POST", "text/plain", 415)],
)
async def test_the_http_stacks_refusals_at_the_token_endpoint_are_rfc_6749_too(
    oauth_form, method, content_type, status
):
    headers = {"Content-Type": content_type} if content_type else {}
    body = "{}" if content_type else None

    answer = await oauth_form.request(method, TOKEN_URL, content=body, headers=headers)

    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == "invalid_request"


async def test_a_client_token_cannot_log_out_everywhere(served, doors_onto, door_kind):
    client = await served.make_client()
    door = doors_onto(door_kind, served)
    access = (await door.issue_client_token(client.client_id, client.secret)).data["access_token"]

    refused = await door.revoke_all_tokens(access)

    assert not refused.ok and refused.reason == "permission_denied"


async def test_a_huge_token_request_is_413_in_rfc_6749_form(oauth_form):
    answer = await oauth_form.post(
        TOKEN_URL,
        content="grant_type=client_credentials&pad=" + "x" * 70000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert answer.status_code == 413
    assert answer.json()["error"] == "invalid_request"


async def test_unknown_token_request_parameters_are_ignored(served, oauth_form):
    client = await served.make_client("users:read")

    answer = await oauth_form.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "audience": "billing", "resource": "x"},
        auth=(client.client_id, client.secret),
    )

    assert answer.status_code == 200, answer.text
