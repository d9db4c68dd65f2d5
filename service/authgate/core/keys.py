"""Signing keys: their lifecycle by dates, and the set a process signs and verifies with.

A key is published (in the JWKS, and it verifies) from the moment it is written, but signs
only from `activates_at`: a staged rotation writes the next key `AUTHGATE_KEY_PUBLISH_AHEAD`
before it signs, longer than any verifier caches a JWKS (Envoy's `jwt_authn` 10 minutes by
default, Istio 20), so no verifier meets a `kid` it has not seen. A key stops signing at
`deactivates_at` (its successor's `activates_at`) and verifies until every token it signed has
expired; then, or at once on `authgate keys retire`, it is retired: it verifies nothing, leaves
the JWKS, and its private key is destroyed. Each state follows from the dates and the clock,
so every replica reads the same state from the same rows, with no write when a date passes.
The algorithm comes from the key, never from a token header (RFC 8725 §3.1).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authgate.core.errors import AuthError, Reason
from authgate.core.signers import Signer

# The change log's rows for a key have the subject `key:<kid>`.
KEY_SUBJECT_PREFIX = "key:"


class KeyState(enum.Enum):
    NEXT = "next"  # published, signs from activates_at
    ACTIVE = "active"  # signs
    RETIRING = "retiring"  # a successor signs; verifies until its tokens have expired
    RETIRED = "retired"  # verifies nothing; private key destroyed


@dataclass(frozen=True)
class KeyRecord:
    """A signing key as the store holds it; times are Unix seconds."""

    kid: str
    algorithm: str
    public_jwk: dict[str, str] | None  # None for HS256: a shared secret is never published
    # The private key sealed under the key-encryption key; None once retired (destroyed).
    sealed_private: bytes | None
    created_at: float
    activates_at: float
    deactivates_at: float | None = None
    retired_at: float | None = None

    def verifies_until(self, retention: float) -> float:
        """When it stops verifying: retired, or `retention` (the longest token lifetime)
        after it stopped signing."""
        until = math.inf if self.retired_at is None else self.retired_at
        if self.deactivates_at is not None:
            until = min(until, self.deactivates_at + retention)
        return until

    def state(self, now: float, retention: float) -> KeyState:
        if now >= self.verifies_until(retention):
            return KeyState.RETIRED
        if now < self.activates_at:
            return KeyState.NEXT
        if self.deactivates_at is not None and now >= self.deactivates_at:
            return KeyState.RETIRING
        return KeyState.ACTIVE

    def signs_at(self, now: float) -> bool:
        return (
            self.retired_at is None
            and self.activates_at <= now
            and (self.deactivates_at is None or now < self.deactivates_at)
        )


@dataclass(frozen=True)
class Key:
    """A usable key: its record, what verifies its signatures, and its signer (None once its
    private key is gone)."""

    record: KeyRecord
    verifying_key: Any
    signer: Signer | None

    @property
    def kid(self) -> str:
        return self.record.kid

    @property
    def algorithm(self) -> str:
        return self.record.algorithm


class NoSigningKey(LookupError):
    """No key signs now: the key table is empty or every key was retired."""


class KeySet:
    """Every key this process verifies with, and the one that signs at a given time."""

    def __init__(self, keys: tuple[Key, ...], retention: float) -> None:
        self.keys = keys
        self.retention = retention
        self._by_kid = {key.kid: key for key in keys}
        self._until = {key.kid: key.record.verifies_until(retention) for key in keys}
        self.kids = frozenset(self._by_kid)
        # The signing key, and the span of time it is known to sign for (the hot path asks
        # on every token it issues).
        self._signing: Key | None = None
        self._signing_span = (math.inf, -math.inf)

    @property
    def current(self) -> KeySet:
        return self  # a fixed set; KeyRing's `current` follows the store

    async def fresh(self) -> KeySet:
        return self

    def verifying(self, kid: str, now: float) -> Key | None:
        """The key `kid` if it verifies at `now`."""
        key = self._by_kid.get(kid)
        if key is None or now >= self._until[kid]:
            return None
        return key

    def signing(self, now: float) -> Key:
        start, end = self._signing_span
        if start <= now < end and self._signing is not None:
            return self._signing
        signing = [k for k in self.keys if k.record.signs_at(now) and k.signer is not None]
        if not signing:
            raise NoSigningKey("no signing key signs now: run `authgate keys rotate --now`")
        key = max(signing, key=lambda k: (k.record.activates_at, k.record.created_at))
        record = key.record
        later = [k.record.activates_at for k in self.keys if k.record.activates_at > now]
        end = min([*later, record.deactivates_at or math.inf])
        self._signing, self._signing_span = key, (record.activates_at, end)
        return key

    def jwks(self, now: float) -> list[dict[str, str]]:
        """The public keys that verify at `now` (published ahead of signing, kept until their
        tokens expire), the signing key first."""
        try:
            first = self.signing(now).kid
        except NoSigningKey:
            first = ""
        live = [key for key in self.keys if self.verifying(key.kid, now) is not None]
        live.sort(key=lambda key: (key.kid != first, -key.record.activates_at))
        return [jwk for key in live if (jwk := key.record.public_jwk) is not None]


# What the operator's commands decide, as pure functions of the rows: each returns the rows
# to write (new, or changed), or raise `refused`.


def refused(detail: str) -> AuthError:
    """A key command that would break tokens, or leave nothing to sign with."""
    return AuthError(Reason.INVALID_REQUEST, detail)


def expired_keys_retired(records: list[KeyRecord], now: float, retention: float) -> list[KeyRecord]:
    """Keys whose every token has expired, marked retired with their private key destroyed."""
    return [
        dataclasses.replace(r, retired_at=r.verifies_until(retention), sealed_private=None)
        for r in records
        if r.retired_at is None and r.verifies_until(retention) <= now
    ]


def signing_record(records: list[KeyRecord], now: float) -> KeyRecord | None:
    signing = [r for r in records if r.signs_at(now) and r.sealed_private is not None]
    return max(signing, key=lambda r: (r.activates_at, r.created_at), default=None)


def staged_records(records: list[KeyRecord], now: float) -> list[KeyRecord]:
    return [r for r in records if r.retired_at is None and r.activates_at > now]


def rotation(records: list[KeyRecord], new: KeyRecord, now: float) -> list[KeyRecord]:
    """`new` signs from its `activates_at`; the signing key until then. With `new` signing at
    once (an emergency), any staged key is retired: it never signed, and it was made where
    the compromised key was."""
    current = signing_record(records, now)
    staged = staged_records(records, now)
    if current is None:  # nothing signs (first start): the new key signs at once
        new = dataclasses.replace(new, activates_at=now)
        return [*(_retire(r, now) for r in staged), new]
    if new.activates_at > now and staged:
        raise refused(
            f"key {staged[0].kid} is already staged to sign from"
            f" {_iso(staged[0].activates_at)}; `authgate keys rotate --now` signs with a new"
            " key at once"
        )
    writes = [_retire(r, now) for r in staged]
    writes.append(dataclasses.replace(current, deactivates_at=new.activates_at))
    return [*writes, new]


def first_key(records: list[KeyRecord], new: KeyRecord, now: float) -> list[KeyRecord]:
    """`new`, signing at once, if nothing signs yet (a first start); else nothing."""
    return rotation(records, new, now) if signing_record(records, now) is None else []


def algorithm_change(records: list[KeyRecord], new: KeyRecord, now: float) -> list[KeyRecord]:
    """The rows that make `new.algorithm` the one keys are made for: nothing when the newest
    key (staged, or else signing) has it; else `new` is staged like any rotation, and a staged
    key of the old algorithm is retired (it never signed)."""
    staged = staged_records(records, now)
    newest = max(staged, key=lambda r: r.activates_at) if staged else signing_record(records, now)
    if newest is not None and newest.algorithm == new.algorithm:
        return []
    dropped = {r.kid: _retire(r, now) for r in staged}
    kept = [dropped.get(r.kid, r) for r in records]
    return [*dropped.values(), *rotation(kept, new, now)]


def retirement(records: list[KeyRecord], kid: str, now: float) -> list[KeyRecord]:
    """`kid` verifies nothing from now on. The key that signs cannot go: a successor must
    sign first (`rotate --now`), or tokens could be issued that nothing verifies."""
    found = next((r for r in records if r.kid == kid), None)
    if found is None:
        raise refused(f"no signing key {kid}")
    if found.retired_at is not None:
        return []  # already retired: nothing changes
    current = signing_record(records, now)
    if current is not None and current.kid == kid:
        raise refused(
            f"key {kid} signs now: run `authgate keys rotate --now` first, then retire it"
        )
    writes = [_retire(found, now)]
    if found.activates_at > now:  # a staged key: its predecessor keeps signing
        writes += [
            dataclasses.replace(r, deactivates_at=None)
            for r in records
            if r.deactivates_at == found.activates_at and r.kid != kid and r.retired_at is None
        ]
    return writes


def _retire(record: KeyRecord, now: float) -> KeyRecord:
    return dataclasses.replace(record, retired_at=now, sealed_private=None)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
