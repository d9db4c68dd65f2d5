"""Signing keys kept in the store: opened at start, made on first start, staged on rotation,
retired on demand, imported from an old `keys.json`, and re-sealed under a new KEK."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from authgate.core import keys
from authgate.core.audit import audit
from authgate.core.key_encryption import KeyEncryptionError, KeyEncryptionKey
from authgate.core.key_file import FileKey
from authgate.core.keys import Key, KeyRecord, KeySet, KeyState
from authgate.core.signers import LocalSigner, new_kid, new_private_key, verifying_key_from_jwk
from authgate.store.signing_keys import Decision, SigningKeyStore

log = logging.getLogger(__name__)


# A plan for a new key: the rows to write, given every row, the new key and the time.
Plan = Callable[[list[KeyRecord], KeyRecord, float], list[KeyRecord]]
_STAND_IN = ""


class _NeedsKey(Exception):
    """The plan wants the new key written: make a real one and decide again."""


class KeysUnusable(OSError):
    """The stored keys cannot be opened (a wrong or missing key-encryption key): serving
    would mean making new keys over them, so the process stops instead."""


class KeyManagement:
    def __init__(
        self,
        store: SigningKeyStore,
        kek: KeyEncryptionKey,
        *,
        algorithm: str,
        publish_ahead: float,
        retention: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.kek = kek
        self.algorithm = algorithm
        self.publish_ahead = publish_ahead
        # The longest token lifetime: how long a key verifies after it stopped signing.
        self.retention = retention
        self.clock = clock
        # Opened keys by (kid, sealed bytes): a reload opens only what changed.
        self._opened: dict[tuple[str, bytes | None], tuple[Any, LocalSigner | None]] = {}

    async def load(self) -> KeySet:
        """The keys that verify now, each opened (a key this KEK cannot open is logged and
        left out of signing; an asymmetric one still verifies by its public key)."""
        usable = []
        for record in await self.store.all():
            if record.verifies_until(self.retention) <= self.clock():
                continue
            try:
                usable.append(self._open(record))
            except KeyEncryptionError as error:
                log.error("signing keys: %s", error)
                if record.public_jwk is not None:
                    usable.append(Key(record, verifying_key_from_jwk(record.public_jwk), None))
        return KeySet(tuple(usable), self.retention)

    async def prepare(
        self, legacy: list[FileKey] | None = None, *, follow_algorithm: bool = True
    ) -> KeySet:
        """At start: check that every stored key opens (before anything is written), import
        `legacy` (an old keys.json's keys), and make the first key. `follow_algorithm` (a
        server's start, not an operator's command run with other settings) also stages a key
        when the configured algorithm changed."""
        for record in await self.store.all():
            if record.sealed_private is not None:
                try:
                    self.kek.open(record.kid, record.sealed_private)
                except KeyEncryptionError as error:
                    raise KeysUnusable(f"{error}; nothing was changed") from None
        if legacy:
            await self._import(legacy)
        plan = keys.algorithm_change if follow_algorithm else keys.first_key
        new = await self._with_new_key(plan, self.publish_ahead)
        if new is not None:
            audit("key_created", reason=f"{new.kid} ({new.algorithm}) at start")
        key_set = await self.load()
        key_set.signing(self.clock())  # raises NoSigningKey if nothing signs
        return key_set

    async def rotate(self, *, at_once: bool = False) -> KeyRecord:
        """A new key, published now; it signs after the publish-ahead (`at_once`: now)."""
        ahead = 0.0 if at_once else self.publish_ahead
        new = await self._with_new_key(keys.rotation, ahead)
        assert new is not None  # a rotation always writes its new key, or refuses
        how = "at once" if at_once else f"signs from {new.activates_at:.0f}"
        audit("key_rotated", reason=f"{new.kid} ({new.algorithm}) {how}")
        return new

    async def retire(self, kid: str) -> list[KeyRecord]:
        def decide(records: list[KeyRecord]) -> list[KeyRecord]:
            return keys.retirement(records, kid, self.clock())

        written = await self.store.change(_tidied(self, decide))
        audit("key_retired", reason=kid)
        return written

    async def listing(self) -> list[tuple[KeyRecord, KeyState]]:
        now = self.clock()
        return [(r, r.state(now, self.retention)) for r in await self.store.all()]

    async def rewrap(self) -> int:
        """Seal every live key under the current KEK (after `AUTHGATE_KEY_ENCRYPTION_KEY`
        changed, with the old one as `AUTHGATE_PREVIOUS_KEY_ENCRYPTION_KEY`); how many."""

        def decide(records: list[KeyRecord]) -> list[KeyRecord]:
            return [
                dataclasses.replace(r, sealed_private=self.kek.seal(r.kid, plain))
                for r in records
                if r.sealed_private is not None and not self.kek.sealed_by_this(r.sealed_private)
                for plain in (self.kek.open(r.kid, r.sealed_private),)
            ]

        count = len(await self.store.change(decide))
        audit("keys_rewrapped", reason=f"{count} key(s) under KEK {self.kek.id.hex()}")
        return count

    async def _with_new_key(self, plan: Plan, ahead: float) -> KeyRecord | None:
        """Write what `plan` decides with a new key that signs `ahead` seconds from now; the
        new key if it was written. The plan is first run with a stand-in, and a key is made
        only if the stand-in was to be written: an RSA key takes a while, most starts need
        none, and a replica that lost the race to make the first key makes none."""
        now = self.clock()
        new = KeyRecord(_STAND_IN, self.algorithm, None, None, now, now + ahead)
        while True:
            decide = _tidied(self, _with(plan, new, self.clock))
            try:
                written = await self.store.change(decide)
            except _NeedsKey:
                new = self.new_record(now + ahead)
                continue
            return next((r for r in written if r.kid == new.kid), None)

    def new_record(self, activates_at: float) -> KeyRecord:
        kid, private = new_kid(), new_private_key(self.algorithm)
        jwk = LocalSigner(kid, self.algorithm, private).public_jwk()
        sealed = self.kek.seal(kid, private)
        return KeyRecord(kid, self.algorithm, jwk, sealed, self.clock(), activates_at)

    async def _import(self, found: list[FileKey]) -> None:
        def decide(records: list[KeyRecord]) -> list[KeyRecord]:
            return _imported(self, found, records)

        written = await self.store.change(_tidied(self, decide))
        log.info("signing keys: imported %d key(s) into the database", len(written))

    def _open(self, record: KeyRecord) -> Key:
        cached = self._opened.get((record.kid, record.sealed_private))
        if cached is None:
            signer = None
            if record.sealed_private is not None:
                private = self.kek.open(record.kid, record.sealed_private)
                signer = LocalSigner(record.kid, record.algorithm, private)
            if signer is not None:
                cached = (signer.verifying_key, signer)
            elif record.public_jwk is not None:
                cached = (verifying_key_from_jwk(record.public_jwk), None)
            else:
                raise KeyEncryptionError(f"signing key {record.kid} has no key material left")
            self._opened[(record.kid, record.sealed_private)] = cached
        return Key(record, cached[0], cached[1])


def _tidied(manager: KeyManagement, decide: Decision) -> Decision:
    """`decide`, plus retiring every key whose tokens have all expired (its private key is
    destroyed), in the same transaction."""

    def tidy(records: list[KeyRecord]) -> list[KeyRecord]:
        now = manager.clock()
        writes = {r.kid: r for r in keys.expired_keys_retired(records, now, manager.retention)}
        current = [writes.get(r.kid, r) for r in records]
        writes.update((r.kid, r) for r in decide(current))
        return list(writes.values())

    return tidy


def _with(plan: Plan, new: KeyRecord, clock: Callable[[], float]) -> Decision:
    def decide(records: list[KeyRecord]) -> list[KeyRecord]:
        writes = plan(records, new, clock())
        if new.kid == _STAND_IN and any(r.kid == _STAND_IN for r in writes):
            raise _NeedsKey
        return writes

    return decide


def _imported(
    manager: KeyManagement, found: list[FileKey], records: list[KeyRecord]
) -> list[KeyRecord]:
    """The file's keys that the store lacks. Its active key keeps signing if nothing in the
    store signs yet (the first replica upgraded); otherwise its keys stop signing now and
    verify until their tokens expire (a replica that had keys of its own)."""
    now = manager.clock()
    known = {r.kid for r in records}
    first = keys.signing_record(records, now) is None
    imported = []
    for entry in found:
        if entry.kid in known:
            continue
        signer = LocalSigner(entry.kid, entry.algorithm, entry.secret)
        signing = entry.active and first
        record = KeyRecord(
            entry.kid,
            entry.algorithm,
            signer.public_jwk(),
            manager.kek.seal(entry.kid, entry.secret),
            entry.created_at,
            min(entry.created_at, now),
            None if signing else (entry.deactivated_at or now),
        )
        imported.append(record)
    return imported
