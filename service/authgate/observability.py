"""Per-request metrics and one structured log line per request, on both doors.

Each request gets an id (the caller's `x-request-id` when it is sane, else a new one), echoed
on REST responses. The log line names the door, operation, outcome, duration, client and id:
never a header value, body, token or password.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .logs import JsonMessage

log = logging.getLogger("authgate.access")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(offered: str | None) -> str:
    return offered if offered and _SANE_ID.fullmatch(offered) else uuid.uuid4().hex


def _record(door: str, operation: str, outcome: str, started: float, **fields: Any) -> None:
    elapsed = time.perf_counter() - started
    metrics.REQUESTS.labels(door, operation, outcome).inc()
    metrics.LATENCY.labels(door, operation).observe(elapsed)
    if log.isEnabledFor(logging.INFO):
        line: dict[str, object] = {"door": door, "operation": operation, "outcome": outcome}
        line.update(duration_ms=round(elapsed * 1000, 2), **fields)
        log.info(JsonMessage(line))


class RestObservability:
    """Outermost ASGI middleware: serves /metrics, times and logs every other request.

    `operations` maps known paths to their operation name; any other path is logged as
    "other" so a scan of random URLs cannot blow up the metrics' label sets.
    """

    def __init__(self, app: ASGIApp, operations: dict[str, str]) -> None:
        self.app = app
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics" and scope["method"] == "GET":
            await _send_metrics(send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers", ()))
        rid = request_id(headers.get(b"x-request-id", b"").decode("latin-1"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client") or ("", 0)
            _record(
                "rest",
                self.operations.get(scope["path"], "other"),
                str(status),
                started,
                method=scope["method"],
                path=scope["path"] if scope["path"] in self.operations else "(other)",
                client=client[0],
                request_id=rid,
            )


async def _send_metrics(send: Send) -> None:
    body = metrics.exposition()
    content_type = metrics.METRICS_CONTENT_TYPE.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", content_type)]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class GrpcObservability(grpc.aio.ServerInterceptor):
    """Outermost gRPC interceptor: times, counts and logs every unary call."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        operation = handler_call_details.method.rsplit("/", 1)[-1]
        metadata: Iterable[tuple[str, Any]] = handler_call_details.invocation_metadata or ()  # type: ignore[attr-defined]
        offered = next((v for k, v in metadata if k == "x-request-id" and isinstance(v, str)), None)
        rid = request_id(offered)

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            outcome = "OK"
            try:
                return await behavior(request, context)
            except BaseException:
                code = context.code()
                outcome = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
                raise
            finally:
                _record("grpc", operation, outcome, started, client=context.peer(), request_id=rid)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
