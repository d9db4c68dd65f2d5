"""The gRPC door: parse the message, call the core, map the result or the AuthError."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import messages
from .core import AuthCore
from .errors import AuthError, Reason, invalid_request, not_authenticated
from .grpc_errors import abort
from .observability import GrpcObservability
from .users import User
from .v1 import auth_pb2, auth_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
# RPCs that need `authorization: Bearer <access token>` metadata (REST: `security` in the spec).
PROTECTED_METHODS = frozenset({f"/{SERVICE_NAME}/ListUsers", f"/{SERVICE_NAME}/RevokeAllTokens"})

Reply = TypeVar("Reply")
# How long shutdown turns new calls away before stopping the server (see GrpcDoor.stop).
DRAIN_SECONDS = 0.25


def _maps_errors(method: Callable[..., Awaitable[Reply]]) -> Callable[..., Awaitable[Reply]]:
    """Turn AuthError into its status; an unexpected exception into INTERNAL, logged once."""

    @functools.wraps(method)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext, *args: Any
    ) -> Reply:
        try:
            return await method(self, request, context, *args)
        except AuthError as error:
            await abort(context, error)
        except Exception:
            log.exception("unhandled error in %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "Internal error.")
            raise  # pragma: no cover - abort raises

    return wrapper


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, core: AuthCore) -> None:
        self.core = core

    @_maps_errors
    async def IssueToken(
        self, request: auth_pb2.IssueTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.IssueTokenResponse:
        pair = await self.core.issue_token_pair(request.email, request.password, _peer(context))
        return messages.issue_token_response(pair)

    @_maps_errors
    async def RefreshToken(
        self, request: auth_pb2.RefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RefreshTokenResponse:
        tokens = await self.core.refresh_access_token(request.refresh, _peer(context))
        return messages.refresh_token_response(tokens)

    @_maps_errors
    async def VerifyToken(
        self, request: auth_pb2.VerifyTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.VerifyTokenResponse:
        await self.core.verify_token(request.token)
        return auth_pb2.VerifyTokenResponse()

    @_maps_errors
    async def RevokeToken(
        self, request: auth_pb2.RevokeTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RevokeTokenResponse:
        await self.core.revoke_token(request.refresh, _peer(context))
        return auth_pb2.RevokeTokenResponse()

    @_maps_errors
    async def RevokeAllTokens(  # type: ignore[override]  # the interceptor passes the caller
        self,
        request: auth_pb2.RevokeAllTokensRequest,
        context: grpc.aio.ServicerContext,
        caller: User,
    ) -> auth_pb2.RevokeAllTokensResponse:
        await self.core.revoke_all_tokens(caller, _peer(context))
        return auth_pb2.RevokeAllTokensResponse()

    @_maps_errors
    async def GetJwks(
        self, request: auth_pb2.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.GetJwksResponse:
        return messages.jwks_response(self.core.public_keys())

    @_maps_errors
    async def ListUsers(  # type: ignore[override]  # the interceptor passes the caller
        self, request: auth_pb2.ListUsersRequest, context: grpc.aio.ServicerContext, caller: User
    ) -> auth_pb2.ListUsersResponse:
        page = await self.core.list_visible_users(caller, request.page_size, request.page_token)
        return messages.list_users_response(page)


def _peer(context: grpc.aio.ServicerContext) -> str:
    """The client's address from 'ipv4:1.2.3.4:5678' or 'ipv6:[::1]:5678'."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rpartition(":")[0].strip("[]")
    return peer


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
    """Guards every AuthService RPC: unparseable requests get INVALID_ARGUMENT, and protected
    RPCs are authenticated, with the caller handed to the handler as an argument.

    A protected handler takes `(request, context, caller)`, so it cannot be served without
    this interceptor in front of it.
    """

    def __init__(self, core: AuthCore, protected: frozenset[str] = PROTECTED_METHODS) -> None:
        self.core = core
        self.protected = protected
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
        if method in self.protected:
            # Built per call: it carries this caller's token.
            metadata = handler_call_details.invocation_metadata  # type: ignore[attr-defined]
            return self._guard(handler, protected=True, token=bearer_token(metadata))
        # An open method's guard needs nothing from the call, so it is built once per method
        # (unless grpc hands over another handler for it).
        guard = self._open_guards.get(method)
        if guard is None or guard[0] is not handler:
            guard = (handler, self._guard(handler, protected=False, token=None))
            self._open_guards[method] = guard
        return guard[1]

    def _guard(
        self, handler: grpc.RpcMethodHandler, protected: bool, token: str | None
    ) -> grpc.RpcMethodHandler:
        behavior = handler.unary_unary
        core = self.core
        interceptor = self

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                if interceptor.draining:
                    raise AuthError(Reason.UNAVAILABLE, "The server is shutting down; retry.")
                if isinstance(request, _Unparseable):
                    raise invalid_request({"request": ["Not a valid protobuf message."]})
                if not protected:
                    return await behavior(request, context)
                if token is None:
                    raise not_authenticated()
                caller = await core.authenticate(token)
            except AuthError as error:
                await abort(context, error)
            return await behavior(request, context, caller)

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=_lenient(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )


class GrpcDoor:
    """The running gRPC server with its health status, so shutdown can announce itself."""

    def __init__(
        self,
        server: grpc.aio.Server,
        port: int,
        health: health.aio.HealthServicer,
        guard: AuthServiceInterceptor,
    ):
        self.server = server
        self.port = port
        self.health = health
        self.guard = guard

    async def stop(self, grace: float) -> None:
        # Tell health-checking load balancers first; answer new calls UNAVAILABLE while the
        # calls grpc already accepted but not yet handed over drain (server.stop() would
        # CANCEL those, which no client retries); then stop, letting in-flight calls finish.
        await self.health.enter_graceful_shutdown()
        self.guard.draining = True
        await asyncio.sleep(DRAIN_SECONDS)
        await self.server.stop(grace)


async def start_grpc_door(core: AuthCore, address: str) -> GrpcDoor:
    """Start AuthService with health and reflection on `address` (port 0 picks one)."""
    guard = AuthServiceInterceptor(core)
    server = grpc.aio.server(
        interceptors=[GrpcObservability(), guard],
        options=[
            # Between grpc's soft (8 KiB) and hard limits it drops calls at random; one limit
            # makes the answer deterministic: RESOURCE_EXHAUSTED beyond 16 KiB of metadata,
            # and an oversized token below it reaches the token check (UNAUTHENTICATED).
            ("grpc.max_metadata_size", 16384),
            ("grpc.absolute_max_metadata_size", 16384),
            ("grpc.max_receive_message_length", 65536),
        ],
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(core), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_name, reflection.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:  # grpc reports a failed bind this way
        raise OSError(f"cannot bind the gRPC door to {address}: {error}") from error
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return GrpcDoor(server, port, health_servicer, guard)
