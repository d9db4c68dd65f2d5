"""AuthServiceInterceptor on its own: which guards it builds once, and which per call."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from authgate import declared_access
from authgate.core.access import Caller, Requirement
from authgate.grpc.interceptor import SERVICE_NAME, AuthServiceInterceptor, current_caller
from authgate.v1 import auth_pb2

OPEN = f"/{SERVICE_NAME}/RefreshToken"
PROTECTED = f"/{SERVICE_NAME}/ListUsers"


class CallDetails:
    def __init__(self, method: str, token: str | None = None) -> None:
        self.method = method
        self.invocation_metadata = (("authorization", f"Bearer {token}"),) if token else ()


class Core:
    """Authorizes any token as the caller named by it, noting what it was asked to check."""

    def __init__(self) -> None:
        self.checked: list[Requirement] = []

    async def authorize(self, token: str | None, requirement: Requirement) -> Caller:
        self.checked.append(requirement)
        return Caller(f"caller:{token}", frozenset())


class Aborted(Exception):
    """What abort_with_status raises, as grpc's own context does, carrying the code."""


class Context:
    async def abort_with_status(self, status: grpc.Status) -> None:
        raise Aborted(status.code)


def handler_for_the_servicer() -> grpc.RpcMethodHandler:
    async def behavior(request: Any, context: Any) -> tuple[str, ...]:
        try:
            return (current_caller().subject,)
        except LookupError:  # an open method is served with no caller
            return ()

    return grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=auth_pb2.ListUsersRequest.FromString,
        response_serializer=auth_pb2.ListUsersResponse.SerializeToString,
    )


async def guard_for(
    guard: AuthServiceInterceptor, details: CallDetails, handler: grpc.RpcMethodHandler
) -> grpc.RpcMethodHandler:
    async def continuation(_: Any) -> grpc.RpcMethodHandler:
        return handler

    return await guard.intercept_service(continuation, details)


async def answer(handler: grpc.RpcMethodHandler) -> Any:
    return await handler.unary_unary(auth_pb2.ListUsersRequest(), Context())


async def test_an_open_method_gets_one_guard_for_every_call() -> None:
    guard, handler = AuthServiceInterceptor(Core()), handler_for_the_servicer()

    first = await guard_for(guard, CallDetails(OPEN, "a"), handler)

    assert await guard_for(guard, CallDetails(OPEN, "b"), handler) is first
    assert await answer(first) == ()


async def test_an_open_method_gets_a_new_guard_when_grpc_hands_over_another_handler() -> None:
    guard = AuthServiceInterceptor(Core())

    first = await guard_for(guard, CallDetails(OPEN), handler_for_the_servicer())

    assert await guard_for(guard, CallDetails(OPEN), handler_for_the_servicer()) is not first


async def test_a_protected_method_authorizes_each_call_with_its_own_token() -> None:
    core = Core()
    guard, handler = AuthServiceInterceptor(core), handler_for_the_servicer()

    first = await guard_for(guard, CallDetails(PROTECTED, "alice"), handler)
    second = await guard_for(guard, CallDetails(PROTECTED, "bob"), handler)

    assert await answer(first) == ("caller:alice",)
    assert await answer(second) == ("caller:bob",)
    # What the proto declares for ListUsers, read from the descriptors.
    assert core.checked == [declared_access.requirements()["ListUsers"]] * 2
    assert core.checked[0].scopes == {"users:read"}


async def test_the_caller_is_gone_once_the_call_is_answered() -> None:
    guard, handler = AuthServiceInterceptor(Core()), handler_for_the_servicer()

    await answer(await guard_for(guard, CallDetails(PROTECTED, "alice"), handler))

    with pytest.raises(LookupError):
        current_caller()


async def test_a_cached_open_guard_still_turns_calls_away_while_draining() -> None:
    guard, handler = AuthServiceInterceptor(Core()), handler_for_the_servicer()
    cached = await guard_for(guard, CallDetails(OPEN), handler)

    guard.draining = True

    with pytest.raises(Aborted) as aborted:
        await answer(cached)
    assert aborted.value.args == (grpc.StatusCode.UNAVAILABLE,)
