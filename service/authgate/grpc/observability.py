"""The gRPC door's access log and metrics: the outermost server interceptor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc

from authgate.observability.access_log import record_request, request_id


class GrpcObservability(grpc.aio.ServerInterceptor):
    """Outermost gRPC interceptor: times, counts and logs every unary call."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or (handler.unary_unary is None and handler.unary_stream is None):
            return handler
        operation = handler_call_details.method.rsplit("/", 1)[-1]
        metadata: Iterable[tuple[str, Any]] = handler_call_details.invocation_metadata or ()
        offered = next((v for k, v in metadata if k == "x-request-id" and isinstance(v, str)), None)
        rid = request_id(offered)
        if handler.unary_stream is not None:
            return _observed_stream(handler, operation, rid)
        behavior = handler.unary_unary

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            client = peer_address(context)  # while the call is surely there (see below)
            outcome = "OK"
            try:
                return await behavior(request, context)
            except BaseException:
                code = context.code()
                outcome = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
                raise
            finally:
                record_request("grpc", operation, outcome, started, client=client, request_id=rid)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _observed_stream(handler: grpc.RpcMethodHandler, operation: str, rid: str) -> Any:
    """A server stream's one access line, written when it ends (its duration: the stream's)."""
    behavior = handler.unary_stream

    async def observed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        # Read now: a stream the client cancelled may have no call left to ask once it ends
        # (context.peer() then crashed the process in grpcio 1.85, in a CI run).
        client = peer_address(context)
        outcome = "OK"
        try:
            async for reply in behavior(request, context):
                yield reply
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "CANCELLED"
            raise
        except BaseException:
            code = context.code()
            outcome = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
            raise
        finally:
            record_request("grpc", operation, outcome, started, client=client, request_id=rid)

    return grpc.unary_stream_rpc_method_handler(
        observed,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def peer_address(context: grpc.aio.ServicerContext) -> str:
    """The client's address from 'ipv4:1.2.3.4:5678' or 'ipv6:[::1]:5678'."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rpartition(":")[0].strip("[]")
    return peer
