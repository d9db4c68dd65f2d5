"""The admin API on both doors: CreateUser, UpdateUser (AIP-134) and DeleteUser (AIP-135),
each needing `users:write`; every write audited, and taking effect on tokens at once."""

from __future__ import annotations

import json
import logging

import pytest

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD
from door_clients import assert_refused, login


@pytest.fixture
async def staff_access(door) -> str:
    return (await login(door, ADMIN_EMAIL, ADMIN_PASSWORD))["access"]


def audited(caplog, event: str) -> list[dict]:
    lines = [json.loads(str(r.msg)) for r in caplog.records if r.name == "authgate.audit"]
    return [line for line in lines if line["event"] == event]


async def test_staff_create_a_user_who_can_then_log_in(door, staff_access, caplog):
    caplog.set_level(logging.INFO)
    email = f"new-{door.name}@example.com"

    created = await door.create_user(staff_access, email, PASSWORD, False)

    assert created.ok, created
    assert created.data["user"]["email"] == email and not created.data["user"]["isStaff"]
    assert (await door.issue_token(email, PASSWORD)).ok
    assert [line["user_id"] for line in audited(caplog, "user_created")] == [
        created.data["user"]["id"]
    ]
    again = await door.create_user(staff_access, email.upper(), PASSWORD, False)
    assert_refused(again, "already_exists")


async def test_a_token_without_users_write_is_refused_every_admin_operation(
    door, make_user, service
):
    member = await make_user()
    access = (await login(door, member.email, PASSWORD))["access"]
    client = await service.make_client("users:read")
    client_access = (await door.issue_client_token(client.client_id, client.secret)).data[
        "access_token"
    ]

    for token in (access, client_access):
        assert_refused(
            await door.create_user(token, "x@example.com", PASSWORD, False), "insufficient_scope"
        )
        assert_refused(
            await door.update_user(token, member.id, ["is_staff"], True, True),
            "insufficient_scope",
        )
        assert_refused(await door.delete_user(token, member.id), "insufficient_scope")


async def test_a_client_holding_users_write_may_administer(door, service):
    client = await service.make_client("users:write")
    access = (await door.issue_client_token(client.client_id, client.secret)).data["access_token"]

    created = await door.create_user(access, f"svc-made-{door.name}@example.com", PASSWORD, True)

    assert created.ok and created.data["user"]["isStaff"]


async def test_deactivating_a_user_refuses_their_tokens_at_once(
    door, staff_access, make_user, caplog
):
    caplog.set_level(logging.INFO)
    member = await make_user()
    pair = await login(door, member.email, PASSWORD)

    updated = await door.update_user(staff_access, member.id, ["is_active"], False, True)

    assert updated.ok and updated.data["user"]["isActive"] is False
    assert updated.data["user"]["isStaff"] is False  # not in the mask: left alone
    assert_refused(await door.list_users(pair["access"]), "token_not_valid")
    assert_refused(await door.refresh_token(pair["refresh"]), "token_not_valid")
    assert audited(caplog, "user_updated")[0]["user_id"] == member.id


async def test_making_a_user_staff_and_back_changes_what_their_token_sees_at_once(
    door, staff_access, make_user
):
    member = await make_user()
    access = (await login(door, member.email, PASSWORD))["access"]
    assert len((await door.list_users(access)).data["users"]) == 1

    await door.update_user(staff_access, member.id, ["is_staff"], True, True)
    # The token was issued without the staff scopes: it holds what it was issued with.
    assert len((await door.list_users(access)).data["users"]) == 1
    promoted = (await login(door, member.email, PASSWORD))["access"]
    assert len((await door.list_users(promoted)).data["users"]) > 1

    await door.update_user(staff_access, member.id, ["is_staff"], True, False)
    assert len((await door.list_users(promoted)).data["users"]) == 1


async def test_deleting_a_user_refuses_their_tokens_and_a_second_delete_is_404(
    door, staff_access, make_user, caplog
):
    caplog.set_level(logging.INFO)
    member = await make_user()
    pair = await login(door, member.email, PASSWORD)

    assert (await door.delete_user(staff_access, member.id)).ok

    assert_refused(await door.list_users(pair["access"]), "token_not_valid")
    assert_refused(await door.refresh_token(pair["refresh"]), "token_not_valid")
    assert_refused(await door.delete_user(staff_access, member.id), "not_found")
    assert audited(caplog, "user_deleted")[0]["user_id"] == member.id


@pytest.mark.parametrize("mask", [[], ["email"], ["is_active", "password"]])
async def test_an_empty_or_unknown_update_mask_is_invalid(door, staff_access, make_user, mask):
    member = await make_user()

    outcome = await door.update_user(staff_access, member.id, mask, False, False)

    assert_refused(outcome, "invalid_request")


@pytest.mark.parametrize("user_id", ["01NOSUCHUSER0000000000000A", "not-an-id", "%00"])
async def test_an_unknown_user_is_404(door, staff_access, user_id):
    assert_refused(
        await door.update_user(staff_access, user_id, ["is_active"], True, False), "not_found"
    )
    assert_refused(await door.delete_user(staff_access, user_id), "not_found")
