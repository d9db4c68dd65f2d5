"""Signing keys in the store: sealed under the key-encryption key, made once, imported from an
old key file, refused under a wrong KEK with nothing changed, and re-sealed under a new one."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path

import pytest

from authgate.core.errors import AuthError, Reason
from authgate.core.key_encryption import KeyEncryptionError, KeyEncryptionKey, generate_text
from authgate.core.key_file import read_key_file
from authgate.core.key_management import KeyManagement, KeysUnusable
from authgate.core.keys import KeyState
from authgate.core.tokens import TokenCodec, TokenType
from authgate.store.schema_version import migrate
from authgate.store.signing_keys import SigningKeyStore

from legacy_keys import legacy_keys, legacy_token, write_key_file
from unit_fixtures import ALGORITHMS, ISSUER, open_database, sqlite_url

KEK = KeyEncryptionKey.from_text(generate_text())
DAY = 86400.0


def manager(database, kek: KeyEncryptionKey = KEK, algorithm: str = "EdDSA", ahead: float = 1800):
    store = SigningKeyStore(database)
    return KeyManagement(store, kek, algorithm=algorithm, publish_ahead=ahead, retention=DAY)


@pytest.fixture
async def database(tmp_path: Path):
    async with open_database(sqlite_url(tmp_path)) as opened:
        await migrate(opened)
        yield opened


def stored_rows(tmp_path: Path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "x.sqlite3") as connection:
        return connection.execute("SELECT * FROM signing_keys ORDER BY kid").fetchall()


# The key-encryption key.


def test_a_sealed_key_opens_only_under_its_kid_and_its_kek():
    sealed = KEK.seal("kid-1", b"private")
    assert KEK.open("kid-1", sealed) == b"private"
    with pytest.raises(KeyEncryptionError, match="integrity"):
        KEK.open("kid-2", sealed)  # the kid is associated data: no moving rows around
    with pytest.raises(KeyEncryptionError, match="another key-encryption key"):
        KeyEncryptionKey.from_text(generate_text()).open("kid-1", sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeyEncryptionError, match="integrity"):
        KEK.open("kid-1", tampered)


def test_a_previous_kek_still_opens_what_it_sealed():
    old, new = generate_text(), generate_text()
    sealed = KeyEncryptionKey.from_text(old).seal("k", b"private")
    both = KeyEncryptionKey.from_text(new, old)
    assert both.open("k", sealed) == b"private"
    assert not both.sealed_by_this(sealed)
    assert both.sealed_by_this(both.seal("k", b"private"))


@pytest.mark.parametrize("text", ["", "short", base64.b64encode(b"x" * 31).decode(), "%%%%"])
def test_a_kek_that_is_not_32_bytes_of_base64_is_refused(text):
    with pytest.raises(ValueError, match="AUTHGATE_KEY_ENCRYPTION_KEY"):
        KeyEncryptionKey.from_text(text)


def test_a_kek_never_shows_itself():
    text = generate_text()
    assert text not in repr(KeyEncryptionKey.from_text(text))


# Keys in the store.


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_first_start_makes_one_key_that_signs_at_once(database, algorithm):
    keys = manager(database, algorithm=algorithm)
    first = await keys.prepare()
    again = await keys.prepare()
    codec = TokenCodec(again, issuer=ISSUER)
    token = TokenCodec(first, issuer=ISSUER).encode("U1", TokenType.ACCESS)
    assert codec.decode(token, TokenType.ACCESS).user_id == "U1"
    assert [k.kid for k in again.keys] == [k.kid for k in first.keys]
    assert len(first.keys) == 1 and first.keys[0].algorithm == algorithm


async def test_replicas_starting_together_make_one_key(database):
    sets = await asyncio.gather(*(manager(database).prepare() for _ in range(4)))
    assert (
        len({key_set.signing(key_set.keys[0].record.created_at + 1).kid for key_set in sets}) == 1
    )
    assert len(await SigningKeyStore(database).all()) == 1


async def test_the_store_holds_no_private_key_in_clear(database, tmp_path):
    keys = manager(database, algorithm="HS256")
    key_set = await keys.prepare()
    await keys.rotate(at_once=True)
    secret = key_set.keys[0].verifying_key  # HS256: the secret itself
    with sqlite3.connect(tmp_path / "x.sqlite3") as connection:
        dump = "\n".join(connection.iterdump()).encode()
    for form in (secret, secret.hex().encode(), base64.b64encode(secret)):
        assert form not in dump
    assert b"PRIVATE KEY" not in dump


async def test_a_wrong_kek_refuses_to_start_and_changes_nothing(database, tmp_path):
    await manager(database).prepare()
    before = stored_rows(tmp_path)
    wrong = KeyEncryptionKey.from_text(generate_text())
    with pytest.raises(KeysUnusable, match=r"another key-encryption key.*nothing was changed"):
        await manager(database, wrong, algorithm="ES256").prepare()
    assert stored_rows(tmp_path) == before


async def test_a_rotation_is_listed_with_each_key_state(database):
    keys = manager(database)
    await keys.prepare()
    staged = await keys.rotate()
    listing = {record.kid: state for record, state in await keys.listing()}
    assert listing[staged.kid] is KeyState.NEXT
    assert sorted(state.value for state in listing.values()) == ["active", "next"]


async def test_retiring_a_key_destroys_its_private_half(database):
    keys = manager(database)
    first = (await keys.prepare()).keys[0].kid
    await keys.rotate(at_once=True)
    await keys.retire(first)
    [retired] = [r for r in await SigningKeyStore(database).all() if r.kid == first]
    assert retired.sealed_private is None and retired.retired_at is not None
    assert (await keys.load()).verifying(first, retired.retired_at + 1) is None


async def test_rewrap_seals_every_key_under_the_new_kek(database):
    old_text, new_text = generate_text(), generate_text()
    await manager(database, KeyEncryptionKey.from_text(old_text)).prepare()
    await manager(database, KeyEncryptionKey.from_text(old_text)).rotate()
    moving = KeyEncryptionKey.from_text(new_text, old_text)
    assert await manager(database, moving).rewrap() == 2
    assert await manager(database, moving).rewrap() == 0
    only_new = manager(database, KeyEncryptionKey.from_text(new_text))
    assert len((await only_new.prepare()).keys) == 2


# Upgrading from a key file.


async def test_an_old_key_file_is_imported_and_its_tokens_stay_valid(database, tmp_path):
    path = tmp_path / "keys.json"
    old = legacy_keys("RS256", "EdDSA")
    write_key_file(path, old)
    key_set = await manager(database).prepare(read_key_file(path))
    codec = TokenCodec(key_set, issuer=ISSUER)
    for key in old:
        assert codec.decode(legacy_token(key, "U1"), TokenType.ACCESS).user_id == "U1"
    # The file's active key goes on signing: nothing changes for verifiers.
    assert codec.keys.signing(old[-1].created_at + 61).kid == old[-1].kid


async def test_a_second_replica_s_old_keys_verify_but_no_longer_sign(database, tmp_path):
    first = await manager(database).prepare()
    path = tmp_path / "keys.json"
    theirs = legacy_keys("EdDSA")
    write_key_file(path, theirs)
    key_set = await manager(database).prepare(read_key_file(path))
    now = theirs[0].created_at + 61
    assert key_set.signing(now).kid == first.keys[0].kid
    codec = TokenCodec(key_set, issuer=ISSUER)
    assert codec.decode(legacy_token(theirs[0], "U1"), TokenType.ACCESS).user_id == "U1"


async def test_a_wrong_kek_imports_nothing(database, tmp_path):
    await manager(database).prepare()
    before = stored_rows(tmp_path)
    path = tmp_path / "keys.json"
    write_key_file(path, legacy_keys("EdDSA"))
    wrong = KeyEncryptionKey.from_text(generate_text())
    with pytest.raises(KeysUnusable):
        await manager(database, wrong).prepare(read_key_file(path))
    assert stored_rows(tmp_path) == before


async def test_key_changes_are_audited_without_key_material(database, caplog):
    caplog.set_level("INFO", logger="authgate.audit")
    keys = manager(database)
    first = (await keys.prepare()).keys[0].kid
    new = await keys.rotate(at_once=True)
    await keys.retire(first)
    events = [r.getMessage() for r in caplog.records if r.name == "authgate.audit"]
    assert [e.split('"event":"')[1].split('"')[0] for e in events] == [
        "key_created",
        "key_rotated",
        "key_retired",
    ]
    assert new.kid in events[1] and first in events[2]
    assert not any("PRIVATE" in e or "sealed" in e for e in events)


async def test_nothing_to_sign_with_is_unavailable_not_a_crash(database):
    keys = manager(database)
    await keys.prepare()
    [only] = await SigningKeyStore(database).all()
    dead = KeyEncryptionKey.from_text(generate_text())  # opens nothing: no key can sign
    codec = TokenCodec(await manager(database, dead).load(), issuer=ISSUER)
    with pytest.raises(AuthError) as refused:
        codec.encode("U1", TokenType.ACCESS)
    assert refused.value.reason is Reason.UNAVAILABLE
    assert only.public_jwk is not None and codec.keys.verifying(only.kid, only.created_at + 1)
