"""The revocation feed through either door, as its own client would read it: each event as the
protobuf JSON mapping of a WatchRevocationsResponse, the same dict from both doors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
from google.protobuf import json_format

from authgate.v1 import auth_pb2, auth_pb2_grpc

from door_clients import grpc_error_outcome


class FeedError(Exception):
    """The feed refused the call, or ended on an error: `reason` (the slug, or the ErrorInfo
    reason in lower case) and `status` (HTTP status or gRPC code name; 200 once it began)."""

    def __init__(self, reason: str, status: int | str) -> None:
        super().__init__(f"{status} {reason}")
        self.reason = reason
        self.status = status


async def watch(
    kind: str, http_url: str, grpc_target: str, token: str | None, after_seq: int | str = 0
) -> AsyncIterator[dict[str, Any]]:
    """Every event of the stream (`{"revocation": ...}` or `{"heartbeat": ...}`), until it ends."""
    stream = _watch_rest if kind == "rest" else _watch_grpc
    async for event in stream(http_url if kind == "rest" else grpc_target, token, after_seq):
        yield event


async def _watch_rest(
    url: str, token: str | None, after_seq: int | str
) -> AsyncIterator[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"afterSeq": str(after_seq)}
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("GET", "/api/v1/revocations/watch", params=params, headers=headers) as reply,
    ):
        if reply.status_code != 200:
            body = json.loads(await reply.aread())
            raise FeedError(body["code"], reply.status_code)
        assert reply.headers["content-type"] == "application/x-ndjson"
        async for line in reply.aiter_lines():
            if not line:
                continue
            message = json.loads(line)
            if "error" in message:
                reason = message["error"]["details"][0]["reason"].lower()
                raise FeedError(reason, 200)
            yield message["result"]


async def _watch_grpc(
    target: str, token: str | None, after_seq: int | str
) -> AsyncIterator[dict[str, Any]]:
    metadata = [("authorization", f"Bearer {token}")] if token else None
    async with grpc.aio.insecure_channel(target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        call = stub.WatchRevocations(
            auth_pb2.WatchRevocationsRequest(after_seq=int(after_seq)), metadata=metadata
        )
        try:
            async for reply in call:
                yield json_format.MessageToDict(reply, always_print_fields_with_no_presence=True)
        except grpc.aio.AioRpcError as error:
            outcome = grpc_error_outcome(error)
            raise FeedError(outcome.reason, outcome.status) from None
