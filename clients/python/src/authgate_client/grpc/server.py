"""gRPC server interceptors that let through only calls bearing a valid AuthGate access
token (`authorization: Bearer ...` metadata) with the scopes their method needs:

    verifier = Verifier("https://auth.example.com")
    rules = {"/billing.v1.Billing/Refund": "refunds:write", "/grpc.health.v1.Health/*": PUBLIC}
    server = grpc.aio.server(interceptors=[AsyncServerAuthInterceptor(verifier, rules)])
    # a thread-pool server: grpc.server(pool, interceptors=[ServerAuthInterceptor(...)])

    async def Refund(self, request, context):
        principal = current_principal()

Rules are keyed by full method name, `/package.Service/Method`, or a prefix ending in `*`
(access_rules.py); a method no rule names needs a valid token and no scope. Refusals: no
token or a bad one, UNAUTHENTICATED; a missing scope, PERMISSION_DENIED; AuthGate's keys out
of reach past the verifier's stale bound, UNAVAILABLE (a retryable status: the caller's
token is not at fault). The check runs where the handler runs (its worker thread, or its
task), so that `current_principal()` is the handler's and nothing else's.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
from grpc import aio

from authgate_client.access_rules import PUBLIC, AccessRules, Rules
from authgate_client.bearer import bearer_token
from authgate_client.errors import InsufficientScope, InvalidToken, VerificationUnavailable
from authgate_client.principal import Principal, require_scopes, serving
from authgate_client.verifier import Verifier

Behaviour = Callable[[Any, Any], Any]
# (request streaming, response streaming) -> the handler's behaviour and its factory.
_KINDS = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


class ServerAuthInterceptor(grpc.ServerInterceptor):
    """For `grpc.server` (a thread pool): verifies with the blocking `Verifier.verify`."""

    def __init__(self, verifier: Verifier, rules: Rules | None = None) -> None:
        self._verifier = verifier
        self._rules = AccessRules(rules)

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        required = self._rules.required(details.method)
        if handler is None or required is PUBLIC:
            return handler
        return _guarded(
            handler, lambda behaviour, streams: self._guard(behaviour, required, streams)
        )

    def _guard(self, behaviour: Behaviour, required: frozenset[str], streams: bool) -> Behaviour:
        if streams:

            def guarded_stream(request: Any, context: Any) -> Iterator[Any]:
                with serving(self._principal(context, required)):
                    yield from behaviour(request, context)

            return guarded_stream

        def guarded(request: Any, context: Any) -> Any:
            with serving(self._principal(context, required)):
                return behaviour(request, context)

        return guarded

    def _principal(self, context: Any, required: frozenset[str]) -> Principal:
        try:
            principal = self._verifier.verify(bearer_token(_authorization(context)))
            require_scopes(principal, required)
        except (InvalidToken, InsufficientScope) as refusal:
            context.abort(*_status(refusal))
            raise  # abort raises; should it not, the call fails all the same
        return principal


class AsyncServerAuthInterceptor(aio.ServerInterceptor):
    """For `grpc.aio.server`: verifies with `Verifier.averify`, never blocking the loop.
    Handlers are expected to be async (a plain function would run on the loop)."""

    def __init__(self, verifier: Verifier, rules: Rules | None = None) -> None:
        self._verifier = verifier
        self._rules = AccessRules(rules)

    async def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = await continuation(details)
        required = self._rules.required(details.method)
        if handler is None or required is PUBLIC:
            return handler
        return _guarded(
            handler, lambda behaviour, streams: self._guard(behaviour, required, streams)
        )

    def _guard(self, behaviour: Behaviour, required: frozenset[str], streams: bool) -> Behaviour:
        if streams:

            async def guarded_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                with serving(await self._principal(context, required)):
                    responses = behaviour(request, context)
                    if inspect.isasyncgen(responses):
                        async for response in responses:
                            yield response
                    elif inspect.isawaitable(responses):  # it writes with context.write
                        await responses
                    else:
                        for response in responses:
                            yield response

            return guarded_stream

        async def guarded(request: Any, context: Any) -> Any:
            with serving(await self._principal(context, required)):
                response = behaviour(request, context)
                return await response if inspect.isawaitable(response) else response

        return guarded

    async def _principal(self, context: Any, required: frozenset[str]) -> Principal:
        try:
            principal = await self._verifier.averify(bearer_token(_authorization(context)))
            require_scopes(principal, required)
        except (InvalidToken, InsufficientScope) as refusal:
            await context.abort(*_status(refusal))
            raise  # abort raises; should it not, the call fails all the same
        return principal


def _guarded(handler: Any, guard: Callable[[Behaviour, bool], Behaviour]) -> Any:
    """`handler` with its behaviour wrapped by `guard(behaviour, streams_responses)`."""
    attribute, factory = _KINDS[handler.request_streaming, handler.response_streaming]
    return factory(
        guard(getattr(handler, attribute), handler.response_streaming),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _authorization(context: Any) -> list[str]:
    return [value for key, value in context.invocation_metadata() or () if key == "authorization"]


def _status(refusal: InvalidToken | InsufficientScope) -> tuple[Any, str]:
    if isinstance(refusal, InsufficientScope):
        return grpc.StatusCode.PERMISSION_DENIED, str(refusal)
    if isinstance(refusal, VerificationUnavailable):
        return grpc.StatusCode.UNAVAILABLE, str(refusal)
    return grpc.StatusCode.UNAUTHENTICATED, str(refusal)
