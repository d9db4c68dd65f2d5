"""Signing keys by their dates: staged rotation, the emergency path, retirement, and the JWKS."""

from __future__ import annotations

import dataclasses
import string

import pytest

from authgate.core import keys
from authgate.core.errors import AuthError
from authgate.core.keys import KeyRecord, KeySet, KeyState
from authgate.core.signers import new_kid

from unit_fixtures import key_for

T0 = 1_700_000_000.0
DAY = 86400.0  # the retention: the longest token lifetime
AHEAD = 1800.0
URL_SAFE = set(string.ascii_letters + string.digits + "-_")


def record(kid: str, activates_at: float = T0, algorithm: str = "EdDSA", **dates) -> KeyRecord:
    return KeyRecord(
        kid, algorithm, {"kid": kid, "alg": algorithm}, b"sealed", T0, activates_at, **dates
    )


def key_set(*records: KeyRecord) -> KeySet:
    """A set of usable keys with these records (the key material is one test key's)."""
    material = key_for("EdDSA")
    return KeySet(tuple(dataclasses.replace(material, record=r) for r in records), DAY)


def apply(records: list[KeyRecord], writes: list[KeyRecord]) -> list[KeyRecord]:
    written = {r.kid: r for r in writes}
    return [written.pop(r.kid, r) for r in records] + list(written.values())


# States follow from the dates.


def test_a_key_is_next_then_active_then_retiring_then_retired():
    key = record("k", activates_at=T0 + 10, deactivates_at=T0 + 20)
    assert key.state(T0, DAY) is KeyState.NEXT
    assert key.state(T0 + 10, DAY) is KeyState.ACTIVE
    assert key.state(T0 + 20, DAY) is KeyState.RETIRING
    assert key.state(T0 + 20 + DAY - 1, DAY) is KeyState.RETIRING
    assert key.state(T0 + 20 + DAY, DAY) is KeyState.RETIRED


def test_a_retired_key_is_retired_whatever_its_other_dates_say():
    key = record("k", retired_at=T0 + 5)
    assert key.state(T0 + 5, DAY) is KeyState.RETIRED
    assert not key.signs_at(T0 + 6)


# Staged rotation.


def test_a_staged_key_is_published_at_once_and_signs_only_after_the_publish_ahead():
    old = record("old")
    new = record("new", activates_at=T0 + 100 + AHEAD)
    rows = apply([old], keys.rotation([old], new, T0 + 100))
    rotated = key_set(*rows)

    assert {jwk["kid"] for jwk in rotated.jwks(T0 + 100)} == {"old", "new"}
    assert rotated.signing(T0 + 100).kid == "old"
    assert rotated.signing(T0 + 100 + AHEAD - 0.001).kid == "old"
    assert rotated.signing(T0 + 100 + AHEAD).kid == "new"
    # The old key verifies until every token it signed has expired, then leaves.
    assert rotated.verifying("old", T0 + 100 + AHEAD + DAY - 1) is not None
    assert rotated.verifying("old", T0 + 100 + AHEAD + DAY) is None
    assert [jwk["kid"] for jwk in rotated.jwks(T0 + 100 + AHEAD + DAY)] == ["new"]


def test_the_signing_key_is_listed_first_in_the_jwks():
    rows = apply([record("old")], keys.rotation([record("old")], record("new", T0 + 50), T0 + 1))
    assert [jwk["kid"] for jwk in key_set(*rows).jwks(T0 + 2)] == ["old", "new"]
    assert [jwk["kid"] for jwk in key_set(*rows).jwks(T0 + 50)] == ["new", "old"]


def test_a_second_staged_rotation_is_refused_while_one_is_pending():
    rows = apply([record("old")], keys.rotation([record("old")], record("a", T0 + AHEAD), T0))
    with pytest.raises(AuthError, match="already staged"):
        keys.rotation(rows, record("b", T0 + 1 + AHEAD), T0 + 1)


def test_an_emergency_rotation_signs_at_once_and_retires_the_staged_key():
    rows = apply([record("old")], keys.rotation([record("old")], record("a", T0 + AHEAD), T0))
    writes = keys.rotation(rows, record("now", T0 + 10), T0 + 10)
    rows = apply(rows, writes)
    after = key_set(*rows)

    assert after.signing(T0 + 10).kid == "now"
    assert after.signing(T0 + AHEAD + 1).kid == "now"  # the staged key never takes over
    assert after.verifying("a", T0 + 10) is None
    assert next(r for r in rows if r.kid == "a").sealed_private is None  # destroyed
    assert after.verifying("old", T0 + 10) is not None  # its tokens still verify


def test_the_first_key_signs_at_once_whatever_the_publish_ahead():
    [first] = keys.rotation([], record("first", T0 + AHEAD), T0)
    assert first.activates_at == T0
    assert key_set(first).signing(T0).kid == "first"


# Retirement.


def test_retiring_a_key_stops_it_verifying_at_once_and_destroys_it():
    rows = apply([record("old")], keys.rotation([record("old")], record("new", T0 + 1), T0 + 1))
    [retired] = keys.retirement(rows, "old", T0 + 2)
    assert retired.sealed_private is None and retired.retired_at == T0 + 2
    assert key_set(*apply(rows, [retired])).verifying("old", T0 + 2) is None
    assert keys.retirement(apply(rows, [retired]), "old", T0 + 3) == []  # idempotent


def test_the_key_that_signs_cannot_be_retired():
    with pytest.raises(AuthError, match="rotate --now"):
        keys.retirement([record("only")], "only", T0 + 1)


def test_an_unknown_kid_is_refused():
    with pytest.raises(AuthError, match="no signing key nope"):
        keys.retirement([record("only")], "nope", T0)


def test_retiring_a_staged_key_leaves_its_predecessor_signing():
    rows = apply([record("old")], keys.rotation([record("old")], record("a", T0 + AHEAD), T0))
    rows = apply(rows, keys.retirement(rows, "a", T0 + 1))
    assert key_set(*rows).signing(T0 + AHEAD + 1).kid == "old"
    assert keys.rotation(rows, record("b", T0 + 2 + AHEAD), T0 + 2)  # no longer refused


def test_keys_whose_tokens_have_all_expired_are_retired_and_destroyed():
    rows = [record("old", deactivates_at=T0 + 10), record("new", T0 + 10)]
    assert keys.expired_keys_retired(rows, T0 + 10 + DAY - 1, DAY) == []
    [expired] = keys.expired_keys_retired(rows, T0 + 10 + DAY, DAY)
    assert expired.kid == "old" and expired.sealed_private is None
    assert expired.retired_at == T0 + 10 + DAY


# A change of algorithm.


def test_a_new_algorithm_is_staged_like_a_rotation():
    writes = keys.algorithm_change([record("ed")], record("es", T0 + AHEAD, "ES256"), T0)
    rows = apply([record("ed")], writes)
    assert key_set(*rows).signing(T0 + 1).kid == "ed"
    assert key_set(*rows).signing(T0 + AHEAD).kid == "es"


def test_the_same_algorithm_changes_nothing_even_with_a_key_staged():
    rows = apply([record("a")], keys.rotation([record("a")], record("b", T0 + AHEAD), T0))
    assert keys.algorithm_change(rows, record("c", T0 + 1 + AHEAD), T0 + 1) == []


def test_a_staged_key_of_the_old_algorithm_is_replaced():
    rows = apply([record("a")], keys.rotation([record("a")], record("b", T0 + AHEAD), T0))
    writes = keys.algorithm_change(rows, record("c", T0 + 1 + AHEAD, "RS256"), T0 + 1)
    rows = apply(rows, writes)
    assert next(r for r in rows if r.kid == "b").retired_at == T0 + 1
    assert key_set(*rows).signing(T0 + 1 + AHEAD).kid == "c"


def test_a_set_with_nothing_to_sign_says_so():
    with pytest.raises(keys.NoSigningKey):
        key_set(record("gone", retired_at=T0)).signing(T0 + 1)


def test_a_shared_secret_is_never_published():
    hs = dataclasses.replace(record("hs", algorithm="HS256"), public_jwk=None)
    assert key_set(hs).jwks(T0) == []


# A new key's id.


def test_a_new_kid_is_16_url_safe_characters_never_starting_with_a_dash():
    # An operator types it after `authgate keys retire`, where a leading "-" reads as an
    # option: 1 kid in 64 began with one (a CI run retired "-t52T9F2-sYvSJ-F").
    kids = [new_kid() for _ in range(4000)]

    assert len(set(kids)) == len(kids)
    assert all(len(kid) == 16 and set(kid) <= URL_SAFE for kid in kids)
    assert not [kid for kid in kids if kid.startswith("-")]
