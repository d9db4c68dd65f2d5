"""The REST door's access log and metrics: the outermost ASGI middleware, and /metrics."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.observability import metrics
from authgate.observability.access_log import record_request, request_id
from authgate.rest.routes import OperationNames


class RestObservability:
    """Outermost ASGI middleware: serves /metrics, times and logs every other request."""

    def __init__(self, app: ASGIApp, names: OperationNames) -> None:
        self.app = app
        self.names = names

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
            operation, path = self.names.of(scope["method"], scope["path"])
            record_request(
                "rest",
                operation,
                str(status),
                started,
                method=scope["method"],
                path=path,
                client=client[0],
                request_id=rid,
            )


async def _send_metrics(send: Send) -> None:
    body = metrics.exposition()
    content_type = metrics.METRICS_CONTENT_TYPE.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", content_type)]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
