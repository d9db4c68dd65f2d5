"""The hostile-input catalogue: every entry gets a 4xx or the right gRPC code, never a
5xx, UNKNOWN or INTERNAL, and the service stays up. Forged tokens go through both doors."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import grpc
import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import ed25519

from authgate.v1 import auth_pb2, auth_pb2_grpc

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from door_clients import assert_refused, claims, login


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned(header: dict, payload: dict | bytes, signature: str = "") -> str:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64(json.dumps(header).encode())}.{b64(body)}.{signature}"


async def our_public_key_bytes(door) -> tuple[str, bytes]:
    jwk = (await door.get_jwks()).data["keys"][0]
    return jwk["kid"], base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))


async def _forgeries(door) -> dict[str, str]:
    pair = await login(door)
    real = claims(pair["access"])
    kid, public = await our_public_key_bytes(door)
    attacker = ed25519.Ed25519PrivateKey.generate()
    attacker_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key()))
    header = {"typ": "at+jwt", "kid": kid}
    forged = {
        f"alg-{alg}": unsigned({**header, "alg": alg}, real)
        for alg in ("none", "None", "NONE", "nOnE")
    }
    forged["alg-none-with-signature"] = unsigned({**header, "alg": "none"}, real, "c2ln")
    # RFC 8725 §2.1: an HS256 MAC keyed with our public key must not verify.
    forged["hs256-with-our-public-key"] = jwt.encode(
        real, public, algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"}
    )
    for name, bad_kid in {
        "unknown-kid": "no-such-key",
        "path-like-kid": "../../../etc/passwd",
        "sql-kid": "' OR '1'='1",
    }.items():
        forged[name] = jwt.encode(
            real, attacker, algorithm="EdDSA", headers={"kid": bad_kid, "typ": "at+jwt"}
        )
    for name, extra in {
        "embedded-jwk": {"jwk": attacker_jwk},
        "jku": {"jku": "http://127.0.0.1:1/keys"},
        "x5u": {"x5u": "http://127.0.0.1:1/cert"},
    }.items():
        forged[name] = jwt.encode(
            real, attacker, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt", **extra}
        )
    forged["numeric-kid"] = unsigned({"typ": "at+jwt", "kid": 7, "alg": "EdDSA"}, real, "c2ln")
    forged["non-json-payload"] = unsigned({**header, "alg": "EdDSA"}, b"not json", "c2ln")
    forged["array-payload"] = unsigned({**header, "alg": "EdDSA"}, b"[1,2,3]", "c2ln")
    forged["nested-json-payload"] = unsigned(
        {**header, "alg": "EdDSA"}, {"sub": {"$ne": ""}, "exp": {"a": [1]}}, "c2ln"
    )
    forged["over-8-kib"] = pair["access"] + "A" * 8500
    forged["non-ascii"] = pair["access"][:-3] + "é€😀"
    forged["header-injection"] = "abc\r\nX-Injected: 1"
    forged["empty-segments"] = ".."
    return forged


FORGERY_NAMES = [
    "alg-none", "alg-None", "alg-NONE", "alg-nOnE", "alg-none-with-signature",
    "hs256-with-our-public-key", "unknown-kid", "path-like-kid", "sql-kid", "numeric-kid",
    "embedded-jwk", "jku", "x5u", "non-json-payload", "array-payload", "nested-json-payload",
    "over-8-kib", "non-ascii", "header-injection", "empty-segments",
]  # fmt: skip


@pytest.mark.parametrize("name", FORGERY_NAMES)
async def test_forged_token_is_refused_by_every_token_check(door, name):
    token = (await _forgeries(door))[name]
    if "\r" not in token and token.isascii():
        # (Headers and metadata cannot carry CR/LF or non-ASCII: clients refuse to send them.
        # test_hostile_authorization_header_is_401 sends raw bytes instead.)
        assert_refused(await door.list_users(token), "token_not_valid")
    assert_refused(await door.verify_token(token), "token_not_valid")
    assert_refused(await door.refresh_token(token), "token_not_valid")


@pytest_asyncio.fixture(scope="module")
async def http(service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.http_url, timeout=10) as client:
        yield client


def _assert_client_error(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert "x-injected" not in response.headers


HOSTILE_BODIES = {
    "duplicate-keys": b'{"email": "a@b.c", "email": "admin@example.com", "password": "x"}',
    "nul-bytes": b'{"email": "admin@example.com\\u0000", "password": "x"}',
    "raw-nul": b'{"email": "a\x00b", "password": "x"}',
    "lone-surrogate": b'{"email": "\\ud800@b.c", "password": "\\udfff"}',
    "non-utf8": b'{"email": "\xff\xfe@b.c", "password": "x"}',
    "email-over-254": json.dumps({"email": "a" * 250 + "@b.cd", "password": "x"}).encode(),
    "password-over-1024": json.dumps({"email": ADMIN_EMAIL, "password": "p" * 5000}).encode(),
    "header-injection": json.dumps(
        {"email": "a@b.c\r\nX-Injected: 1", "password": "x\r\nSet-Cookie: a=b"}
    ).encode(),
    "nested-object": b'{"email": {"$ne": null}, "password": {"$gt": ""}}',
    "deeply-nested": b'{"email": ' + b"[" * 30000 + b"]" * 30000 + b', "password": "x"}',
    "huge": b'{"email": "' + b"a" * 2_000_000 + b'", "password": "x"}',
    "number-overflow": b'{"email": 1e999999, "password": 123456789012345678901234567890}',
    "not-json": b"email=admin@example.com&password=x",
    "empty": b"",
    "json-null": b"null",
}


@pytest.mark.parametrize(
    "path", ["/api/v1/token/", "/api/v1/token/refresh/", "/api/v1/token/verify/"]
)
@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
async def test_hostile_body_gets_a_client_error(http, path, name):
    response = await http.post(
        path, content=HOSTILE_BODIES[name], headers={"content-type": "application/json"}
    )
    _assert_client_error(response)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "",
    ],
)
async def test_wrong_content_type_gets_a_client_error(http, content_type):
    body = json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).encode()
    headers = {"content-type": content_type} if content_type else {}
    _assert_client_error(await http.post("/api/v1/token/", content=body, headers=headers))


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer \xff\xfe", b"Bearer " + b"a" * 9000, b"Bearer a b c", b"Bearer\tx", b"Bearer ,x,"],
)
async def test_hostile_authorization_header_is_401(http, authorization):
    response = await http.get("/api/v1/users/", headers=[(b"authorization", authorization)])
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    "query",
    ["pageSize=1e9", "pageSize=%00", "pageToken=%ff%fe", "pageToken=" + "A" * 2000],
)
async def test_hostile_query_gets_a_client_error(http, query):
    access = await login_rest(http)
    response = await http.get(
        f"/api/v1/users/?{query}", headers={"Authorization": f"Bearer {access}"}
    )
    _assert_client_error(response)


async def login_rest(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/api/v1/token/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    return response.json()["access"]


@pytest.mark.parametrize(
    "request_message",
    [
        auth_pb2.IssueTokenRequest(email="a" * 300 + "@b.c", password="x"),
        auth_pb2.IssueTokenRequest(email="a@b.c\r\nX: 1", password="p" * 5000),
        auth_pb2.IssueTokenRequest(email="\x00", password="\x00"),
    ],
    ids=["email-over-254", "injection-and-long-password", "nul"],
)
async def test_hostile_grpc_credentials_get_a_client_code(service, request_message):
    async with grpc.aio.insecure_channel(service.grpc_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await auth_pb2_grpc.AuthServiceStub(channel).IssueToken(request_message, timeout=10)
    assert caught.value.code() in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
    )


async def test_oversized_grpc_message_is_refused_cleanly(service):
    request = auth_pb2.IssueTokenRequest(email="a@b.c", password="p" * 200_000)
    async with grpc.aio.insecure_channel(service.grpc_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await auth_pb2_grpc.AuthServiceStub(channel).IssueToken(request, timeout=10)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_service_is_still_up_after_the_catalogue(http, grpc_door):
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/readyz")).status_code == 200
    assert (await grpc_door.issue_token(ADMIN_EMAIL, ADMIN_PASSWORD)).ok


HOSTILE_FORMS = {
    "duplicate-parameter": b"grant_type=client_credentials&grant_type=client_credentials",
    "duplicate-client-id": b"client_id=a&client_id=b&client_secret=x&token=t",
    "encoded-nul": b"grant_type=client_credentials&client_id=svc-%00&client_secret=x&token=t",
    "raw-nul": b"grant_type=client_credentials\x00&token=t",
    "non-ascii": b"grant_type=client_credentials&client_id=\xff\xfe&token=t",
    "bad-percent": b"grant_type=client%2&token=%G0",
    "lone-surrogate-utf8": b"grant_type=client_credentials&client_id=%ED%A0%80&token=t",
    "header-injection": b"grant_type=client_credentials&scope=a%0d%0aX-Injected:%201&token=t",
    "huge": b"grant_type=client_credentials&token=" + b"a" * 2_000_000,
    "empty": b"",
    "json-body": b'{"grant_type": "client_credentials", "token": "t"}',
    "only-separators": b"&&&&=&=",
    "no-grant-or-token": b"scope=users:read",
    "long-secret": b"grant_type=client_credentials&client_id=svc-x&client_secret="
    + b"s" * 60_000
    + b"&token=t",
}


@pytest.mark.parametrize("path", ["/api/v1/oauth/token", "/api/v1/oauth/introspect"])
@pytest.mark.parametrize("name", sorted(HOSTILE_FORMS))
async def test_hostile_form_gets_an_rfc_6749_client_error(http, path, name):
    response = await http.post(
        path,
        content=HOSTILE_FORMS[name],
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] in {"invalid_request", "invalid_client"}
    assert "x-injected" not in response.headers


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
async def test_hostile_body_to_the_client_credentials_twin_gets_a_client_error(http, name):
    response = await http.post(
        "/api/v1/token/client/",
        content=HOSTILE_BODIES[name],
        headers={"content-type": "application/json"},
    )
    _assert_client_error(response)
