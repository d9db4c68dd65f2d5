"""AuthError to gRPC status, with google.rpc.ErrorInfo and BadRequest details (grpcio-status)."""

from __future__ import annotations

from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from authgate.core.errors import AuthError

DOMAIN = "authgate"


def to_status(error: AuthError) -> grpc.Status:
    # An insufficient_scope refusal names the scope it needs, as RFC 6750 §3.1 does on REST.
    metadata = {"scope": error.required_scope} if error.required_scope else {}
    details: list[Message] = [
        error_details_pb2.ErrorInfo(
            reason=error.reason.slug.upper(), domain=DOMAIN, metadata=metadata
        ),
    ]
    if error.retry_after is not None:
        details.append(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(seconds=error.retry_after)
            )
        )
    if error.field_errors:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=name, description=message)
                    for name, messages in sorted(error.field_errors.items())
                    for message in messages
                ]
            )
        )
    packed = []
    for detail in details:
        wrapper = any_pb2.Any()
        wrapper.Pack(detail)
        packed.append(wrapper)
    status = status_pb2.Status(
        code=code_pb2.Code.Value(error.code.value), message=error.detail, details=packed
    )
    return rpc_status.to_status(status)


async def abort(context: grpc.aio.ServicerContext, error: AuthError) -> NoReturn:
    await context.abort_with_status(to_status(error))
    raise AssertionError("abort_with_status returns only by raising")  # pragma: no cover
