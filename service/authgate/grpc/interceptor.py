"""The guard in front of every AuthService call: unparseable requests, draining, bearer tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from authgate import declared_access
from authgate.core.access import Caller, Requirement
from authgate.core.errors import AuthError, Reason, invalid_request
from authgate.core.operations import AuthCore
from authgate.grpc.status import abort
from authgate.v1 import auth_pb2

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
# The authorized caller of the protected RPC being served: set by the guard around the
# servicer's method, in the same task, and read by it through current_caller().
_CALLER: ContextVar[Caller] = ContextVar("authgate_grpc_caller")


# For a stream: the guard's check, run again while the stream lasts (the caller's token
# may expire, or its client be deactivated, long after the stream began).
_STILL_AUTHORIZED: ContextVar[Callable[[], Awaitable[Caller]]] = ContextVar(
    "authgate_grpc_still_authorized"
)


def still_authorized() -> Callable[[], Awaitable[Caller]]:
    """The guard's authorization of the stream being served, to run again."""
    return _STILL_AUTHORIZED.get()


def current_caller() -> Caller:
    """The caller of the protected RPC being served. LookupError outside the guard: a
    protected method cannot be served without this interceptor in front of it."""
    return _CALLER.get()


def bearer_token(metadata: Sequence[tuple[str, Any]] | None) -> str | None:
    """The token of an `authorization: Bearer <token>` entry, or None when there is none."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class _Unparseable:
    """Stands in for a request whose bytes are not a valid message."""


def _lenient(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    # grpc answers INTERNAL when a deserializer raises; a client's bad bytes are its own error.
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError:
            return _Unparseable()

    return parse


class AuthServiceInterceptor(grpc.aio.ServerInterceptor):
    """Guards every AuthService RPC: unparseable requests get INVALID_ARGUMENT, and an RPC
    that is not public is authorized by the core against what the proto declares for it
    (`authgate.v1.access`), its caller then readable through current_caller()."""

    def __init__(
        self, core: AuthCore, requirements: Mapping[str, Requirement] | None = None
    ) -> None:
        self.core = core
        declared = declared_access.requirements() if requirements is None else requirements
        self.requirements = {f"/{SERVICE_NAME}/{name}": r for name, r in declared.items()}
        # Set at shutdown: new calls are turned away as UNAVAILABLE (retryable) while the
        # calls grpc has already queued drain, instead of being CANCELLED by server.stop().
        self.draining = False
        # Open (unprotected) method -> (grpc's handler, its guard); see intercept_service.
        self._open_guards: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(f"/{SERVICE_NAME}/"):
            return handler
        requirement = self.requirements.get(method)
        if requirement is not None and not requirement.public:
            # Built per call: it carries this caller's token.
            metadata = handler_call_details.invocation_metadata
            return self._guard(handler, requirement, token=bearer_token(metadata))
        # An open method's guard needs nothing from the call, so it is built once per method
        # (unless grpc hands over another handler for it).
        guard = self._open_guards.get(method)
        if guard is None or guard[0] is not handler:
            guard = (handler, self._guard(handler, None, token=None))
            self._open_guards[method] = guard
        return guard[1]

    def _guard(
        self, handler: grpc.RpcMethodHandler, requirement: Requirement | None, token: str | None
    ) -> grpc.RpcMethodHandler:
        if handler.unary_stream is not None:
            return self._guard_stream(handler, requirement, token)
        behavior = handler.unary_unary
        core = self.core
        interceptor = self

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                if interceptor.draining:
                    raise AuthError(Reason.UNAVAILABLE, "The server is shutting down; retry.")
                if isinstance(request, _Unparseable):
                    raise invalid_request({"request": ["Not a valid protobuf message."]})
                if requirement is None:
                    return await behavior(request, context)
                caller = await core.authorize(token, requirement)
            except AuthError as error:
                await abort(context, error)
            serving = _CALLER.set(caller)
            try:
                return await behavior(request, context)
            finally:
                _CALLER.reset(serving)

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=_lenient(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def _guard_stream(
        self, handler: grpc.RpcMethodHandler, requirement: Requirement | None, token: str | None
    ) -> grpc.RpcMethodHandler:
        """The same guard for a server stream (WatchRevocations), which must be protected."""
        behavior = handler.unary_stream
        core = self.core
        interceptor = self
        assert requirement is not None, "a public stream would need no guard of this kind"

        async def authorized() -> Caller:
            return await core.authorize(token, requirement)

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                if interceptor.draining:
                    raise AuthError(Reason.UNAVAILABLE, "The server is shutting down; retry.")
                if isinstance(request, _Unparseable):
                    raise invalid_request({"request": ["Not a valid protobuf message."]})
                caller = await authorized()
            except AuthError as error:
                await abort(context, error)
            _CALLER.set(caller)  # the call's own task: gone when the stream ends
            _STILL_AUTHORIZED.set(authorized)
            async for reply in behavior(request, context):
                yield reply

        return grpc.unary_stream_rpc_method_handler(
            guarded,
            request_deserializer=_lenient(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
