"""SigningKeyStore: the signing keys every replica shares, private parts sealed.

This module stores what it is given: the private keys arrive sealed under the key-encryption
key (core/key_encryption.py) and leave sealed. Every change to a key appends a change-log
row for `key:<kid>` in the same transaction, so every serving process reloads its key set
within the staleness bound.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from authgate.core.keys import KEY_SUBJECT_PREFIX, KeyRecord
from authgate.store.change_log import ChangeKind, append_change
from authgate.store.database import Database
from authgate.store.session import Row, Session

_COLUMNS = (
    "kid, algorithm, public_jwk, private_key, created_at, activates_at, deactivates_at, retired_at"
)
_SELECT_ALL = f"SELECT {_COLUMNS} FROM signing_keys ORDER BY created_at, kid"  # noqa: S608
_INSERT = (
    f"INSERT INTO signing_keys ({_COLUMNS}) VALUES (:kid, :algorithm, :public_jwk,"  # noqa: S608
    " :private_key, :created_at, :activates_at, :deactivates_at, :retired_at)"
)
_UPDATE = (
    "UPDATE signing_keys SET private_key = :private_key, activates_at = :activates_at,"
    " deactivates_at = :deactivates_at, retired_at = :retired_at WHERE kid = :kid"
)

# Decides, from every row, which rows to write (new or changed); it may raise to write none.
Decision = Callable[[list[KeyRecord]], list[KeyRecord]]


class SigningKeyStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def all(self) -> list[KeyRecord]:
        return await self.database.read(_all)

    async def change(self, decide: Decision) -> list[KeyRecord]:
        """Read every row, let `decide` pick the writes, and make them, in one transaction
        that no other key change interleaves with; the rows written."""
        return await self.database.write(_change, decide)


def _all(session: Session) -> list[KeyRecord]:
    return [_record(session, row) for row in session.all(_SELECT_ALL)]


def _change(session: Session, decide: Decision) -> list[KeyRecord]:
    if session.dialect.change_log_lock_sql:
        # PostgreSQL: two replicas starting at once on an empty table must not both make the
        # first key. (SQLite's write transactions are serialized already.)
        session.one(session.dialect.change_log_lock_sql)
    before = {record.kid: record for record in _all(session)}
    writes = decide(list(before.values()))
    now = datetime.now(UTC)
    for record in writes:
        old = before.get(record.kid)
        params = _params(session, record)
        if old is None:
            session.run(_INSERT, params)
            kind = ChangeKind.KEY_ADDED
        else:
            session.run(_UPDATE, params)
            retired = old.retired_at is None and record.retired_at is not None
            kind = ChangeKind.KEY_RETIRED if retired else ChangeKind.KEY_CHANGED
        append_change(session, KEY_SUBJECT_PREFIX + record.kid, kind, now)
    return writes


def _params(session: Session, record: KeyRecord) -> dict[str, Any]:
    return {
        "kid": record.kid,
        "algorithm": record.algorithm,
        "public_jwk": None if record.public_jwk is None else json.dumps(record.public_jwk),
        "private_key": record.sealed_private,
        "created_at": _to_db(session, record.created_at),
        "activates_at": _to_db(session, record.activates_at),
        "deactivates_at": _to_db(session, record.deactivates_at),
        "retired_at": _to_db(session, record.retired_at),
    }


def _record(session: Session, row: Row) -> KeyRecord:
    return KeyRecord(
        kid=row[0],
        algorithm=row[1],
        public_jwk=None if row[2] is None else json.loads(row[2]),
        sealed_private=None if row[3] is None else bytes(row[3]),
        created_at=_from_db(session, row[4]),
        activates_at=_from_db(session, row[5]),
        deactivates_at=_from_db(session, row[6]),
        retired_at=_from_db(session, row[7]),
    )


def _to_db(session: Session, seconds: Any) -> Any:
    return None if seconds is None else session.to_db_time(datetime.fromtimestamp(seconds, UTC))


def _from_db(session: Session, value: Any) -> Any:
    stamp = session.from_db_time(value)
    return None if stamp is None else stamp.timestamp()
