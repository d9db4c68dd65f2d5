"""REST query fields as a gRPC-JSON transcoder reads them: `pageSize` or `page_size`.

grpc-gateway's runtime and Envoy's transcoder accept a query parameter under the proto field
name and under its JSON name; so does the REST door, and it ignores parameters it does not
know, as they do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from databases import own_database
from in_process import Service, serving
from unit_fixtures import insert_users

USERS = 130  # more than two default pages' worth of a small page size, and than 100


@pytest_asyncio.fixture(scope="module")
async def crowded(tmp_path_factory, database_url) -> AsyncIterator[Service]:
    """A service with a store of its own: USERS users besides the admin, so counts are exact."""
    with own_database(database_url) as url:
        async with serving(tmp_path_factory.mktemp("crowded"), url) as running:
            await insert_users(running.runtime.core.store.database, USERS)
            yield running


@pytest_asyncio.fixture(scope="module")
async def http(crowded: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=crowded.http_url, timeout=10) as client:
        login = await client.post(
            "/api/v1/token/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access']}"
        yield client


async def visit_every_page(http: httpx.AsyncClient, size: str, token: str) -> list[str]:
    """Follow nextPageToken with the given spellings of the two parameters; the ids seen."""
    seen: list[str] = []
    next_token = ""
    while True:
        params = {size: 7, **({token: next_token} if next_token else {})}
        response = await http.get("/api/v1/users/", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["users"]) <= 7
        seen += [user["id"] for user in page["users"]]
        assert len(seen) <= USERS + 1, "a page came back twice"
        next_token = page["nextPageToken"]
        if not next_token:
            return seen


@pytest.mark.parametrize(
    ("size", "token"),
    [("page_size", "page_token"), ("pageSize", "pageToken"), ("page_size", "pageToken")],
)
async def test_paging_with_either_spelling_visits_every_user_exactly_once(http, size, token):
    everyone = (await http.get("/api/v1/users/", params={"pageSize": 1000})).json()["users"]
    assert len(everyone) == USERS + 1

    seen = await visit_every_page(http, size, token)

    assert len(seen) == len(set(seen)) == USERS + 1
    assert seen == [user["id"] for user in everyone]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("page_size=abc", {"page_size"}),
        ("page_size=-1", {"page_size"}),
        ("pageSize=abc", {"pageSize"}),
        ("page_token=!!!", {"page_token"}),
        ("page_size=3&pageSize=4", {"page_size", "pageSize"}),
        ("page_token=a&pageToken=b", {"page_token", "pageToken"}),
    ],
)
async def test_a_malformed_or_ambiguous_page_parameter_is_400_naming_it(http, query, named):
    response = await http.get(f"/api/v1/users/?{query}")

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_request"
    assert set(response.json()["errors"]) == named


async def test_both_spellings_with_one_value_are_that_value(http):
    response = await http.get("/api/v1/users/?page_size=3&pageSize=3")
    assert response.status_code == 200
    assert len(response.json()["users"]) == 3


async def test_an_unknown_query_parameter_is_ignored(http):
    plain = await http.get("/api/v1/users/", params={"pageSize": 5})
    extra = await http.get("/api/v1/users/", params={"pageSize": 5, "orderBy": "email", "x": ""})
    assert extra.status_code == 200
    assert extra.json() == plain.json()
