"""The REST door's handlers, named by `operationId` in openapi/authgate.yaml.

Each parses the validated body, calls the core (from the app's lifespan state) and renders the
result with the protobuf JSON mapping of its authgate.v1 message (messages.py). Errors are
AuthErrors, rendered once by rest_problems.
"""

from __future__ import annotations

from typing import Any

from connexion import request
from connexion.jsonifier import Jsonifier
from starlette.responses import Response, StreamingResponse

from authgate import messages
from authgate.core.access import Caller
from authgate.core.operations import AuthCore
from authgate.core.users import UserPage
from authgate.rest import feed
from authgate.rest.query import one_spelling

JSON = {"Content-Type": "application/json"}
# The app's own serializer (AsyncApp's default): a body serialized here is byte for byte what
# Connexion would have made of the same dict.
_JSONIFIER = Jsonifier()
Reply = tuple[dict[str, Any], int, dict[str, str]]


def _core() -> AuthCore:
    core: AuthCore = request.state.core
    return core


async def token_info(token: str, request: Any) -> dict[str, Any]:
    """x-tokenInfoFunc: the core authorizes the token against what the proto declares for
    this operation (the gRPC interceptor's check); the caller rides along to the handler."""
    operation = request.scope["extensions"]["connexion_routing"]["operation_id"]
    core: AuthCore = request.state.core
    caller = await core.authorize(token, request.state.access[operation])
    return {"sub": caller.subject, "scope": sorted(caller.scopes), "caller": caller}


def scopes_checked(required_scopes: list[str], token_scopes: list[str]) -> bool:
    """x-scopeValidateFunc: token_info has had the core check the scopes already, as the proto
    declares them; Connexion's own check would refuse ListUsers to a user's own token and
    answer without RFC 6750's `insufficient_scope` header."""
    return True


def client_address() -> str:
    """The caller's IP address, for throttling and the audit trail."""
    return request.client.host if request.client else ""


async def issue_token(body: dict[str, Any]) -> Reply:
    pair = await _core().issue_token_pair(body["email"], body["password"], client_address())
    return messages.to_json(messages.issue_token_response(pair)), 200, JSON


async def refresh_token(body: dict[str, Any]) -> Reply:
    tokens = await _core().refresh_access_token(body["refresh"], client_address())
    return messages.to_json(messages.refresh_token_response(tokens)), 200, JSON


async def verify_token(body: dict[str, Any]) -> Reply:
    await _core().verify_token(body["token"])
    return {}, 200, JSON


async def revoke_token(body: dict[str, Any]) -> Reply:
    await _core().revoke_token(body["refresh"], client_address())
    return {}, 200, JSON


async def revoke_all_tokens(token_info: dict[str, Any]) -> Reply:
    await _core().revoke_all_tokens(token_info["caller"], client_address())
    return {}, 200, JSON


async def issue_client_token(body: dict[str, Any]) -> Reply:
    token = await _core().issue_client_token(
        body["client_id"], body["client_secret"], body.get("scope") or None, client_address()
    )
    # RFC 6749 §5.1: a token response is never cached.
    headers = {**JSON, "Cache-Control": "no-store", "Pragma": "no-cache"}
    return messages.to_json(messages.client_token_response(token)), 200, headers


async def introspect_token(body: dict[str, Any], token_info: dict[str, Any]) -> Reply:
    # token_info: the calling client, authorized as the proto declares (clients_only).
    found = await _core().introspect(body["token"])
    headers = {**JSON, "Cache-Control": "no-store"}
    return messages.to_json(messages.introspection_response(found)), 200, headers


async def get_jwks() -> Reply:
    core = _core()
    body = messages.to_json(messages.jwks_response(await core.public_keys()))
    # Verifiers may cache the set for at most half the publish-ahead: a staged key is listed
    # that long before it signs. Old keys stay listed until every token they signed expired.
    return body, 200, {**JSON, "Cache-Control": f"public, max-age={core.jwks_max_age}"}


async def list_users(
    token_info: dict[str, Any],
    pageSize: int | None = None,
    pageToken: str | None = None,
    page_size: int | None = None,
    page_token: str | None = None,
) -> Response:
    # grpc-gateway and Envoy's transcoder accept a query field under its JSON name and
    # under its proto name; so do we. Other query parameters are ignored, as they do.
    size = one_spelling(("pageSize", pageSize), ("page_size", page_size), default=0)
    token = one_spelling(("pageToken", pageToken), ("page_token", page_token), default="")
    page = await _core().list_visible_users(token_info["caller"], size, token)
    return _users_response(page)


def _users_response(page: UserPage) -> Response:
    """What Connexion would answer for `list_users_json(page)`, serialized once per page (a
    page of 50: about 110 µs to build the body and 37 µs to encode it): a cached page is
    shared by every request for it."""
    body: bytes | None = page.renderings.get("rest")
    if body is None:
        body = page.renderings["rest"] = _JSONIFIER.dumps(messages.list_users_json(page)).encode()
    return Response(body, 200, headers=JSON, media_type=JSON["Content-Type"])


async def create_user(body: dict[str, Any], token_info: dict[str, Any]) -> Reply:
    user = await _core().create_user(
        token_info["caller"],
        body["email"],
        body["password"],
        body.get("isStaff", False),
        client_address(),
    )
    return {"user": messages.user_json(user)}, 200, JSON


async def update_user(id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Reply:
    user = await _core().update_user(
        token_info["caller"],
        id,
        messages.mask_paths(body["updateMask"]),
        is_active=body.get("isActive", False),
        is_staff=body.get("isStaff", False),
        client=client_address(),
    )
    return {"user": messages.user_json(user)}, 200, JSON


async def delete_user(id: str, token_info: dict[str, Any]) -> Reply:
    await _core().delete_user(token_info["caller"], id, client_address())
    return {}, 200, JSON


async def healthz() -> Reply:
    return {"status": "ok"}, 200, JSON


async def readyz() -> Reply:
    await _core().store.ping()  # AuthError(UNAVAILABLE) -> 503
    return {"status": "ok"}, 200, JSON


async def watch_revocations(
    token_info: dict[str, Any], afterSeq: str | None = None, after_seq: str | None = None
) -> StreamingResponse:
    cursor = feed.seq(one_spelling(("afterSeq", afterSeq), ("after_seq", after_seq), default="0"))
    core = _core()
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    requirement = request.state.access["authgate.rest.handlers.watch_revocations"]

    async def still_authorized() -> Caller:
        return await core.authorize(token, requirement)

    return await feed.stream_of(core.watch_revocations(cursor, still_authorized))
