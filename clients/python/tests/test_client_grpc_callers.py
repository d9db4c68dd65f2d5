"""The gRPC callers (authgate_client.grpc) on blocking and grpc.aio channels: against a live
server's ListUsers, tokens renewed before they expire, one renewal for fifty calls and a
refused call sent once more; against a small resource server here, a refused stream started
again, a stream of requests, and call credentials on a channel that carries them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import grpc.aio
import pytest
from authgate_client import AuthGateAuth
from authgate_client.grpc import BearerTokenInterceptor, aio_interceptors, call_credentials

from authgate.v1 import auth_pb2, auth_pb2_grpc

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from live_server import served, wait_until_served
from servers import ServerProcess, wait_for

KINDS = ["grpc", "grpc.aio"]
SPREAD = [(0.0, 1)] + [(0.8, 1)] * 7  # eight calls over 5.6 s, as test_client_auth.py's


def admin_auth(server: ServerProcess) -> AuthGateAuth:
    return AuthGateAuth(server.http_url, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)


def list_users(
    kind: str, target: str, auth: AuthGateAuth, waves: list[tuple[float, int]]
) -> list[str]:
    """ListUsers in waves of (seconds to wait first, calls at once), over one intercepted
    channel of `kind`; each call's status code name, in order."""
    if kind == "grpc.aio":
        return asyncio.run(_list_users_aio(target, auth, waves))
    names: list[str] = []
    channel = grpc.intercept_channel(grpc.insecure_channel(target), BearerTokenInterceptor(auth))
    with channel, ThreadPoolExecutor(50) as pool:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        for pause, count in waves:
            time.sleep(pause)
            start = threading.Barrier(count)  # every call asks for its token at once

            def call(_: int, start: threading.Barrier = start) -> str:
                start.wait()
                try:
                    stub.ListUsers(auth_pb2.ListUsersRequest(), timeout=20)
                except grpc.RpcError as error:
                    return str(error.code().name)
                return "OK"

            names += pool.map(call, range(count))
    return names


async def _list_users_aio(
    target: str, auth: AuthGateAuth, waves: list[tuple[float, int]]
) -> list[str]:
    async def call(stub: auth_pb2_grpc.AuthServiceStub) -> str:
        try:
            await stub.ListUsers(auth_pb2.ListUsersRequest(), timeout=20)
        except grpc.aio.AioRpcError as error:
            return str(error.code().name)
        return "OK"

    names: list[str] = []
    async with grpc.aio.insecure_channel(target, interceptors=aio_interceptors(auth)) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        for pause, count in waves:
            await asyncio.sleep(pause)
            names += await asyncio.gather(*(call(stub) for _ in range(count)))
    return names


@pytest.mark.parametrize("kind", KINDS)
def test_calls_spread_over_three_lifetimes_all_succeed_on_refreshed_tokens(start_server, kind):
    server = start_server(access_token_lifetime="2")
    assert list_users(kind, server.grpc_target, admin_auth(server), SPREAD) == ["OK"] * 8
    wait_until_served(server, "ListUsers", 8)
    assert served(server, "ListUsers", "UNAUTHENTICATED") == 0  # renewed before expiry
    assert served(server, "issue_token") == 1
    assert served(server, "refresh_token", "200") == served(server, "refresh_token") >= 2


@pytest.mark.parametrize("kind", KINDS)
def test_fifty_calls_as_the_token_falls_due_make_one_refresh(start_server, kind):
    server = start_server(access_token_lifetime="2")
    waves = [(0.0, 1), (1.2, 50)]  # 1.2 s after the first call its 2 s token is due
    assert list_users(kind, server.grpc_target, admin_auth(server), waves) == ["OK"] * 51
    wait_until_served(server, "ListUsers", 51)
    assert served(server, "refresh_token") == 1
    assert served(server, "issue_token") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_fifty_calls_refused_after_logout_everywhere_log_in_again_once(start_server, kind):
    server = start_server()
    auth = admin_auth(server)
    assert list_users(kind, server.grpc_target, auth, [(0.0, 1)]) == ["OK"]
    bearer = [("authorization", f"Bearer {auth.tokens.access_token()}")]
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        stub.RevokeAllTokens(auth_pb2.RevokeAllTokensRequest(), metadata=bearer, timeout=10)

        def refused() -> bool:
            try:
                stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=bearer, timeout=10)
            except grpc.RpcError as error:
                return bool(error.code() == grpc.StatusCode.UNAUTHENTICATED)
            return False

        wait_for(refused, timeout=5)
    assert list_users(kind, server.grpc_target, auth, [(0.0, 50)]) == ["OK"] * 50
    # One renewal for the fifty refusals: its refresh token is refused too, so it logs in.
    wait_until_served(server, "issue_token", 2)
    assert served(server, "refresh_token", "401") == served(server, "refresh_token") == 1
    assert served(server, "issue_token") == 2


class ResourceServer:
    """A service that takes AuthGate's tokens, on a port of its own: `Watch` streams two
    messages, refusing the first token it is shown as if it had expired; `Upload` takes a
    stream of requests. It records the `authorization` of every call."""

    def __init__(self, secure: bool = False) -> None:
        self.authorizations: list[str] = []
        self.server = grpc.server(ThreadPoolExecutor(4))
        handlers = {
            "Watch": grpc.unary_stream_rpc_method_handler(self._watch),
            "Upload": grpc.stream_unary_rpc_method_handler(self._upload),
            "Echo": grpc.unary_unary_rpc_method_handler(self._echo),
        }
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("test.Resource", handlers)]
        )
        address = "127.0.0.1:0"
        port = (
            self.server.add_secure_port(address, grpc.local_server_credentials())
            if secure
            else self.server.add_insecure_port(address)
        )
        self.target = f"127.0.0.1:{port}"

    def _authorization(self, context: grpc.ServicerContext) -> str:
        sent = dict(context.invocation_metadata()).get("authorization", "")
        self.authorizations.append(sent)
        return str(sent)

    def _watch(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        self._authorization(context)
        if len(self.authorizations) == 1:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "token expired")
        yield b"one"
        yield b"two"

    def _upload(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        self._authorization(context)
        return b"".join(requests)

    def _echo(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        return self._authorization(context).encode()


@pytest.fixture
def resource() -> Iterator[ResourceServer]:
    service = ResourceServer()
    service.server.start()
    yield service
    service.server.stop(grace=None)


def test_a_refused_stream_is_started_again_with_a_renewed_token(server, resource):
    auth = admin_auth(server)
    refreshes = served(server, "refresh_token")
    interceptor = BearerTokenInterceptor(auth)
    with grpc.intercept_channel(grpc.insecure_channel(resource.target), interceptor) as channel:
        responses = channel.unary_stream("/test.Resource/Watch")(b"", timeout=10)
        assert list(responses) == [b"one", b"two"]
        assert responses.code() == grpc.StatusCode.OK  # the call answers for the second one
    first, second = resource.authorizations
    assert first != second == f"Bearer {auth.tokens.access_token()}"
    wait_for(lambda: served(server, "refresh_token") == refreshes + 1, timeout=20)


async def test_a_refused_aio_stream_is_started_again_with_a_renewed_token(server, resource):
    auth = admin_auth(server)
    refreshes = served(server, "refresh_token")
    async with grpc.aio.insecure_channel(
        resource.target, interceptors=aio_interceptors(auth)
    ) as channel:
        call = channel.unary_stream("/test.Resource/Watch")(b"", timeout=10)
        assert [message async for message in call] == [b"one", b"two"]
        assert await call.code() == grpc.StatusCode.OK
    first, second = resource.authorizations
    assert first != second == f"Bearer {await auth.tokens.access_token_async()}"
    await asyncio.to_thread(wait_for, lambda: served(server, "refresh_token") == refreshes + 1, 20)


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_of_requests_carries_the_token(server, resource, kind):
    auth = admin_auth(server)
    chunks = [b"a", b"b", b"c"]
    if kind == "grpc.aio":

        async def upload() -> bytes:
            async with grpc.aio.insecure_channel(
                resource.target, interceptors=aio_interceptors(auth)
            ) as channel:
                answer: bytes = await channel.stream_unary("/test.Resource/Upload")(
                    iter(chunks), timeout=10
                )
                return answer

        answer = asyncio.run(upload())
    else:
        interceptor = BearerTokenInterceptor(auth)
        target = resource.target
        with grpc.intercept_channel(grpc.insecure_channel(target), interceptor) as channel:
            answer = channel.stream_unary("/test.Resource/Upload")(iter(chunks), timeout=10)
    assert answer == b"abc"
    assert resource.authorizations == [f"Bearer {auth.tokens.access_token()}"]


@pytest.mark.parametrize("kind", KINDS)
def test_call_credentials_send_the_token_on_a_channel_that_carries_them(server, kind):
    resource = ResourceServer(secure=True)  # local credentials: call credentials are sent
    resource.server.start()
    auth = admin_auth(server)
    credentials = grpc.composite_channel_credentials(
        grpc.local_channel_credentials(), call_credentials(auth)
    )
    try:
        if kind == "grpc.aio":

            async def echo() -> bytes:
                async with grpc.aio.secure_channel(resource.target, credentials) as channel:
                    answer: bytes = await channel.unary_unary("/test.Resource/Echo")(
                        b"", timeout=10
                    )
                    return answer

            answer = asyncio.run(echo())
        else:
            with grpc.secure_channel(resource.target, credentials) as channel:
                answer = channel.unary_unary("/test.Resource/Echo")(b"", timeout=10)
    finally:
        resource.server.stop(grace=None)
    assert answer.decode() == f"Bearer {auth.tokens.access_token()}"


def test_the_interceptor_shows_no_secret(server):
    interceptor = BearerTokenInterceptor(admin_auth(server))
    interceptor.tokens.access_token()
    assert ADMIN_PASSWORD not in repr(interceptor)
    assert "eyJ" not in repr(interceptor)
