"""The guide's behaviours, each written once and run through the REST and the gRPC door."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from authgate.core.tokens import TokenType

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD
from door_clients import assert_refused, claims, login


async def test_guide_flow_obtain_list_refresh_list(door):
    pair = await login(door)
    assert set(pair) == {"refresh", "access"}
    first = await door.list_users(pair["access"])
    assert first.ok
    assert ADMIN_EMAIL in {user["email"] for user in first.data["users"]}

    refreshed = await door.refresh_token(pair["refresh"])
    assert refreshed.ok
    assert set(refreshed.data) == {"access"}  # rotation off by default: the guide's body
    assert refreshed.data["access"] != pair["access"]
    second = await door.list_users(refreshed.data["access"])
    assert second.ok
    assert second.data == first.data


async def test_issued_tokens_carry_the_documented_claims(door):
    pair = await login(door)
    access, refresh = claims(pair["access"]), claims(pair["refresh"])
    for token_claims in (access, refresh):
        assert {"iss", "sub", "user_id", "token_type", "jti", "iat", "exp"} <= set(token_claims)
        assert token_claims["sub"] == token_claims["user_id"]
    assert access["token_type"] == "access" and refresh["token_type"] == "refresh"
    assert access["exp"] - access["iat"] == 300
    assert refresh["exp"] - refresh["iat"] == 86400
    header = jwt.get_unverified_header(pair["access"])
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt" and header["kid"]


async def test_wrong_password_and_unknown_email_are_indistinguishable(door, make_user, set_active):
    inactive = await make_user()
    await set_active(inactive.email, False)
    outcomes = [
        await door.issue_token(ADMIN_EMAIL, "wrong password"),
        await door.issue_token("nobody@example.com", "wrong password"),
        await door.issue_token(inactive.email, PASSWORD),
    ]
    for outcome in outcomes:
        assert_refused(outcome, "no_active_account")
    assert len({(o.status, o.reason, o.detail) for o in outcomes}) == 1
    if door.name == "rest":
        assert len({o.raw.content for o in outcomes}) == 1
        # Date and the per-request id differ by design; everything else must not.
        headers = [
            {k: v for k, v in o.raw.headers.items() if k not in ("date", "x-request-id")}
            for o in outcomes
        ]
        assert all(h == headers[0] for h in headers)


async def test_email_matches_regardless_of_case_and_white_space(door):
    assert (await door.issue_token(f"  {ADMIN_EMAIL.upper()} ", ADMIN_PASSWORD)).ok


@pytest.mark.parametrize(
    ("email", "password", "fields"),
    [
        ("", "", {"email", "password"}),
        ("", ADMIN_PASSWORD, {"email"}),
        (ADMIN_EMAIL, "", {"password"}),
        ("   ", ADMIN_PASSWORD, {"email"}),
        (ADMIN_EMAIL, "   ", {"password"}),
    ],
)
async def test_missing_or_blank_credentials_are_invalid_and_named(door, email, password, fields):
    outcome = await door.issue_token(email, password)
    assert_refused(outcome, "invalid_request")
    assert outcome.fields == fields


async def test_blank_refresh_is_invalid(door):
    outcome = await door.refresh_token("")
    assert_refused(outcome, "invalid_request")
    assert outcome.fields == {"refresh"}


async def test_list_users_without_credentials_is_not_authenticated(door):
    assert_refused(await door.list_users(None), "not_authenticated")


def _tamper_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["sub"] = data["user_id"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def _tamper_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{header}.{payload}.{flipped}"


def _alg_none(token: str) -> str:
    data = claims(token)
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{header}.{body}."


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda pair, codec: "garbage", id="garbage"),
        pytest.param(lambda pair, codec: _tamper_payload(pair["access"]), id="tampered-payload"),
        pytest.param(
            lambda pair, codec: _tamper_signature(pair["access"]), id="tampered-signature"
        ),
        pytest.param(lambda pair, codec: _alg_none(pair["access"]), id="alg-none"),
        pytest.param(lambda pair, codec: pair["refresh"], id="refresh-as-access"),
        pytest.param(
            lambda pair, codec: codec(clock=lambda: time.time() - 3600).encode(
                claims(pair["access"])["sub"], TokenType.ACCESS
            ),
            id="expired",
        ),
        pytest.param(lambda pair, codec: "x" * 9000, id="oversized"),
    ],
)
async def test_bad_tokens_are_refused_on_list_users(door, server_codec, forge):
    pair = await login(door)
    outcome = await door.list_users(forge(pair, server_codec))
    assert_refused(outcome, "token_not_valid")
    if door.name == "rest":
        assert (
            outcome.raw.headers["www-authenticate"]
            == 'Bearer realm="authgate", error="invalid_token"'
        )


async def test_access_token_is_refused_as_refresh_token(door):
    pair = await login(door)
    assert_refused(await door.refresh_token(pair["access"]), "token_not_valid")


async def test_expired_refresh_token_is_refused(door, server_codec):
    sub = claims((await login(door))["refresh"])["sub"]
    expired = server_codec(clock=lambda: time.time() - 90000).encode(sub, TokenType.REFRESH)
    assert_refused(await door.refresh_token(expired), "token_not_valid")


async def test_deactivated_user_loses_refresh_and_access_at_once(door, make_user, set_active):
    user = await make_user()
    pair = await login(door, user.email, PASSWORD)
    await set_active(user.email, False)
    assert_refused(await door.refresh_token(pair["refresh"]), "token_not_valid")
    assert_refused(await door.list_users(pair["access"]), "token_not_valid")


async def test_non_staff_user_sees_only_themselves(door, make_user):
    user = await make_user()
    await make_user()
    listed = await door.list_users((await login(door, user.email, PASSWORD))["access"])
    assert listed.ok
    assert [u["email"] for u in listed.data["users"]] == [user.email]
    assert listed.data["nextPageToken"] == ""


async def test_listed_users_carry_no_secrets(door, make_user):
    await make_user()
    listed = await door.list_users((await login(door))["access"])
    for user in listed.data["users"]:
        assert set(user) <= {"id", "email", "isActive", "isStaff", "createTime", "lastLoginTime"}
        assert "password" not in json.dumps(user).lower()


async def test_staff_pages_through_every_user_exactly_once(door, make_user):
    for _ in range(5):
        await make_user()
    access = (await login(door))["access"]
    everyone = (await door.list_users(access, page_size=1000)).data["users"]
    seen, token = [], ""
    while True:
        page = await door.list_users(access, page_size=2, page_token=token)
        assert page.ok
        assert len(page.data["users"]) <= 2
        seen += [user["id"] for user in page.data["users"]]
        token = page.data["nextPageToken"]
        if not token:
            break
    assert seen == [user["id"] for user in everyone]
    assert seen == sorted(seen)  # ids are time-ordered: creation order


async def test_negative_page_size_is_invalid(door):
    outcome = await door.list_users((await login(door))["access"], page_size=-1)
    assert_refused(outcome, "invalid_request")
    assert outcome.fields == ({"pageSize"} if door.name == "rest" else {"page_size"})


MALFORMED_PAGE_TOKENS = {
    "not base64url": "!!!",
    "not JSON": "bm90LWpzb24",
    "after is a number": "eyJhZnRlciI6IDV9",
    # Well-formed JSON whose id no driver can bind: a lone surrogate, and a NUL.
    "after is a lone surrogate": "eyJhZnRlciI6Ilx1ZDgwMCJ9",
    "after holds a NUL": "eyJhZnRlciI6ImFcdTAwMDAifQ",
}


@pytest.mark.parametrize("page_token", MALFORMED_PAGE_TOKENS.values(), ids=MALFORMED_PAGE_TOKENS)
async def test_malformed_page_token_is_invalid(door, page_token):
    outcome = await door.list_users((await login(door))["access"], page_token=page_token)
    assert_refused(outcome, "invalid_request")
    assert outcome.fields == {"page_token"}
