"""Token lifecycle on both doors: verify, revoke, logout everywhere, rotation, throttling, keys.

Servers with other settings (rotation, a grace window, tight throttling) are this module's
own, served in-process like the tier's `service`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import jwt
import pytest
import pytest_asyncio

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD
from databases import own_database
from door_clients import assert_refused, login
from in_process import Service, serving


async def test_verify_accepts_valid_access_and_refresh_tokens(door):
    pair = await login(door)
    for token in (pair["access"], pair["refresh"]):
        outcome = await door.verify_token(token)
        assert outcome.ok and outcome.data == {}


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 9000])
async def test_verify_refuses_bad_tokens(door, token):
    assert_refused(await door.verify_token(token), "token_not_valid")


async def test_revoked_refresh_token_stops_working_at_once(door):
    pair = await login(door)
    assert (await door.revoke_token(pair["refresh"])).ok
    assert_refused(await door.refresh_token(pair["refresh"]), "token_not_valid")
    assert_refused(await door.verify_token(pair["refresh"]), "token_not_valid")
    assert (await door.revoke_token(pair["refresh"])).ok  # revoking twice succeeds
    assert (await door.list_users(pair["access"])).ok  # the access token lives until it expires


async def test_revoking_an_invalid_token_is_refused(door):
    assert_refused(await door.revoke_token("garbage"), "token_not_valid")


async def test_logout_everywhere_refuses_every_earlier_token(door, make_user):
    user = await make_user()
    first = await login(door, user.email, PASSWORD)
    second = await login(door, user.email, PASSWORD)
    assert (await door.revoke_all_tokens(first["access"])).ok
    for pair in (first, second):
        assert_refused(await door.list_users(pair["access"]), "token_not_valid")
        assert_refused(await door.refresh_token(pair["refresh"]), "token_not_valid")
        assert_refused(await door.verify_token(pair["access"]), "token_not_valid")
    assert (await door.list_users((await login(door, user.email, PASSWORD))["access"])).ok


async def test_logout_everywhere_needs_credentials(door):
    assert_refused(await door.revoke_all_tokens("garbage"), "token_not_valid")


async def test_jwks_publishes_the_key_that_signed_our_tokens(door):
    pair = await login(door)
    outcome = await door.get_jwks()
    assert outcome.ok
    kid = jwt.get_unverified_header(pair["access"])["kid"]
    [jwk] = [key for key in outcome.data["keys"] if key["kid"] == kid]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["use"] == "sig"
    assert "d" not in jwk
    public_key = jwt.PyJWK.from_dict(jwk).key
    claims = jwt.decode(pair["access"], public_key, algorithms=[jwk["alg"]], issuer="authgate")
    assert claims["token_type"] == "access"


async def test_jwks_is_cacheable(rest_door):
    response = (await rest_door.get_jwks()).raw
    assert response.headers["cache-control"] == "public, max-age=300"


async def test_password_change_revokes_the_users_tokens(door, make_user, service):
    # The operator's action (`authgate users set-password` calls it; no door serves it). The
    # command itself, on a running server's store: tests/system/test_security_process.py.
    user = await make_user()
    pair = await login(door, user.email, PASSWORD)
    await service.runtime.admin.set_password(user.email, "a brand new password")
    assert_refused(await door.list_users(pair["access"]), "token_not_valid")
    assert_refused(await door.refresh_token(pair["refresh"]), "token_not_valid")
    assert (await door.issue_token(user.email, "a brand new password")).ok


async def test_audit_log_records_logins_without_secrets(door, caplog):
    # Every logger at INFO, as `authgate serve` logs: no line may carry a secret.
    caplog.set_level(logging.INFO)
    pair = await login(door)
    await door.issue_token(ADMIN_EMAIL, "wrong password for audit")
    # The core audits before it answers: both records are in once both answers are.
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "authgate.audit"]
    assert {"login_succeeded", "login_failed"} <= {event["event"] for event in events}
    assert all({"event", "user_id", "client", "reason"} <= set(event) for event in events)
    logged = [record.getMessage() for record in caplog.records] + [caplog.text]
    assert not [line for line in logged if pair["access"] in line or pair["refresh"] in line]
    assert not [line for line in logged if "wrong password for audit" in line]


# Services with other settings, started by this module.


@pytest_asyncio.fixture(scope="module")
async def rotating(tmp_path_factory, database_url) -> AsyncIterator[Service]:
    # On both stores: single use under concurrency is the store's conditional update.
    with own_database(database_url) as url:
        async with serving(
            tmp_path_factory.mktemp("rotating"),
            url,
            rotate_refresh_tokens=True,
            login_limit_per_address="100000/minute",
        ) as running:
            yield running


@pytest_asyncio.fixture(params=["rest", "grpc"])
async def rotating_door(request, rotating, doors_onto):
    # Async, so that a grpc.aio channel is made on the running loop.
    return doors_onto(request.param, rotating)


async def test_rotation_returns_a_new_refresh_token_and_spends_the_old(rotating_door):
    pair = await login(rotating_door)
    refreshed = await rotating_door.refresh_token(pair["refresh"])
    assert refreshed.ok and set(refreshed.data) == {"access", "refresh"}
    assert (await rotating_door.refresh_token(refreshed.data["refresh"])).ok


async def test_reusing_a_spent_refresh_token_revokes_its_family(rotating_door):
    pair = await login(rotating_door)
    successor = (await rotating_door.refresh_token(pair["refresh"])).data["refresh"]
    assert_refused(await rotating_door.refresh_token(pair["refresh"]), "token_not_valid")
    assert_refused(await rotating_door.refresh_token(successor), "token_not_valid")
    other_login = await login(rotating_door)
    assert (await rotating_door.refresh_token(other_login["refresh"])).ok  # other logins live


async def test_concurrent_refreshes_of_one_token_let_exactly_one_through(rotating_door):
    refresh = (await login(rotating_door))["refresh"]
    # All 100 in flight at once: the server handles them concurrently (its store calls run
    # in connection threads), so only the store's conditional update can pick one winner.
    outcomes = await asyncio.gather(*(rotating_door.refresh_token(refresh) for _ in range(100)))
    winners = [outcome for outcome in outcomes if outcome.ok]
    assert len(winners) == 1, [o.reason for o in outcomes if not o.ok][:3]
    assert all(o.reason == "token_not_valid" for o in outcomes if not o.ok)
    assert_refused(await rotating_door.refresh_token(winners[0].data["refresh"]), "token_not_valid")


@pytest_asyncio.fixture(scope="module")
async def grace(tmp_path_factory) -> AsyncIterator[Service]:
    async with serving(
        tmp_path_factory.mktemp("grace"), rotate_refresh_tokens=True, rotation_grace_seconds=30
    ) as running:
        yield running


async def test_a_retry_within_the_grace_window_is_not_reuse(grace, doors_onto):
    door = doors_onto("rest", grace)
    refresh = (await login(door))["refresh"]
    assert (await door.refresh_token(refresh)).ok
    retried = await door.refresh_token(refresh)
    assert retried.ok
    assert (await door.refresh_token(retried.data["refresh"])).ok


@pytest_asyncio.fixture(scope="module")
async def throttling(tmp_path_factory) -> AsyncIterator[Service]:
    # Room for the per-account tests' 40 recorded failures from 127.0.0.1, then the spray's.
    async with serving(
        tmp_path_factory.mktemp("throttling"), login_limit_per_address="45/minute"
    ) as running:
        yield running


@pytest.mark.parametrize("kind", ["rest", "grpc"])
async def test_eleventh_wrong_password_in_a_minute_is_throttled(throttling, doors_onto, kind):
    door = doors_onto(kind, throttling)
    email = f"victim-{kind}@example.com"  # unknown and real emails are throttled alike
    for _ in range(10):
        assert_refused(await door.issue_token(email, "wrong"), "no_active_account")
    throttled = await door.issue_token(email, "wrong")
    assert throttled.reason == "throttled"
    assert throttled.status in (429, "RESOURCE_EXHAUSTED")
    assert throttled.retry_after is not None and 0 < throttled.retry_after <= 60


async def test_throttled_unknown_and_real_accounts_answer_alike(throttling, doors_onto):
    door = doors_onto("rest", throttling)
    answers = []
    for email in ("nobody-at-all@example.com", ADMIN_EMAIL):
        for _ in range(10):
            await door.issue_token(email, "wrong")
        answers.append((await door.issue_token(email, "wrong")).raw)
    assert {r.status_code for r in answers} == {429}
    assert len({r.content for r in answers}) == 1
    assert len({tuple(sorted(k for k in r.headers if k != "date")) for r in answers}) == 1
    # The right password does not get through a throttled account either.
    assert (await door.issue_token(ADMIN_EMAIL, ADMIN_PASSWORD)).reason == "throttled"


async def test_too_many_failures_from_one_address_are_throttled(throttling, doors_onto):
    door = doors_onto("rest", throttling)
    outcomes = [await door.issue_token(f"spray{n}@example.com", "wrong") for n in range(50)]
    assert outcomes[-1].reason == "throttled"
