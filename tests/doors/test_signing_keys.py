"""Signing keys shared by replicas through the store: one `kid` with no file copied, staged
rotation that no caching verifier notices, and retirement, through both doors on both stores.

Two replicas: two services with data directories of their own on one database (on SQLite, one
file both name), each tailing the change log. The operator's commands run as the real CLI.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
import pytest_asyncio
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet as JoseKeySet

from accounts import KEY_ENCRYPTION_KEY
from databases import own_database
from door_clients import login, open_door, refused_within_bound
from in_process import Service, serving
from legacy_keys import legacy_keys, legacy_token, write_key_file

# Short enough to wait out in a test, long enough that tokens are issued inside it even when
# the CLI takes seconds to start on a loaded machine.
AHEAD = 8


@pytest_asyncio.fixture
async def replicas(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Service, Service]]:
    with own_database(database_url) as url:
        shared = url or f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        options = {
            "key_publish_ahead": AHEAD,
            "key_encryption_key": KEY_ENCRYPTION_KEY,
            "login_limit_per_address": "100000/minute",
        }
        async with (
            serving(tmp_path / "a", shared, **options) as a,
            serving(tmp_path / "b", shared, **options) as b,
        ):
            yield a, b


async def authgate(running: Service, *words: str) -> str:
    """`authgate WORDS...` as the operator runs it on `running`'s machine; its output."""
    settings = running.settings
    env = {
        **os.environ,
        "AUTHGATE_DATA_DIR": str(settings.data_dir),
        "AUTHGATE_DATABASE_URL": settings.resolved_database_url,
        "AUTHGATE_KEY_ENCRYPTION_KEY": settings.key_encryption_key,
        "AUTHGATE_KEY_PUBLISH_AHEAD": str(settings.key_publish_ahead),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authgate", *words, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def jwks_kids(running: Service, kind: str) -> set[str]:
    door = open_door(kind, running.http_url, running.grpc_target)
    try:
        outcome = await door.get_jwks()
    finally:
        await door.close()
    assert outcome.ok
    return {key["kid"] for key in outcome.data["keys"]}


async def new_key_of(running: Service, output: str) -> tuple[str, float]:
    """The kid a `keys rotate` printed, and when it starts to sign (from the store)."""
    kid = output.split("new signing key ")[1].split()[0]
    [record] = [r for r, _ in await running.runtime.keys.listing() if r.kid == kid]
    return kid, record.activates_at


async def test_replicas_sign_with_one_kid_and_no_file_is_copied(replicas, doors_onto):
    doors = [doors_onto(kind, r) for r in replicas for kind in ("rest", "grpc")]
    kids = {kid_of((await login(door))["access"]) for door in doors}
    assert len(kids) == 1
    for running in replicas:
        assert not list(running.settings.data_dir.glob("keys.json*"))


@pytest.mark.parametrize("rotating", [0, 1])
async def test_a_rotation_on_either_replica_is_in_both_jwks_within_a_second_and_signs_later(
    replicas, doors_onto, rotating
):
    a = replicas[0]
    doors = [doors_onto(kind, r) for r in replicas for kind in ("rest", "grpc")]
    before = await login(doors[0])
    old = kid_of(before["access"])

    output = await authgate(replicas[rotating], "keys", "rotate")
    returned = time.monotonic()
    new, activates_at = await new_key_of(a, output)
    while not all([new in await jwks_kids(r, k) for r in replicas for k in ("rest", "grpc")]):
        assert time.monotonic() - returned < 1.0, "the new key is not in every JWKS yet"
        await asyncio.sleep(0.01)

    # Until the publish-ahead has passed, every door still signs with the old key...
    checked = 0
    while time.time() < activates_at - 0.5:
        for door in doors:
            refreshed = await door.refresh_token(before["refresh"])
            if time.time() < activates_at:
                assert kid_of(refreshed.data["access"]) == old
                checked += 1
        await asyncio.sleep(0.1)
    assert checked >= len(doors)
    # ...and once it has, with the new one; the old key's tokens still verify everywhere.
    await asyncio.sleep(max(0.0, activates_at - time.time()))
    for door in doors:
        assert kid_of((await door.refresh_token(before["refresh"])).data["access"]) == new
        assert (await door.list_users(before["access"])).ok


# joserfc warns that RFC 9864 deprecates "EdDSA" for the fully specified "Ed25519"; what
# AuthGate signs with is what verifiers in the field accept today.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")
async def test_a_verifier_that_cached_the_jwks_verifies_every_token_of_the_publish_ahead(
    replicas, doors_onto
):
    """PyJWT and joserfc, each fed one JWKS document and never refetching: the one fetched
    before the rotation verifies every token issued during the publish-ahead, and the one
    fetched during it every token issued after."""
    a, _ = replicas
    door = doors_onto("rest", a)
    pair = await login(door)
    cached_before = (await door.get_jwks()).data
    new_key = await a.runtime.keys.rotate()  # what `keys rotate` does, without its start-up
    new, activates_at = new_key.kid, new_key.activates_at
    cached_during = (await door.get_jwks()).data
    issued = 0
    while time.time() < activates_at - 0.3:
        access = (await door.refresh_token(pair["refresh"])).data["access"]
        if time.time() < activates_at:
            verify_as_outsiders(cached_before, access)
            issued += 1
        await asyncio.sleep(0.05)
    assert issued >= 10
    await asyncio.sleep(max(0.0, activates_at - time.time()))
    access = (await door.refresh_token(pair["refresh"])).data["access"]
    assert kid_of(access) == new
    verify_as_outsiders(cached_during, access)


def verify_as_outsiders(document: dict, token: str) -> None:
    key = jwt.PyJWKSet.from_dict(document)[kid_of(token)]
    claims = jwt.decode(token, key, algorithms=[key.algorithm_name], issuer="authgate")
    assert claims["token_type"] == "access"
    keys = JoseKeySet.import_key_set(document)
    decoded = joserfc_jwt.decode(token, keys, algorithms=[key.algorithm_name])
    assert decoded.claims["sub"] == claims["sub"]


async def test_jwks_may_be_cached_for_half_the_publish_ahead_at_most(replicas):
    door = open_door("rest", replicas[0].http_url, replicas[0].grpc_target)
    try:
        response = (await door.get_jwks()).raw
    finally:
        await door.close()
    assert response.headers["cache-control"] == f"public, max-age={AHEAD // 2}"


async def test_a_retired_key_s_tokens_fail_at_both_replicas(replicas, doors_onto):
    a, b = replicas
    doors = [doors_onto(kind, r) for r in replicas for kind in ("rest", "grpc")]
    pair = await login(doors[0])
    old = kid_of(pair["access"])
    for door in doors:
        assert (await door.list_users(pair["access"])).ok

    await authgate(b, "keys", "rotate", "--now")
    await authgate(a, "keys", "retire", old)
    retired = time.monotonic()
    for door in doors:
        refused = await refused_within_bound(lambda d=door: d.list_users(pair["access"]), retired)
        assert refused.reason == "token_not_valid"
        assert old not in {key["kid"] for key in (await door.get_jwks()).data["keys"]}
    fresh = await login(doors[1])
    assert kid_of(fresh["access"]) != old
    for door in doors:
        assert (await door.list_users(fresh["access"])).ok


async def test_a_dump_of_the_database_holds_no_private_key_in_clear(replicas):
    a, _ = replicas
    await authgate(a, "keys", "rotate")  # a staged key too
    keys = a.runtime.keys
    records = [r for r, _ in await keys.listing() if r.sealed_private is not None]
    assert len(records) == 2
    secrets = [keys.kek.open(r.kid, r.sealed_private) for r in records]
    dump = database_dump(a.settings.resolved_database_url)
    assert b"PRIVATE KEY" not in dump
    for secret in secrets:
        body = b"".join(secret.splitlines()[1:-1])  # the PEM's base64, whatever its lines
        for form in (secret, body, body[:40], secret.hex().encode()):
            assert form not in dump


def database_dump(url: str) -> bytes:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return "\n".join(connection.iterdump()).encode()
    return subprocess.run(["pg_dump", url], capture_output=True, check=True).stdout


async def test_an_upgraded_data_dir_keeps_its_tokens_valid_on_both_doors(
    tmp_path, database_url, doors_onto
):
    old = legacy_keys("RS256", "EdDSA")
    write_key_file(tmp_path / "data" / "keys.json", old)
    with own_database(database_url) as url:
        async with serving(tmp_path / "data", url) as running:
            admin = kid_and_sub(await login(doors_onto("rest", running)))
            for kind in ("rest", "grpc"):
                door = doors_onto(kind, running)
                for key in old:  # signed by the version before the upgrade
                    token = legacy_token(key, admin[1])
                    assert (await door.list_users(token)).ok, (kind, key.algorithm)
            assert admin[0] == old[-1].kid  # the file's active key goes on signing


def kid_and_sub(pair: dict) -> tuple[str, str]:
    return kid_of(pair["access"]), jwt.decode(pair["access"], options={"verify_signature": False})[
        "sub"
    ]
