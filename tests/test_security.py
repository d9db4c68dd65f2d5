"""Token lifecycle through both doors: verify, revoke, logout everywhere, rotation, throttling, keys."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, open_door, own_database, running_server
from servers import logged_fields, wait_for_lines
from test_doors import assert_refused, login


def test_verify_accepts_valid_access_and_refresh_tokens(door):
    pair = login(door)
    for token in (pair["access"], pair["refresh"]):
        outcome = door.verify_token(token)
        assert outcome.ok and outcome.data == {}


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 9000])
def test_verify_refuses_bad_tokens(door, token):
    assert_refused(door.verify_token(token), "token_not_valid")


def test_revoked_refresh_token_stops_working_at_once(door):
    pair = login(door)
    assert door.revoke_token(pair["refresh"]).ok
    assert_refused(door.refresh_token(pair["refresh"]), "token_not_valid")
    assert_refused(door.verify_token(pair["refresh"]), "token_not_valid")
    assert door.revoke_token(pair["refresh"]).ok  # revoking twice succeeds
    assert door.list_users(pair["access"]).ok  # the access token lives until it expires


def test_revoking_an_invalid_token_is_refused(door):
    assert_refused(door.revoke_token("garbage"), "token_not_valid")


def test_logout_everywhere_refuses_every_earlier_token(door, make_user):
    user = make_user()
    first, second = login(door, user.email, PASSWORD), login(door, user.email, PASSWORD)
    assert door.revoke_all_tokens(first["access"]).ok
    for pair in (first, second):
        assert_refused(door.list_users(pair["access"]), "token_not_valid")
        assert_refused(door.refresh_token(pair["refresh"]), "token_not_valid")
        assert_refused(door.verify_token(pair["access"]), "token_not_valid")
    assert door.list_users(login(door, user.email, PASSWORD)["access"]).ok


def test_logout_everywhere_needs_credentials(door):
    assert_refused(door.revoke_all_tokens("garbage"), "token_not_valid")


def test_jwks_publishes_the_key_that_signed_our_tokens(door):
    pair = login(door)
    outcome = door.get_jwks()
    assert outcome.ok
    kid = jwt.get_unverified_header(pair["access"])["kid"]
    [jwk] = [key for key in outcome.data["keys"] if key["kid"] == kid]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["use"] == "sig"
    assert "d" not in jwk
    public_key = jwt.PyJWK.from_dict(jwk).key
    claims = jwt.decode(pair["access"], public_key, algorithms=[jwk["alg"]], issuer="authgate")
    assert claims["token_type"] == "access"


def test_jwks_is_cacheable(rest_door):
    response = rest_door.get_jwks().raw
    assert response.headers["cache-control"] == "public, max-age=300"


def test_password_change_revokes_the_users_tokens(door, make_user, server):
    user = make_user()
    pair = login(door, user.email, PASSWORD)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "authgate",
            "users",
            "set-password",
            "--email",
            user.email,
            "--password-stdin",
        ],
        input="a brand new password\n",
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert_refused(door.list_users(pair["access"]), "token_not_valid")
    assert_refused(door.refresh_token(pair["refresh"]), "token_not_valid")
    assert door.issue_token(user.email, "a brand new password").ok


def test_key_rotation_keeps_earlier_tokens_working(door, server):
    before = login(door)
    old_kid = jwt.get_unverified_header(before["access"])["kid"]
    rotated = subprocess.run(
        [sys.executable, "-m", "authgate", "keys", "rotate"],
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "active signing key" in rotated.stdout
    deadline = time.monotonic() + 5
    while True:  # the server re-reads the key file within a second
        after = login(door)
        new_kid = jwt.get_unverified_header(after["access"])["kid"]
        if new_kid != old_kid or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert new_kid != old_kid
    assert door.list_users(before["access"]).ok and door.list_users(after["access"]).ok
    assert door.refresh_token(before["refresh"]).ok
    assert {old_kid, new_kid} <= {key["kid"] for key in door.get_jwks().data["keys"]}


def test_audit_log_records_logins_without_secrets(door, server):
    failed_before = server.log.count('"event":"login_failed"')
    pair = login(door)
    door.issue_token(ADMIN_EMAIL, "wrong password for audit")
    wait_for_lines(server, '"event":"login_failed"', failed_before + 1)
    logged = (logged_fields(line, "authgate.audit") for line in server.lines)
    events = [event for event in logged if event is not None]
    assert {"login_succeeded", "login_failed"} <= {event["event"] for event in events}
    assert all({"event", "user_id", "client", "reason"} <= set(event) for event in events)
    assert not [line for line in server.lines if pair["access"] in line or pair["refresh"] in line]
    assert not [line for line in server.lines if "wrong password for audit" in line]


# Servers with other settings, started by this module.


@pytest.fixture(scope="module")
def rotating_server(tmp_path_factory, database_url):
    # On both stores: single use under concurrency is the store's conditional update.
    with (
        own_database(database_url) as url,
        running_server(
            tmp_path_factory.mktemp("rotating"),
            database_url=url,
            rotate_refresh_tokens="true",
            login_limit_per_address="100000/minute",
        ) as process,
    ):
        yield process


@pytest.fixture(params=["rest", "grpc"])
def rotating_door(request, rotating_server):
    door = open_door(request.param, rotating_server)
    yield door
    door.close()


def test_rotation_returns_a_new_refresh_token_and_spends_the_old(rotating_door):
    pair = login(rotating_door)
    refreshed = rotating_door.refresh_token(pair["refresh"])
    assert refreshed.ok and set(refreshed.data) == {"access", "refresh"}
    assert rotating_door.refresh_token(refreshed.data["refresh"]).ok


def test_reusing_a_spent_refresh_token_revokes_its_family(rotating_door):
    pair = login(rotating_door)
    successor = rotating_door.refresh_token(pair["refresh"]).data["refresh"]
    assert_refused(rotating_door.refresh_token(pair["refresh"]), "token_not_valid")
    assert_refused(rotating_door.refresh_token(successor), "token_not_valid")
    assert rotating_door.refresh_token(login(rotating_door)["refresh"]).ok  # other logins live


def test_concurrent_refreshes_of_one_token_let_exactly_one_through(rotating_door):
    refresh = login(rotating_door)["refresh"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(lambda _: rotating_door.refresh_token(refresh), range(100)))
    winners = [outcome for outcome in outcomes if outcome.ok]
    assert len(winners) == 1, [o.reason for o in outcomes if not o.ok][:3]
    assert all(o.reason == "token_not_valid" for o in outcomes if not o.ok)
    assert_refused(rotating_door.refresh_token(winners[0].data["refresh"]), "token_not_valid")


@pytest.fixture(scope="module")
def grace_server(tmp_path_factory):
    with running_server(
        tmp_path_factory.mktemp("grace"), rotate_refresh_tokens="true", rotation_grace_seconds="30"
    ) as process:
        yield process


def test_a_retry_within_the_grace_window_is_not_reuse(grace_server):
    door = open_door("rest", grace_server)
    try:
        refresh = login(door)["refresh"]
        assert door.refresh_token(refresh).ok
        retried = door.refresh_token(refresh)
        assert retried.ok
        assert door.refresh_token(retried.data["refresh"]).ok
    finally:
        door.close()


@pytest.fixture(scope="module")
def throttling_server(tmp_path_factory):
    with running_server(
        tmp_path_factory.mktemp("throttling"), login_limit_per_address="45/minute"
    ) as process:
        yield process


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_eleventh_wrong_password_in_a_minute_is_throttled(throttling_server, kind):
    door = open_door(kind, throttling_server)
    email = f"victim-{kind}@example.com"  # unknown and real emails are throttled alike
    try:
        for _ in range(10):
            assert_refused(door.issue_token(email, "wrong"), "no_active_account")
        throttled = door.issue_token(email, "wrong")
        assert throttled.reason == "throttled"
        assert throttled.status in (429, "RESOURCE_EXHAUSTED")
        assert throttled.retry_after is not None and 0 < throttled.retry_after <= 60
    finally:
        door.close()


def test_throttled_unknown_and_real_accounts_answer_alike(throttling_server):
    door = open_door("rest", throttling_server)
    try:
        answers = []
        for email in ("nobody-at-all@example.com", ADMIN_EMAIL):
            for _ in range(10):
                door.issue_token(email, "wrong")
            answers.append(door.issue_token(email, "wrong").raw)
        assert {r.status_code for r in answers} == {429}
        assert len({r.content for r in answers}) == 1
        assert len({tuple(sorted(k for k in r.headers if k != "date")) for r in answers}) == 1
        # The right password does not get through a throttled account either.
        assert door.issue_token(ADMIN_EMAIL, ADMIN_PASSWORD).reason == "throttled"
    finally:
        door.close()


def test_too_many_failures_from_one_address_are_throttled(throttling_server):
    door = open_door("rest", throttling_server)
    try:
        outcomes = [door.issue_token(f"spray{n}@example.com", "wrong") for n in range(50)]
        assert outcomes[-1].reason == "throttled"
    finally:
        door.close()
