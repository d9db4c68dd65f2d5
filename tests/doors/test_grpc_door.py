"""What only the gRPC door has: status details, metadata parsing, health and reflection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from authgate.v1 import auth_pb2, auth_pb2_grpc

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD


@pytest_asyncio.fixture(scope="module")
async def channel(service) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(service.grpc_target) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel):
    return auth_pb2_grpc.AuthServiceStub(channel)


async def _error(call, *args, **kwargs) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(*args, timeout=10, **kwargs)
    return caught.value


def _details(error: grpc.aio.AioRpcError, kind):
    status = rpc_status.from_call(error)
    found = []
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found


async def test_errors_carry_error_info_with_reason_and_domain(stub):
    error = await _error(
        stub.IssueToken, auth_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password="nope")
    )
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    [info] = _details(error, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("NO_ACTIVE_ACCOUNT", "authgate")


async def test_invalid_argument_lists_field_violations(stub):
    error = await _error(stub.IssueToken, auth_pb2.IssueTokenRequest())
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    [bad_request] = _details(error, error_details_pb2.BadRequest)
    assert {v.field for v in bad_request.field_violations} == {"email", "password"}


@pytest.mark.parametrize(
    "metadata",
    [
        [],
        [("authorization", "Basic abc")],
        [("authorization", "Bearer ")],
        [("authorization", "token")],
    ],
)
async def test_missing_or_non_bearer_metadata_is_unauthenticated(stub, metadata):
    error = await _error(stub.ListUsers, auth_pb2.ListUsersRequest(), metadata=metadata)
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    [info] = _details(error, error_details_pb2.ErrorInfo)
    assert info.reason == "NOT_AUTHENTICATED"


async def test_bearer_scheme_in_metadata_is_case_insensitive(stub):
    issued = await stub.IssueToken(
        auth_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD), timeout=10
    )
    reply = await stub.ListUsers(
        auth_pb2.ListUsersRequest(),
        metadata=[("authorization", f"BEARER {issued.access}")],
        timeout=10,
    )
    assert reply.users


async def test_unprotected_rpcs_ignore_a_bad_authorization_header(stub):
    reply = await stub.IssueToken(
        auth_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD),
        metadata=[("authorization", "Bearer garbage")],
        timeout=10,
    )
    assert reply.access


# Named service_name: a parameter named `service` would replace the `service` fixture.
@pytest.mark.parametrize("service_name", ["", "authgate.v1.AuthService"])
async def test_health_reports_serving(channel, service_name):
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=service_name), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_auth_service(channel):
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    call = reflection.ServerReflectionInfo(iter([request]), timeout=10)
    [reply] = [reply async for reply in call]
    names = {service.name for service in reply.list_services_response.service}
    assert {"authgate.v1.AuthService", "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize(
    "payload",
    [b"\x0a\x02\xff\xfe", b"\xff\xff\xff", b"\x0a\x10short"],
    ids=["non-utf8-string", "garbage", "truncated"],
)
async def test_unparseable_request_bytes_are_invalid_argument(channel, payload):
    raw_call = channel.unary_unary(
        "/authgate.v1.AuthService/IssueToken",
        request_serializer=None,
        response_deserializer=None,
    )
    error = await _error(raw_call, payload)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_nul_in_credentials_is_invalid_argument(stub):
    error = await _error(
        stub.IssueToken, auth_pb2.IssueTokenRequest(email="a\x00@b.c", password="x")
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
