"""The two front doors behind one interface, so each scenario is written once.

Every call returns an Outcome: the JSON-mapped result (REST body, or the gRPC reply under the
protobuf JSON mapping), or the error's machine-readable reason, detail and field names. The
clients are asynchronous (httpx.AsyncClient, grpc.aio); `BlockingDoor` drives one from
synchronous code, for the system tests that talk to real `authgate serve` processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import jwt
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from authgate.process.settings import Settings
from authgate.v1 import auth_pb2, auth_pb2_grpc

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD

# The documented mapping (docs/architecture.md, "Errors"): reason -> (HTTP status, gRPC code).
STATUS = {
    "invalid_request": (400, "INVALID_ARGUMENT"),
    "invalid_client": (401, "UNAUTHENTICATED"),
    "invalid_scope": (400, "INVALID_ARGUMENT"),
    "insufficient_scope": (403, "PERMISSION_DENIED"),
    "permission_denied": (403, "PERMISSION_DENIED"),
    "already_exists": (409, "ALREADY_EXISTS"),
    "not_found": (404, "NOT_FOUND"),
    "throttled": (429, "RESOURCE_EXHAUSTED"),
    "no_active_account": (401, "UNAUTHENTICATED"),
    "not_authenticated": (401, "UNAUTHENTICATED"),
    "token_not_valid": (401, "UNAUTHENTICATED"),
}


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
        self.client = httpx.AsyncClient(base_url=base_url, timeout=10)

    async def issue_token(self, email: str, password: str) -> Outcome:
        body = {"email": email, "password": password}
        return self._outcome(await self.client.post("/api/v1/token/", json=body))

    async def refresh_token(self, refresh: str) -> Outcome:
        body = {"refresh": refresh}
        return self._outcome(await self.client.post("/api/v1/token/refresh/", json=body))

    async def list_users(
        self, access: str | None, page_size: int = 0, page_token: str = ""
    ) -> Outcome:
        headers = {"Authorization": f"Bearer {access}"} if access is not None else {}
        params: dict[str, Any] = {}
        if page_size:
            params["pageSize"] = page_size
        if page_token:
            params["pageToken"] = page_token
        response = await self.client.get("/api/v1/users/", headers=headers, params=params)
        return self._outcome(response)

    async def verify_token(self, token: str) -> Outcome:
        body = {"token": token}
        return self._outcome(await self.client.post("/api/v1/token/verify/", json=body))

    async def revoke_token(self, refresh: str) -> Outcome:
        body = {"refresh": refresh}
        return self._outcome(await self.client.post("/api/v1/token/blacklist/", json=body))

    async def revoke_all_tokens(self, access: str) -> Outcome:
        headers = {"Authorization": f"Bearer {access}"}
        response = await self.client.post("/api/v1/token/revoke-all/", headers=headers)
        return self._outcome(response)

    async def get_jwks(self) -> Outcome:
        return self._outcome(await self.client.get("/.well-known/jwks.json"))

    async def issue_client_token(self, client_id: str, secret: str, scope: str = "") -> Outcome:
        body = {"client_id": client_id, "client_secret": secret, "scope": scope}
        return self._outcome(await self.client.post("/api/v1/token/client/", json=body))

    async def create_user(self, access: str, email: str, password: str, staff: bool) -> Outcome:
        body = {"email": email, "password": password, "isStaff": staff}
        headers = {"Authorization": f"Bearer {access}"}
        return self._outcome(await self.client.post("/api/v1/users/", json=body, headers=headers))

    async def update_user(
        self, access: str, user_id: str, mask: list[str], active: bool, staff: bool
    ) -> Outcome:
        camel = {"is_active": "isActive", "is_staff": "isStaff"}
        body = {
            "isActive": active,
            "isStaff": staff,
            "updateMask": ",".join(camel.get(p, p) for p in mask),
        }
        headers = {"Authorization": f"Bearer {access}"}
        response = await self.client.patch(f"/api/v1/users/{user_id}", json=body, headers=headers)
        return self._outcome(response)

    async def delete_user(self, access: str, user_id: str) -> Outcome:
        headers = {"Authorization": f"Bearer {access}"}
        return self._outcome(await self.client.delete(f"/api/v1/users/{user_id}", headers=headers))

    async def introspect_token(self, access: str, token: str) -> Outcome:
        headers = {"Authorization": f"Bearer {access}"}
        response = await self.client.post(
            "/api/v1/token/introspect/", json={"token": token}, headers=headers
        )
        return self._outcome(response)

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

    async def close(self) -> None:
        await self.client.aclose()


class GrpcDoor:
    name = "grpc"

    def __init__(self, target: str) -> None:
        self.channel = grpc.aio.insecure_channel(target)
        self.stub = auth_pb2_grpc.AuthServiceStub(self.channel)

    async def issue_token(self, email: str, password: str) -> Outcome:
        request = auth_pb2.IssueTokenRequest(email=email, password=password)
        return await self._call(self.stub.IssueToken, request)

    async def refresh_token(self, refresh: str) -> Outcome:
        request = auth_pb2.RefreshTokenRequest(refresh=refresh)
        return await self._call(self.stub.RefreshToken, request)

    async def list_users(
        self, access: str | None, page_size: int = 0, page_token: str = ""
    ) -> Outcome:
        metadata = [("authorization", f"Bearer {access}")] if access is not None else []
        request = auth_pb2.ListUsersRequest(page_size=page_size, page_token=page_token)
        return await self._call(self.stub.ListUsers, request, metadata)

    async def verify_token(self, token: str) -> Outcome:
        request = auth_pb2.VerifyTokenRequest(token=token)
        return await self._call(self.stub.VerifyToken, request)

    async def revoke_token(self, refresh: str) -> Outcome:
        request = auth_pb2.RevokeTokenRequest(refresh=refresh)
        return await self._call(self.stub.RevokeToken, request)

    async def revoke_all_tokens(self, access: str) -> Outcome:
        metadata = [("authorization", f"Bearer {access}")]
        request = auth_pb2.RevokeAllTokensRequest()
        return await self._call(self.stub.RevokeAllTokens, request, metadata)

    async def get_jwks(self) -> Outcome:
        return await self._call(self.stub.GetJwks, auth_pb2.GetJwksRequest())

    async def issue_client_token(self, client_id: str, secret: str, scope: str = "") -> Outcome:
        request = auth_pb2.IssueClientTokenRequest(
            client_id=client_id, client_secret=secret, scope=scope
        )
        return await self._call(self.stub.IssueClientToken, request)

    async def create_user(self, access: str, email: str, password: str, staff: bool) -> Outcome:
        metadata = [("authorization", f"Bearer {access}")]
        request = auth_pb2.CreateUserRequest(email=email, password=password, is_staff=staff)
        return await self._call(self.stub.CreateUser, request, metadata)

    async def update_user(
        self, access: str, user_id: str, mask: list[str], active: bool, staff: bool
    ) -> Outcome:
        metadata = [("authorization", f"Bearer {access}")]
        request = auth_pb2.UpdateUserRequest(id=user_id, is_active=active, is_staff=staff)
        request.update_mask.paths.extend(mask)
        return await self._call(self.stub.UpdateUser, request, metadata)

    async def delete_user(self, access: str, user_id: str) -> Outcome:
        metadata = [("authorization", f"Bearer {access}")]
        request = auth_pb2.DeleteUserRequest(id=user_id)
        return await self._call(self.stub.DeleteUser, request, metadata)

    async def introspect_token(self, access: str, token: str) -> Outcome:
        metadata = [("authorization", f"Bearer {access}")]
        request = auth_pb2.IntrospectTokenRequest(token=token)
        return await self._call(self.stub.IntrospectToken, request, metadata)

    @staticmethod
    async def _call(
        method: Any, request: Any, metadata: list[tuple[str, str]] | None = None
    ) -> Outcome:
        try:
            reply = await method(request, metadata=metadata or None, timeout=10)
        except grpc.aio.AioRpcError as error:
            return grpc_error_outcome(error)
        data = json_format.MessageToDict(reply, always_print_fields_with_no_presence=True)
        return Outcome(True, data=data, status="OK", raw=reply)

    async def close(self) -> None:
        await self.channel.close()


def grpc_error_outcome(error: grpc.aio.AioRpcError) -> Outcome:
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


def open_door(kind: str, http_url: str, grpc_target: str) -> RestDoor | GrpcDoor:
    """A door of the given kind onto the server at those addresses."""
    return RestDoor(http_url) if kind == "rest" else GrpcDoor(grpc_target)


class BlockingDoor:
    """A door for synchronous code: each call runs to completion on the door's own loop."""

    def __init__(self, kind: str, http_url: str, grpc_target: str) -> None:
        self._loop = asyncio.new_event_loop()
        # grpc.aio binds a channel to the loop it is made on.
        self._door = self._loop.run_until_complete(_made(kind, http_url, grpc_target))
        self.name = self._door.name

    def __getattr__(self, operation: str) -> Callable[..., Outcome]:
        call: Callable[..., Awaitable[Outcome]] = getattr(self._door, operation)
        return lambda *args, **kwargs: self._loop.run_until_complete(call(*args, **kwargs))

    def close(self) -> None:
        self._loop.run_until_complete(self._door.close())
        self._loop.close()


async def _made(kind: str, http_url: str, grpc_target: str) -> RestDoor | GrpcDoor:
    return open_door(kind, http_url, grpc_target)


def assert_refused(outcome: Outcome, reason: str) -> None:
    assert not outcome.ok, outcome.data
    assert outcome.reason == reason, (outcome.reason, outcome.detail)
    http_status, grpc_code = STATUS[reason]
    assert outcome.status in (http_status, grpc_code)


async def login(door: Any, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> dict:
    outcome = await door.issue_token(email, password)
    assert outcome.ok, (outcome.reason, outcome.detail)
    return outcome.data


def blocking_login(
    door: BlockingDoor, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD
) -> dict:
    outcome = door.issue_token(email, password)
    assert outcome.ok, (outcome.reason, outcome.detail)
    return outcome.data


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# AUTHGATE_CACHE_STALENESS_MS's default, in seconds: a revocation written by one process is
# refused by every serving process within it.
STALENESS_BOUND = Settings().cache_staleness_ms / 1000


def _refused_in_time(started: float, since: float) -> None:
    """A call that started once the bound had passed since `since` answered as before the
    write (accepted a revoked token, listed what changed as it was): fail."""
    assert started - since < STALENESS_BOUND, f"unchanged {started - since:.3f} s after the write"


async def refused_within_bound(call: Callable[[], Awaitable[Outcome]], since: float) -> Outcome:
    """Call until refused; the refusal. Every call that starts once the staleness bound has
    passed since `since` (a write's return) must be refused."""
    return await changed_within_bound(call, lambda outcome: not outcome.ok, since)


async def changed_within_bound(
    call: Callable[[], Awaitable[Outcome]], changed: Callable[[Outcome], bool], since: float
) -> Outcome:
    """Call until an answer shows the write (`changed`); that answer. Every call that starts
    once the staleness bound has passed since `since` (the write's return) must show it."""
    while True:
        started = time.monotonic()
        outcome = await call()
        if changed(outcome):
            return outcome
        _refused_in_time(started, since)
        await asyncio.sleep(0.002)


def blocking_refused_within_bound(call: Callable[[], Outcome], since: float) -> Outcome:
    """refused_within_bound, for a BlockingDoor's calls."""
    while True:
        started = time.monotonic()
        outcome = call()
        if not outcome.ok:
            return outcome
        _refused_in_time(started, since)
        time.sleep(0.002)
