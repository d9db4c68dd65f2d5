"""gRPC calls with AuthGate tokens: `authorization: Bearer <access>` metadata on every call.

    auth = AuthGateAuth("https://authgate.example", client_id=..., client_secret=...)
    channel = grpc.intercept_channel(grpc.insecure_channel(target), BearerTokenInterceptor(auth))
    channel = grpc.aio.insecure_channel(target, interceptors=aio_interceptors(auth))
    # or, on TLS channels only:
    channel_credentials = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(), call_credentials(auth)
    )

The interceptors work on any channel (gRPC silently drops call credentials on an insecure
one) and send a call refused with UNAUTHENTICATED once more with a renewed token; a call
that streams its requests is not sent again, as its requests may have been consumed. Call
credentials renew the token before it expires, but see no response, so they never retry.
The token keeping is `AuthGateAuth`'s own: one `auth` may serve httpx and gRPC together.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any

import grpc
import grpc.aio

from authgate_client.http_auth import AuthGateAuth
from authgate_client.tokens import TokenKeeper

Metadata = Iterable[tuple[str, str | bytes]]


def call_credentials(auth: AuthGateAuth | TokenKeeper) -> grpc.CallCredentials:
    """Call credentials for TLS channels, sync or `grpc.aio`: a fresh token on every call."""
    return grpc.metadata_call_credentials(_BearerPlugin(_keeper(auth)), name="authgate")


def aio_interceptors(auth: AuthGateAuth | TokenKeeper) -> list[grpc.aio.ClientInterceptor]:
    """The `interceptors=` of a `grpc.aio` channel: one per kind of call, as grpc.aio files
    each interceptor under one kind only."""
    tokens = _keeper(auth)
    return [
        _AioUnaryUnary(tokens),
        _AioUnaryStream(tokens),
        _AioStreamUnary(tokens),
        _AioStreamStream(tokens),
    ]


class BearerTokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """For `grpc.intercept_channel`: every kind of call on a blocking channel."""

    def __init__(self, auth: AuthGateAuth | TokenKeeper) -> None:
        self.tokens = _keeper(auth)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.tokens!r})"

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        token = self.tokens.access_token()
        outcome = continuation(_details(details, token), request)
        if outcome.code() != grpc.StatusCode.UNAUTHENTICATED:
            return outcome
        return continuation(_details(details, self.tokens.renew_after_refusal(token)), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return _RetriedResponses(
            lambda token: continuation(_details(details, token), request), self.tokens
        )

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(_details(details, self.tokens.access_token()), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(_details(details, self.tokens.access_token()), requests)


class _RetriedResponses:
    """A unary-stream call, started once more with a renewed token when refused with
    UNAUTHENTICATED before its first response; otherwise the call itself (an iterator, a
    `grpc.Call` and a `grpc.Future`), so that starting it never waits for the server."""

    def __init__(self, start: Callable[[str], Any], tokens: TokenKeeper) -> None:
        self._start, self._tokens = start, tokens
        self._token = tokens.access_token()
        self._call = start(self._token)
        self._may_retry = True

    def __iter__(self) -> _RetriedResponses:
        return self

    def __next__(self) -> Any:
        try:
            response = next(self._call)
        except grpc.RpcError as error:
            if not (self._may_retry and error.code() == grpc.StatusCode.UNAUTHENTICATED):
                raise
            self._may_retry = False
            self._call = self._start(self._tokens.renew_after_refusal(self._token))
            return next(self._call)
        self._may_retry = False
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class _AioUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, tokens: TokenKeeper) -> None:
        self.tokens = tokens

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        token = await self.tokens.access_token_async()
        call = await continuation(_aio_details(details, token), request)
        if await call.code() != grpc.StatusCode.UNAUTHENTICATED:
            return call
        token = await self.tokens.renew_after_refusal_async(token)
        return await continuation(_aio_details(details, token), request)


class _AioUnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, tokens: TokenKeeper) -> None:
        self.tokens = tokens

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        token = await self.tokens.access_token_async()
        call = await continuation(_aio_details(details, token), request)
        # A refusal is a trailers-only response (no message before it). Waiting for the
        # headers costs the caller nothing: grpc.aio runs this when it first reads.
        await call.initial_metadata()
        if not call.done() or await call.code() != grpc.StatusCode.UNAUTHENTICATED:
            return call
        token = await self.tokens.renew_after_refusal_async(token)
        return await continuation(_aio_details(details, token), request)


class _AioStreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, tokens: TokenKeeper) -> None:
        self.tokens = tokens

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        token = await self.tokens.access_token_async()
        return await continuation(_aio_details(details, token), requests)


class _AioStreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, tokens: TokenKeeper) -> None:
        self.tokens = tokens

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        token = await self.tokens.access_token_async()
        return await continuation(_aio_details(details, token), requests)


class _BearerPlugin(grpc.AuthMetadataPlugin):
    """Runs on a thread of gRPC's, so blocking for a renewal blocks no event loop."""

    def __init__(self, tokens: TokenKeeper) -> None:
        self.tokens = tokens

    def __call__(self, context: Any, callback: Any) -> None:
        try:
            token = self.tokens.access_token()
        except Exception as error:  # gRPC fails the call, with the error's message
            callback((), error)
            return
        callback((("authorization", f"Bearer {token}"),), None)


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    """A blocking call's details (grpc.ClientCallDetails is abstract: no constructor)."""


def _details(details: Any, token: str) -> _CallDetails:
    return _CallDetails(
        details.method,
        details.timeout,
        _with_bearer(details.metadata, token),
        details.credentials,
        getattr(details, "wait_for_ready", None),
        getattr(details, "compression", None),
    )


def _aio_details(details: Any, token: str) -> grpc.aio.ClientCallDetails:
    return grpc.aio.ClientCallDetails(
        details.method,
        details.timeout,
        grpc.aio.Metadata(*_with_bearer(details.metadata, token)),
        details.credentials,
        details.wait_for_ready,
    )


def _with_bearer(metadata: Metadata | None, token: str) -> list[tuple[str, str | bytes]]:
    """The caller's metadata with our `authorization` in place of any of its own."""
    kept = [(key, value) for key, value in metadata or () if key.lower() != "authorization"]
    return [*kept, ("authorization", f"Bearer {token}")]


def _keeper(auth: AuthGateAuth | TokenKeeper) -> TokenKeeper:
    return auth.tokens if isinstance(auth, AuthGateAuth) else auth
