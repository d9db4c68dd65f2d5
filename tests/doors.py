"""The two front doors behind one interface, so each scenario is written once.

Every call returns an Outcome: the JSON-mapped result (REST body, or the gRPC reply under the
protobuf JSON mapping), or the error's machine-readable reason, detail and field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from authgate.v1 import auth_pb2, auth_pb2_grpc


@dataclass
class Outcome:
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    detail: str = ""
    fields: set[str] = field(default_factory=set)
    status: int | str = 200  # the HTTP status, or the gRPC status code's name
    retry_after: int | None = None  # Retry-After, or google.rpc.RetryInfo, in seconds
    raw: Any = None


class RestDoor:
    name = "rest"

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10)

    def issue_token(self, email: str, password: str) -> Outcome:
        return self._outcome(
            self.client.post("/api/v1/token/", json={"email": email, "password": password})
        )

    def refresh_token(self, refresh: str) -> Outcome:
        return self._outcome(self.client.post("/api/v1/token/refresh/", json={"refresh": refresh}))

    def list_users(self, access: str | None, page_size: int = 0, page_token: str = "") -> Outcome:
        headers = {"Authorization": f"Bearer {access}"} if access is not None else {}
        params: dict[str, Any] = {}
        if page_size:
            params["pageSize"] = page_size
        if page_token:
            params["pageToken"] = page_token
        return self._outcome(self.client.get("/api/v1/users/", headers=headers, params=params))

    def verify_token(self, token: str) -> Outcome:
        return self._outcome(self.client.post("/api/v1/token/verify/", json={"token": token}))

    def revoke_token(self, refresh: str) -> Outcome:
        return self._outcome(
            self.client.post("/api/v1/token/blacklist/", json={"refresh": refresh})
        )

    def revoke_all_tokens(self, access: str) -> Outcome:
        headers = {"Authorization": f"Bearer {access}"}
        return self._outcome(self.client.post("/api/v1/token/revoke-all/", headers=headers))

    def get_jwks(self) -> Outcome:
        return self._outcome(self.client.get("/.well-known/jwks.json"))

    @staticmethod
    def _outcome(response: httpx.Response) -> Outcome:
        body = response.json()
        if response.status_code == 200:
            return Outcome(True, data=body, raw=response)
        assert response.headers["content-type"] == "application/problem+json", response.text
        return Outcome(
            False,
            reason=body["code"],
            detail=body["detail"],
            fields=set(body.get("errors", {})),
            status=response.status_code,
            retry_after=int(response.headers["retry-after"])
            if "retry-after" in response.headers
            else None,
            raw=response,
        )

    def close(self) -> None:
        self.client.close()


class GrpcDoor:
    name = "grpc"

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = auth_pb2_grpc.AuthServiceStub(self.channel)

    def issue_token(self, email: str, password: str) -> Outcome:
        return self._call(
            self.stub.IssueToken, auth_pb2.IssueTokenRequest(email=email, password=password)
        )

    def refresh_token(self, refresh: str) -> Outcome:
        return self._call(self.stub.RefreshToken, auth_pb2.RefreshTokenRequest(refresh=refresh))

    def list_users(self, access: str | None, page_size: int = 0, page_token: str = "") -> Outcome:
        metadata = [("authorization", f"Bearer {access}")] if access is not None else []
        request = auth_pb2.ListUsersRequest(page_size=page_size, page_token=page_token)
        return self._call(self.stub.ListUsers, request, metadata)

    def verify_token(self, token: str) -> Outcome:
        return self._call(self.stub.VerifyToken, auth_pb2.VerifyTokenRequest(token=token))

    def revoke_token(self, refresh: str) -> Outcome:
        return self._call(self.stub.RevokeToken, auth_pb2.RevokeTokenRequest(refresh=refresh))

    def revoke_all_tokens(self, access: str) -> Outcome:
        metadata = [("authorization", f"Bearer {access}")]
        return self._call(self.stub.RevokeAllTokens, auth_pb2.RevokeAllTokensRequest(), metadata)

    def get_jwks(self) -> Outcome:
        return self._call(self.stub.GetJwks, auth_pb2.GetJwksRequest())

    @staticmethod
    def _call(method: Any, request: Any, metadata: list[tuple[str, str]] | None = None) -> Outcome:
        try:
            reply = method(request, metadata=metadata or None, timeout=10)
        except grpc.RpcError as error:
            return _grpc_error_outcome(error)
        data = json_format.MessageToDict(reply, always_print_fields_with_no_presence=True)
        return Outcome(True, data=data, status="OK", raw=reply)

    def close(self) -> None:
        self.channel.close()


def _grpc_error_outcome(error: grpc.RpcError) -> Outcome:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"{error.code()} without google.rpc.Status details"
    reason, fields, retry_after = "", set(), None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            assert info.domain == "authgate"
            reason = info.reason.lower()
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = {violation.field for violation in bad.field_violations}
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.seconds
    return Outcome(
        False,
        reason=reason,
        detail=error.details() or "",
        fields=fields,
        status=error.code().name,
        retry_after=retry_after,
        raw=error,
    )
