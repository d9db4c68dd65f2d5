"""Tracing, on: both doors continue a caller's W3C trace with a server span, a core child and a
store child, name the trace in the access log, and record no secret anywhere.

The spans go to the SDK's InMemorySpanExporter; real servers answer through real sockets. The
`authgate serve` process exporting to the console, and tracing off importing nothing:
tests/system/test_tracing_process.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable

import grpc
import httpx
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from authgate.observability import tracing
from authgate.v1 import auth_pb2, auth_pb2_grpc

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from in_process import Service, serving

# What an operator might set to capture every header: AuthGate records none all the same.
CAPTURE_EVERY_HEADER = {
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": ".*",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE": ".*",
}


@pytest_asyncio.fixture(scope="module")
async def traced(tmp_path_factory) -> AsyncIterator[tuple[Service, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in CAPTURE_EVERY_HEADER.items():
                patch.setenv(name, value)
            async with serving(tmp_path_factory.mktemp("traced")) as running:
                patch.undo()
                yield running, exporter
    finally:
        tracing.stop_tracing()


def traceparent() -> tuple[str, int, int]:
    """A W3C traceparent header of a new sampled trace: (header, trace id, parent span id)."""
    trace_id, span_id = int.from_bytes(os.urandom(16)), int.from_bytes(os.urandom(8))
    return f"00-{trace_id:032x}-{span_id:016x}-01", trace_id, span_id


async def spans_of(
    exporter: InMemorySpanExporter, trace_id: int, until: Callable[[list[ReadableSpan]], bool]
) -> list[ReadableSpan]:
    """The trace's finished spans, once `until` holds of them (a server span ends after its
    response is sent, so it may finish after the client has the response)."""
    deadline = time.monotonic() + 10
    while True:
        spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
        if until(spans) or time.monotonic() > deadline:
            return spans
        await asyncio.sleep(0.02)


def has_server_span(spans: list[ReadableSpan]) -> bool:
    return any(span.kind is SpanKind.SERVER for span in spans)


def assert_server_core_store(spans: list[ReadableSpan], parent_id: int, core: str) -> None:
    by_id = {span.context.span_id: span for span in spans}
    server = next(span for span in spans if span.kind is SpanKind.SERVER)
    assert server.parent is not None and server.parent.span_id == parent_id
    operation = next(span for span in spans if span.name == f"authgate.core {core}")
    assert operation.parent is not None and operation.parent.span_id == server.context.span_id
    store = [span for span in spans if span.name.startswith("authgate.store ")]
    assert store, [span.name for span in spans]
    for span in store:  # each under the operation, however deep
        ancestor = span
        while ancestor.parent is not None and ancestor is not operation:
            ancestor = by_id[ancestor.parent.span_id]
        assert ancestor is operation, span.name


async def test_a_rest_call_carrying_a_traceparent_leaves_its_spans_in_that_trace(traced):
    running, exporter = traced
    header, trace_id, parent_id = traceparent()
    async with httpx.AsyncClient(base_url=running.http_url) as client:
        response = await client.post(
            "/api/v1/token/",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            headers={"traceparent": header},
        )
    assert response.status_code == 200

    spans = await spans_of(exporter, trace_id, has_server_span)

    assert_server_core_store(spans, parent_id, "issue_token_pair")
    server = next(span for span in spans if span.kind is SpanKind.SERVER)
    assert server.name == "POST /api/v1/token/"
    assert "authgate.store users.login_row" in {span.name for span in spans}


async def test_a_grpc_call_carrying_a_traceparent_leaves_its_spans_in_that_trace(traced):
    running, exporter = traced
    header, trace_id, parent_id = traceparent()
    async with grpc.aio.insecure_channel(running.grpc_target) as channel:
        await auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
            auth_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD),
            metadata=[("traceparent", header)],
            timeout=10,
        )

    spans = await spans_of(exporter, trace_id, has_server_span)

    assert_server_core_store(spans, parent_id, "issue_token_pair")
    server = next(span for span in spans if span.kind is SpanKind.SERVER)
    assert server.name == "/authgate.v1.AuthService/IssueToken"


@pytest.mark.parametrize("door", ["rest", "grpc"])
async def test_the_access_log_names_the_trace(traced, caplog, door):
    running, exporter = traced
    caplog.set_level(logging.INFO, logger="authgate.access")
    header, trace_id, _ = traceparent()
    if door == "rest":
        async with httpx.AsyncClient(base_url=running.http_url) as client:
            await client.get("/.well-known/jwks.json", headers={"traceparent": header})
    else:
        async with grpc.aio.insecure_channel(running.grpc_target) as channel:
            await auth_pb2_grpc.AuthServiceStub(channel).GetJwks(
                auth_pb2.GetJwksRequest(), metadata=[("traceparent", header)], timeout=10
            )
    await spans_of(exporter, trace_id, has_server_span)

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "authgate.access"]

    assert any(line.get("trace_id") == f"{trace_id:032x}" for line in lines), lines


async def test_no_span_records_a_password_token_or_secret(traced):
    running, exporter = traced
    exporter.clear()
    client = await running.make_client("users:read")
    basic = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
    async with httpx.AsyncClient(base_url=running.http_url) as http:
        login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        pair = (await http.post("/api/v1/token/", json=login)).json()
        bearer = {"Authorization": f"Bearer {pair['access']}"}
        await http.post("/api/v1/token/", json={"email": ADMIN_EMAIL, "password": "wrong-Pa55word"})
        await http.post("/api/v1/token/refresh/", json={"refresh": pair["refresh"]})
        await http.get("/api/v1/users/", headers=bearer)
        await http.get(f"/api/v1/users/?access_token={pair['access']}", headers=bearer)
        await http.post("/api/v1/token/verify/", json={"token": pair["access"]})
        client_token = (
            await http.post(
                "/api/v1/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
        ).json()["access_token"]
        await http.post(
            "/api/v1/oauth/introspect",
            data={"token": pair["access"]},
            headers={"Authorization": f"Basic {basic}"},
        )
    async with grpc.aio.insecure_channel(running.grpc_target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        await stub.ListUsers(
            auth_pb2.ListUsersRequest(), metadata=[("authorization", f"Bearer {pair['access']}")]
        )
        await stub.IssueClientToken(
            auth_pb2.IssueClientTokenRequest(
                client_id=client.client_id, client_secret=client.secret
            )
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.IssueToken(
                auth_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password="wrong-Pa55word")
            )
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.ListUsers(
                auth_pb2.ListUsersRequest(), metadata=[("authorization", "Bearer not.a.token")]
            )
    await asyncio.sleep(0.5)  # the last server spans end once their responses are sent
    secrets = [
        ADMIN_PASSWORD,
        "wrong-Pa55word",
        pair["access"],
        pair["refresh"],
        client.secret,
        basic,
        client_token,
        "not.a.token",
        "Bearer",
        "Basic",
    ]

    spans = exporter.get_finished_spans()

    assert sum(span.kind is SpanKind.SERVER for span in spans) >= 12
    for span in spans:
        recorded = json.dumps(
            {
                "name": span.name,
                "attributes": dict(span.attributes or {}),
                "events": [(e.name, dict(e.attributes or {})) for e in span.events],
                "links": [dict(link.attributes or {}) for link in span.links],
                "status": span.status.description,
            },
            default=str,
        )
        for secret in secrets:
            assert secret not in recorded, (span.name, secret, recorded)
        assert "authorization" not in recorded.lower(), recorded
        assert "access_token=" not in recorded, recorded  # the query string
