"""Signing keys: created on first start in a 0600 file, kept by kid, rotated on demand."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from authgate.core import keys
from authgate.core.tokens import TokenCodec, TokenType

from unit_fixtures import ALGORITHMS, ISSUER, Clock

T0 = 1_700_000_000


def key_file(data_dir: Path) -> Path:
    return data_dir / keys.KEY_FILE_NAME


def key_file_document(data_dir: Path) -> dict[str, object]:
    return json.loads(key_file(data_dir).read_text())


def codec_for(key_set: keys.KeySet) -> TokenCodec:
    return TokenCodec(key_set, issuer=ISSUER, clock=Clock())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_first_start_creates_the_key_file_readable_by_owner_only(
    tmp_path: Path, algorithm: str
) -> None:
    keys.load_or_create(tmp_path, algorithm, now=T0)

    mode = os.stat(key_file(tmp_path)).st_mode

    assert stat.S_ISREG(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_first_start_creates_a_missing_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "var"

    keys.load_or_create(data_dir, "EdDSA", now=T0)

    assert key_file(data_dir).is_file()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_first_start_makes_one_active_key_of_the_configured_algorithm(
    tmp_path: Path, algorithm: str
) -> None:
    key_set = keys.load_or_create(tmp_path, algorithm, now=T0)

    assert len(key_set.keys) == 1
    assert key_set.active.algorithm == algorithm
    assert key_set.active.created_at == T0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_loading_again_gives_the_same_active_kid(tmp_path: Path, algorithm: str) -> None:
    first = keys.load_or_create(tmp_path, algorithm, now=T0)

    second = keys.load_or_create(tmp_path, algorithm, now=T0 + 60)

    assert second.active_kid == first.active_kid
    assert [key.kid for key in second.keys] == [key.kid for key in first.keys]


def test_loading_again_leaves_the_file_unchanged(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path, "EdDSA", now=T0)
    before = key_file(tmp_path).read_bytes()

    keys.load_or_create(tmp_path, "EdDSA", now=T0 + 60)

    assert key_file(tmp_path).read_bytes() == before


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_loaded_key_verifies_tokens_signed_before_restart(tmp_path: Path, algorithm: str) -> None:
    token = codec_for(keys.load_or_create(tmp_path, algorithm)).encode("01USER", TokenType.ACCESS)

    reloaded = codec_for(keys.load_or_create(tmp_path, algorithm))

    assert reloaded.decode(token, TokenType.ACCESS).user_id == "01USER"


def test_changing_the_algorithm_adds_a_new_active_key(tmp_path: Path) -> None:
    old = keys.load_or_create(tmp_path, "EdDSA", now=T0)

    new = keys.load_or_create(tmp_path, "ES256", now=T0 + 60)

    assert new.active_kid != old.active_kid
    assert new.active.algorithm == "ES256"
    assert new.active.created_at == T0 + 60
    assert len(new.keys) == 2


def test_changing_the_algorithm_keeps_the_old_key_for_verification(tmp_path: Path) -> None:
    old = keys.load_or_create(tmp_path, "EdDSA", now=T0)

    new = keys.load_or_create(tmp_path, "ES256", now=T0 + 60)

    kept = new.by_kid(old.active_kid)
    assert kept is not None
    assert kept.algorithm == "EdDSA"


def test_changing_the_algorithm_is_persisted(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path, "EdDSA", now=T0)
    changed = keys.load_or_create(tmp_path, "RS256", now=T0 + 60)

    reloaded = keys.load_or_create(tmp_path, "RS256", now=T0 + 120)

    assert reloaded.active_kid == changed.active_kid
    assert len(reloaded.keys) == 2


def test_token_signed_before_an_algorithm_change_still_decodes(tmp_path: Path) -> None:
    token = codec_for(keys.load_or_create(tmp_path, "EdDSA")).encode("01USER", TokenType.ACCESS)

    after = codec_for(keys.load_or_create(tmp_path, "HS256"))

    assert after.decode(token, TokenType.ACCESS).user_id == "01USER"


def test_rotate_adds_a_new_active_key(tmp_path: Path) -> None:
    before = keys.load_or_create(tmp_path, "EdDSA", now=T0)

    after = keys.rotate(tmp_path, "EdDSA", retire_after=86400, now=T0 + 60)

    assert after.active_kid != before.active_kid
    assert after.active.algorithm == "EdDSA"
    assert after.by_kid(before.active_kid) is not None
    assert len(after.keys) == 2


def test_rotation_is_what_the_next_start_loads(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path, "EdDSA", now=T0)
    rotated = keys.rotate(tmp_path, "EdDSA", retire_after=86400, now=T0 + 60)

    assert keys.load_or_create(tmp_path, "EdDSA").active_kid == rotated.active_kid


def test_rotated_key_file_stays_readable_by_owner_only(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path, "EdDSA", now=T0)

    keys.rotate(tmp_path, "EdDSA", retire_after=86400, now=T0 + 60)

    assert stat.S_IMODE(os.stat(key_file(tmp_path)).st_mode) == 0o600


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_signed_before_rotation_still_decodes_after(tmp_path: Path, algorithm: str) -> None:
    token = codec_for(keys.load_or_create(tmp_path, algorithm)).encode("01USER", TokenType.ACCESS)

    after = codec_for(keys.rotate(tmp_path, algorithm, retire_after=86400))

    assert after.decode(token, TokenType.ACCESS).user_id == "01USER"


def test_tokens_after_rotation_are_signed_by_the_new_key(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path, "EdDSA")
    rotated = keys.rotate(tmp_path, "EdDSA", retire_after=86400)
    token = codec_for(rotated).encode("01USER", TokenType.ACCESS)

    only_new = keys.KeySet((rotated.active,), rotated.active_kid)

    assert codec_for(only_new).decode(token, TokenType.ACCESS).user_id == "01USER"


def test_key_file_is_json_listing_every_key_and_the_active_one(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path, "EdDSA", now=T0)
    key_set = keys.rotate(tmp_path, "ES256", retire_after=86400, now=T0 + 60)

    document = key_file_document(tmp_path)

    assert document["active"] == key_set.active_kid
    assert [(entry["kid"], entry["alg"]) for entry in document["keys"]] == [
        (key.kid, key.algorithm) for key in key_set.keys
    ]


def test_key_file_holds_keys_only_for_the_algorithms_used(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path, "EdDSA", now=T0)
    keys.load_or_create(tmp_path, "RS256", now=T0 + 60)

    document = key_file_document(tmp_path)

    assert sorted(entry["alg"] for entry in document["keys"]) == ["EdDSA", "RS256"]


def test_key_file_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path, "EdDSA", now=T0)
    keys.rotate(tmp_path, "EdDSA", retire_after=86400, now=T0 + 60)

    assert sorted(path.name for path in tmp_path.iterdir()) == [keys.KEY_FILE_NAME]


def test_unknown_algorithm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="XX"):
        keys.load_or_create(tmp_path, "XX")


def test_rotation_retires_keys_whose_tokens_have_all_expired(tmp_path: Path) -> None:
    first = keys.load_or_create(tmp_path, "EdDSA", now=T0)
    second = keys.rotate(tmp_path, "EdDSA", retire_after=100, now=T0 + 10)
    third = keys.rotate(tmp_path, "EdDSA", retire_after=100, now=T0 + 200)

    assert second.by_kid(first.active_kid) is not None  # deactivated at T0+10, still verifying
    assert third.by_kid(first.active_kid) is None  # its last token expired by T0+110
    assert third.by_kid(second.active_kid) is not None


def test_jwks_lists_public_keys_active_first_and_never_a_secret(tmp_path: Path) -> None:
    keys.load_or_create(tmp_path, "EdDSA", now=T0)
    rotated = keys.rotate(tmp_path, "ES256", retire_after=100, now=T0 + 10)

    jwks = rotated.jwks()

    assert jwks[0]["kid"] == rotated.active_kid
    assert {jwk["kty"] for jwk in jwks} == {"OKP", "EC"}
    assert all("d" not in jwk for jwk in jwks)  # no private part
    assert keys.KeySet((keys.Key.generate("HS256", T0),), rotated.active_kid).jwks() == []


def test_key_ring_follows_the_key_file(tmp_path: Path) -> None:
    key_set = keys.load_or_create(tmp_path, "EdDSA", now=T0)
    ring = keys.KeyRing(tmp_path / keys.KEY_FILE_NAME, key_set, check_every=0)

    rotated = keys.rotate(tmp_path, "EdDSA", retire_after=100, now=T0 + 10)
    os.utime(tmp_path / keys.KEY_FILE_NAME, (T0 + 20, T0 + 20))  # a distinct mtime

    assert ring.active.kid == rotated.active_kid
    assert ring.by_kid(key_set.active_kid) is not None
