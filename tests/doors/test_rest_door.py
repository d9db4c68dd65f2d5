"""What only the REST door has: HTTP methods, media types, body limits, probes, Swagger UI."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from authgate.rest import problems

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD

PROBLEM = "application/problem+json"


@pytest_asyncio.fixture(scope="module")
async def http(service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.http_url, timeout=10) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail"} <= set(body)
    return body


async def _admin_access(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/api/v1/token/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    return response.json()["access"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/v1/token/", "POST"),
        ("PUT", "/api/v1/token/", "POST"),
        ("GET", "/api/v1/token/refresh/", "POST"),
        ("PUT", "/api/v1/users/", "GET, HEAD, POST"),
        ("PUT", "/api/v1/users/01ABCDEFGHJKMNPQRSTVWXYZ00", "PATCH, DELETE"),
        ("DELETE", "/api/v1/users/", "GET, HEAD, POST"),
    ],
)
async def test_wrong_method_is_405_with_allow(http, method, path, allow):
    response = await http.request(method, path)
    assert_problem(response, 405, "method_not_allowed")
    # Starlette lists HEAD with GET, in no fixed order.
    assert {m.strip() for m in response.headers["allow"].split(",")} == set(allow.split(", "))


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": 1}, {"email", "password"}),
        ({"email": 1, "password": 2}, {"email", "password"}),
        ({"email": None, "password": ADMIN_PASSWORD}, {"email"}),
        ({"email": ["a"], "password": {"x": 1}}, {"email", "password"}),
        ({"email": "", "password": ""}, {"email", "password"}),
        ({"email": "x" * 255, "password": ADMIN_PASSWORD}, {"email"}),
        ([], {"body"}),
        ("text", {"body"}),
        (None, {"body"}),
    ],
)
async def test_malformed_token_bodies_are_400_naming_the_fields(http, body, fields):
    problem = assert_problem(await http.post("/api/v1/token/", json=body), 400, "invalid_request")
    assert set(problem["errors"]) == fields
    assert all(isinstance(m, str) for messages in problem["errors"].values() for m in messages)


@pytest.mark.parametrize(
    "raw",
    [
        b"{bad",
        b'{"email": "a@b.c", "password": "x"',
        b"\xff\xfe\x00",
        b"",
        b"[" * 20000 + b"]" * 20000,
    ],
    ids=["broken", "truncated", "not-utf8", "empty", "deeply-nested"],
)
async def test_unparseable_bodies_are_400(http, raw):
    response = await http.post(
        "/api/v1/token/", content=raw, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 400, "invalid_request")
    assert set(problem["errors"]) == {"body"}


async def test_non_json_content_type_is_415(http):
    response = await http.post(
        "/api/v1/token/",
        content=b"email=a&password=b",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 415, "unsupported_media_type")


async def test_body_over_the_limit_is_413(http):
    body = b'{"email": "' + b"a" * 70000 + b'", "password": "x"}'
    response = await http.post(
        "/api/v1/token/", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_streamed_body_over_the_limit_is_413(http):
    async def chunks():
        yield b'{"email": "'
        for _ in range(80):
            yield b"a" * 1024
        yield b'"}'

    response = await http.post(
        "/api/v1/token/", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_missing_credentials_401_has_realm_without_error(http):
    response = await http.get("/api/v1/users/")
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == 'Bearer realm="authgate"'


@pytest.mark.parametrize(
    "header", ["Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer", "Token abc", "bearer"]
)
async def test_non_bearer_authorization_is_not_authenticated(http, header):
    assert_problem(
        await http.get("/api/v1/users/", headers={"Authorization": header}),
        401,
        "not_authenticated",
    )


async def test_wrong_credentials_401_carries_the_realm(http):
    response = await http.post("/api/v1/token/", json={"email": ADMIN_EMAIL, "password": "nope"})
    assert_problem(response, 401, "no_active_account")
    assert response.headers["www-authenticate"] == 'Bearer realm="authgate"'


async def test_bearer_scheme_is_case_insensitive(http):
    access = await _admin_access(http)
    response = await http.get("/api/v1/users/", headers={"Authorization": f"bearer {access}"})
    assert response.status_code == 200


@pytest.mark.parametrize("query", ["pageSize=abc", "pageSize=-1", "pageSize=99999999999"])
async def test_bad_page_size_query_is_400(http, query):
    access = await _admin_access(http)
    response = await http.get(
        f"/api/v1/users/?{query}", headers={"Authorization": f"Bearer {access}"}
    )
    assert set(assert_problem(response, 400, "invalid_request")["errors"]) == {"pageSize"}


async def test_unknown_path_is_404_problem(http):
    assert_problem(await http.get("/api/v1/nothing-here/"), 404, "not_found")


async def test_probes_answer_ok(http):
    for path in ("/healthz", "/readyz"):
        response = await http.get(path)
        assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_swagger_ui_and_spec_are_served(http):
    ui = await http.get("/api/v1/ui/")
    assert ui.status_code == 200 and "swagger" in ui.text.lower()
    spec = (await http.get("/api/v1/openapi.json")).json()
    assert {"/api/v1/token/", "/api/v1/token/refresh/", "/api/v1/users/"} <= set(spec["paths"])


async def test_chunked_body_within_the_limit_is_accepted(http):
    async def chunks():
        yield b'{"email": "' + ADMIN_EMAIL.encode()
        yield b'", "password": "' + ADMIN_PASSWORD.encode() + b'"}'

    response = await http.post(
        "/api/v1/token/", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text


async def test_nul_in_email_is_400(http):
    response = await http.post("/api/v1/token/", json={"email": "a\u0000@b.c", "password": "x"})
    assert set(assert_problem(response, 400, "invalid_request")["errors"]) == {"email"}


async def test_error_answers_are_rendered_on_the_event_loop(http, monkeypatch):
    """Connexion runs a plain error handler in a thread pool: under load each error answer
    then waited for a thread and the GIL (a refused token took 16 ms in a busy worker, against
    under 1 ms accepted). Ours are rendered on the loop's own thread."""
    rendered_on: list[int] = []
    render = problems.problem

    def recording(*args, **kwargs):
        rendered_on.append(threading.get_ident())
        return render(*args, **kwargs)

    monkeypatch.setattr(problems, "problem", recording)
    refused = await http.get("/api/v1/users/", headers={"Authorization": "Bearer not-a-token"})
    assert_problem(refused, 401, "token_not_valid")  # an AuthError from the core
    assert_problem(await http.put("/api/v1/token/"), 405, "method_not_allowed")  # Starlette's
    invalid = await http.post("/api/v1/token/", json={"email": 1})
    assert_problem(invalid, 400, "invalid_request")  # Connexion's validation
    assert rendered_on == [threading.get_ident()] * 3
