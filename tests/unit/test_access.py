"""Scopes: declared per RPC in the proto, carried by tokens, decided by the core."""

from __future__ import annotations

import json
from types import SimpleNamespace

import jwt
import pytest
from google.rpc import error_details_pb2, status_pb2

from authgate import declared_access
from authgate.core.access import STAFF_SCOPES, Caller, Requirement, check
from authgate.core.admin import Administration
from authgate.core.errors import AuthError, Reason
from authgate.core.operations import AuthCore
from authgate.core.tokens import TokenType
from authgate.grpc.status import to_status
from authgate.rest.problems import auth_error_problem
from authgate.store.session import Session
from authgate.v1 import auth_pb2

from unit_fixtures import as_caller

PASSWORD = "correct horse battery"
LIST_USERS = Requirement(scopes=frozenset({"users:read"}), self_without_scopes=True)


def scope_claim(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["scope"]


def test_every_rpc_declares_its_access_in_the_proto():
    declared = declared_access.requirements()

    assert sorted(declared) == sorted(
        m.name for m in auth_pb2.DESCRIPTOR.services_by_name["AuthService"].methods
    )
    assert declared["ListUsers"] == LIST_USERS
    assert declared["RevokeAllTokens"] == Requirement()
    assert all(declared[rpc].public for rpc in ("IssueToken", "RefreshToken", "GetJwks"))


def test_a_requirement_naming_an_unknown_scope_is_refused():
    with pytest.raises(ValueError, match="unknown scopes"):
        Requirement(scopes=frozenset({"users:delete-everything"}))


async def test_a_staff_token_carries_the_staff_scopes_and_another_none(
    core: AuthCore, admin: Administration
):
    await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
    await admin.create_user("ada@example.com", PASSWORD)

    staff = await core.issue_token_pair("boss@example.com", PASSWORD)
    member = await core.issue_token_pair("ada@example.com", PASSWORD)
    refreshed = await core.refresh_access_token(staff.refresh)

    assert scope_claim(staff.access) == scope_claim(refreshed.access) == "users:read users:write"
    assert scope_claim(member.access) == ""
    assert (await core.authenticate(staff.access)).scopes == STAFF_SCOPES
    assert (await core.authenticate(member.access)).scopes == frozenset()


async def test_taking_staff_away_takes_the_scopes_from_tokens_already_issued(
    core: AuthCore, admin: Administration
):
    boss = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
    pair = await core.issue_token_pair("boss@example.com", PASSWORD)

    def demote(session: Session) -> None:
        session.run("UPDATE users SET is_staff = :no WHERE id = :id", {"no": False, "id": boss.id})

    await core.store.database.write(demote)
    caller = await core.authenticate(pair.access)

    assert caller.scopes == frozenset()
    page = await core.list_visible_users(caller, 0, "")
    assert [user.id for user in page.users] == [boss.id]


async def test_a_token_issued_before_scopes_holds_its_holders_current_ones(
    core: AuthCore, admin: Administration
):
    boss = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
    unscoped = core.tokens.encode(boss.id, TokenType.ACCESS, version=boss.token_version)

    assert (await core.authenticate(unscoped)).scopes == STAFF_SCOPES


async def test_authorize_refuses_a_missing_token_and_passes_a_users_own_token(
    core: AuthCore, admin: Administration
):
    await admin.create_user("ada@example.com", PASSWORD)
    pair = await core.issue_token_pair("ada@example.com", PASSWORD)

    with pytest.raises(AuthError) as refused:
        await core.authorize(None, LIST_USERS)
    caller = await core.authorize(pair.access, LIST_USERS)

    assert refused.value.reason is Reason.NOT_AUTHENTICATED
    assert caller.scopes == frozenset() and caller.user is not None


def test_a_client_without_the_scope_is_refused_naming_it():
    client = Caller("svc-1", frozenset({"revocations:watch"}))

    with pytest.raises(AuthError) as refused:
        check(client, LIST_USERS)

    assert refused.value.reason is Reason.INSUFFICIENT_SCOPE
    assert refused.value.required_scope == "users:read"
    check(Caller("svc-2", frozenset({"users:read"})), LIST_USERS)


async def test_a_user_without_the_scope_passes_only_where_the_rpc_allows_their_own(
    core: AuthCore, admin: Administration
):
    member = as_caller(await admin.create_user("ada@example.com", PASSWORD))
    strict = Requirement(scopes=frozenset({"users:write"}))

    check(member, LIST_USERS)
    with pytest.raises(AuthError) as refused:
        check(member, strict)

    assert refused.value.required_scope == "users:write"


def insufficient() -> AuthError:
    with pytest.raises(AuthError) as refused:
        check(Caller("svc-1", frozenset()), LIST_USERS)
    return refused.value


def test_rest_answers_insufficient_scope_with_rfc_6750s_challenge():
    on_list_users = SimpleNamespace(scope={"path": "/api/v1/users/"})
    response = auth_error_problem(on_list_users, insufficient())  # type: ignore[arg-type]

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="authgate", error="insufficient_scope", scope="users:read"'
    )
    assert json.loads(response.body)["code"] == "insufficient_scope"


def test_grpc_answers_permission_denied_with_the_scope_in_error_info():
    status = to_status(insufficient())
    details = dict(status.trailing_metadata)["grpc-status-details-bin"]
    info = error_details_pb2.ErrorInfo()
    status_pb2.Status.FromString(details).details[0].Unpack(info)

    assert status.code.name == "PERMISSION_DENIED"
    assert (info.reason, info.domain) == ("INSUFFICIENT_SCOPE", "authgate")
    assert dict(info.metadata) == {"scope": "users:read"}
