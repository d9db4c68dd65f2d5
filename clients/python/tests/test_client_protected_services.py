"""Services protected by the library against a live AuthGate: a tiny grpc.aio service (and
its thread-pool twin) and a tiny Starlette app refuse a missing token, a bad token and a
missing scope, and serve a good one with its principal."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import httpx
import jwt
import pytest
from authgate_client import PUBLIC, Verifier, current_principal
from authgate_client.asgi import BearerAuth
from authgate_client.grpc import AsyncServerAuthInterceptor, ServerAuthInterceptor
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from live_server import admin_tokens, client_token, make_client
from servers import ServerProcess

LEDGER = "/demo.v1.Ledger"
# What each method needs: the whole of the services' protection is this and one line each.
GRPC_RULES = {f"{LEDGER}/Audit": "users:write", f"{LEDGER}/Ping": PUBLIC}
HTTP_RULES = {"/ledger/audit*": "users:write", "/healthz": PUBLIC}
NOWHERE = "http://127.0.0.1:1"  # an AuthGate that cannot be reached


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> dict[str, str | None]:
    """Each caller's token: none, a bad one, a client's with `users:read` only, and the
    admin's (`users:read users:write`)."""
    return {
        "no token": None,
        "bad token": "not.a.token",
        "client": client_token(server, make_client(server, "users:read")),
        "admin": admin_tokens(server)["access"],
    }


def bearer(token: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def subject_of(token: str | None) -> str:
    return str(jwt.decode(token or "", options={"verify_signature": False})["sub"])


# --- gRPC: a generic-handler service, the same methods async and in a thread pool.


def whoami_sync(request: bytes, context: Any) -> bytes:
    return current_principal().subject.encode()


def entries_sync(request: bytes, context: Any) -> Iterator[bytes]:
    for n in range(3):
        yield f"{current_principal().subject}:{n}".encode()


async def whoami(request: bytes, context: Any) -> bytes:
    return current_principal().subject.encode()


async def entries(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for n in range(3):
        yield f"{current_principal().subject}:{n}".encode()


def ledger(unary: Any, stream: Any) -> grpc.GenericRpcHandler:
    """Audit and Ping answer the caller's subject, Entries streams it; no serializers:
    the messages are bytes."""
    return grpc.method_handlers_generic_handler(
        LEDGER.lstrip("/"),
        {
            "Audit": grpc.unary_unary_rpc_method_handler(unary),
            "Ping": grpc.unary_unary_rpc_method_handler(lambda request, context: b"pong"),
            "Entries": grpc.unary_stream_rpc_method_handler(stream),
        },
    )


@pytest.fixture(scope="module")
async def aio_target(server: ServerProcess) -> AsyncIterator[str]:
    interceptor = AsyncServerAuthInterceptor(Verifier(server.http_url), GRPC_RULES)
    service = grpc.aio.server(interceptors=[interceptor])
    service.add_generic_rpc_handlers([ledger(whoami, entries)])
    port = service.add_insecure_port("127.0.0.1:0")
    await service.start()
    yield f"127.0.0.1:{port}"
    await service.stop(grace=None)


@pytest.fixture(scope="module")
def sync_target(server: ServerProcess) -> Iterator[str]:
    interceptor = ServerAuthInterceptor(Verifier(server.http_url), GRPC_RULES)
    service = grpc.server(ThreadPoolExecutor(4), interceptors=[interceptor])
    service.add_generic_rpc_handlers([ledger(whoami_sync, entries_sync)])
    port = service.add_insecure_port("127.0.0.1:0")
    service.start()
    yield f"127.0.0.1:{port}"
    service.stop(grace=None)


REFUSALS = [
    ("no token", grpc.StatusCode.UNAUTHENTICATED),
    ("bad token", grpc.StatusCode.UNAUTHENTICATED),
    ("client", grpc.StatusCode.PERMISSION_DENIED),
]


@pytest.mark.parametrize(("caller", "code"), REFUSALS)
async def test_the_aio_service_refuses(aio_target: str, tokens: dict, caller: str, code: Any):
    async with grpc.aio.insecure_channel(aio_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await channel.unary_unary(f"{LEDGER}/Audit")(b"", metadata=bearer(tokens[caller]))
    assert refused.value.code() == code


async def test_the_aio_service_serves_a_good_token_its_principal(aio_target: str, tokens: dict):
    async with grpc.aio.insecure_channel(aio_target) as channel:
        answer = await channel.unary_unary(f"{LEDGER}/Audit")(b"", metadata=bearer(tokens["admin"]))
    assert answer.decode() == subject_of(tokens["admin"])


async def test_a_method_no_rule_names_needs_a_token_and_no_scope(aio_target: str, tokens: dict):
    async with grpc.aio.insecure_channel(aio_target) as channel:
        entries = channel.unary_stream(f"{LEDGER}/Entries")
        streamed = [item async for item in entries(b"", metadata=bearer(tokens["client"]))]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            [item async for item in entries(b"")]
    assert streamed == [f"{subject_of(tokens['client'])}:{n}".encode() for n in range(3)]
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_public_method_needs_no_token(aio_target: str):
    async with grpc.aio.insecure_channel(aio_target) as channel:
        assert await channel.unary_unary(f"{LEDGER}/Ping")(b"") == b"pong"


async def test_the_aio_service_is_unavailable_when_authgate_is_out_of_reach(tokens: dict):
    interceptor = AsyncServerAuthInterceptor(Verifier(NOWHERE), GRPC_RULES)
    service = grpc.aio.server(interceptors=[interceptor])
    service.add_generic_rpc_handlers([ledger(whoami, entries)])
    port = service.add_insecure_port("127.0.0.1:0")
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await channel.unary_unary(f"{LEDGER}/Audit")(b"", metadata=bearer(tokens["admin"]))
    finally:
        await service.stop(grace=None)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "AuthGate's keys are out of reach; no token is trusted"


@pytest.mark.parametrize(("caller", "code"), REFUSALS)
def test_the_thread_pool_service_refuses(sync_target: str, tokens: dict, caller: str, code: Any):
    with grpc.insecure_channel(sync_target) as channel, pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(f"{LEDGER}/Audit")(b"", metadata=bearer(tokens[caller]), timeout=30)
    assert refused.value.code() == code


def test_the_thread_pool_service_serves_a_good_token_its_principal(sync_target: str, tokens: dict):
    with grpc.insecure_channel(sync_target) as channel:
        audit = channel.unary_unary(f"{LEDGER}/Audit")
        entries = channel.unary_stream(f"{LEDGER}/Entries")
        answer = audit(b"", metadata=bearer(tokens["admin"]), timeout=30)
        streamed = list(entries(b"", metadata=bearer(tokens["client"]), timeout=30))
    assert answer.decode() == subject_of(tokens["admin"])
    assert streamed == [f"{subject_of(tokens['client'])}:{n}".encode() for n in range(3)]


# --- Starlette: the same rules over HTTP, answered as RFC 6750 says.


async def audit(request: Request) -> JSONResponse:
    principal = request.state.principal
    return JSONResponse({"subject": principal.subject, "same": principal is current_principal()})


async def feed(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(current_principal().subject)
    await websocket.close()


def ledger_app(verifier: Verifier) -> Starlette:
    return Starlette(
        routes=[
            Route("/ledger/audit", audit),
            Route("/ledger/entries", audit),
            Route("/healthz", lambda request: PlainTextResponse("ok")),
            WebSocketRoute("/ledger/feed", feed),
        ],
        middleware=[Middleware(BearerAuth, verifier=verifier, rules=HTTP_RULES, realm="ledger")],
    )


@pytest.fixture(scope="module")
def app(server: ServerProcess) -> Starlette:
    return ledger_app(Verifier(server.http_url))


async def get(app: Starlette, path: str, token: str | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as client:
        return await client.get(path, headers=dict(bearer(token)))


@pytest.mark.parametrize(
    ("caller", "status", "challenge", "error"),
    [
        ("no token", 401, 'Bearer realm="ledger"', None),
        ("bad token", 401, 'Bearer realm="ledger", error="invalid_token"', "invalid_token"),
        (
            "client",
            403,
            'Bearer realm="ledger", error="insufficient_scope", scope="users:write"',
            "insufficient_scope",
        ),
    ],
)
async def test_the_starlette_app_refuses(
    app: Starlette, tokens: dict, caller: str, status: int, challenge: str, error: str | None
):
    response = await get(app, "/ledger/audit", tokens[caller])
    assert (response.status_code, response.headers["www-authenticate"]) == (status, challenge)
    assert response.headers["content-type"] == "application/json"
    assert response.json().get("error") == error


async def test_the_starlette_app_serves_a_good_token_its_principal(app: Starlette, tokens: dict):
    response = await get(app, "/ledger/audit", tokens["admin"])
    assert response.status_code == 200
    assert response.json() == {"subject": subject_of(tokens["admin"]), "same": True}


async def test_a_route_no_rule_names_needs_a_token_and_no_scope(app: Starlette, tokens: dict):
    assert (await get(app, "/ledger/entries", tokens["client"])).status_code == 200
    assert (await get(app, "/ledger/entries")).status_code == 401


async def test_a_public_route_needs_no_token(app: Starlette):
    assert (await get(app, "/healthz")).text == "ok"


async def test_the_starlette_app_is_unavailable_when_authgate_is_out_of_reach(tokens: dict):
    response = await get(ledger_app(Verifier(NOWHERE)), "/ledger/audit", tokens["admin"])
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


def test_a_websocket_handshake_is_refused_without_a_token(app: Starlette, tokens: dict):
    with TestClient(app) as client:
        with client.websocket_connect("/ledger/feed", headers=dict(bearer(tokens["client"]))) as ws:
            assert ws.receive_text() == subject_of(tokens["client"])
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/ledger/feed"),
        ):
            pass
    assert refused.value.code == 1008


def test_the_library_and_its_asgi_middleware_import_neither_grpc_nor_starlette():
    """grpcio is an optional extra, and the middleware is pure ASGI."""
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, authgate_client.asgi; print(*sys.modules)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert {"authgate_client.asgi"} <= set(imported)
    assert not {name.partition(".")[0] for name in imported} & {"grpc", "starlette"}
