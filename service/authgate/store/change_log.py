"""The change log: one append-only row for every write that changes whether a subject's tokens
are good, or what a list of users shows, appended in that write's own transaction.

Every serving process tails it by `seq` to keep its caches true (`store/change_tail.py`), and
`seq` is a resumable cursor: a reader that has applied every row up to `seq` asks for the rows
after it. `seq` is strictly increasing in commit order. On SQLite writers are serialized by
the database, and AUTOINCREMENT never reuses a number. On PostgreSQL a sequence hands numbers
out in the order transactions ask, not the order they commit, so a reader could pass over a
number that commits later; every appending transaction therefore takes one advisory lock, held
until it commits, and numbers are taken and committed in one order. Those writes are operator
actions, revocations and logins. Logins are the many: on this project's 2-core benchmark VM a
login's `last_login` write with its row took 0.5 ms longer than without it (p50 1.0 against
0.5 ms) and 0.4 ms more CPU in the process (the write, and its tail reading the row), next to
20 ms of argon2 per login; the lock lets one appender commit at a time, about 1,000 a second
there, against 4,000 bare updates 8 at a time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authgate.store.database import Database
from authgate.store.session import Session

# How many rows one catch-up reads; a reader that gets this many asks again at once.
BATCH = 500
# Rows only a list of users reads (a user created, a login) matter to a tail for seconds: one
# behind for longer than 10 s forgets every cache (core/change_follower.py). Logins are most
# rows, so they go after this, not after the longest token lifetime (a day by default; at 80
# logins a second, 7 million rows).
LIST_ONLY_KEPT = timedelta(minutes=10)


class ChangeKind(enum.Enum):
    USER_DEACTIVATED = "user_deactivated"
    USER_ACTIVATED = "user_activated"
    USER_DELETED = "user_deleted"
    PASSWORD_SET = "password_set"  # noqa: S105 (a kind of change, not a password)
    TOKENS_REVOKED = "tokens_revoked"  # logout everywhere
    SCOPES_CHANGED = "scopes_changed"  # staff granted or taken away
    CLIENT_DEACTIVATED = "client_deactivated"
    CLIENT_ACTIVATED = "client_activated"
    CLIENT_SECRET_ROTATED = "client_secret_rotated"  # noqa: S105 (a kind of change)
    REFRESH_REVOKED = "refresh_revoked"  # one refresh token, or every one of the subject's
    REFRESH_REUSE_DETECTED = "refresh_reuse_detected"  # a spent token came back: its family
    # Signing keys (subject `key:<kid>`): every process reloads its key set.
    KEY_ADDED = "key_added"
    KEY_CHANGED = "key_changed"  # its signing dates moved (a rotation)
    KEY_RETIRED = "key_retired"
    # Changes only a list of users shows (the page cache, core/user_pages.py):
    USER_CREATED = "user_created"
    LOGGED_IN = "logged_in"  # last_login set


# The kinds no cache but the page cache reads: pruned sooner, and not in the revocation feed.
LIST_ONLY_KINDS = frozenset({ChangeKind.USER_CREATED, ChangeKind.LOGGED_IN})


@dataclass(frozen=True)
class Change:
    seq: int
    subject: str  # a user id, a client id, or `key:` and a signing key's kid
    kind: ChangeKind
    # The subject's token version after the change, where it has one (a user's).
    version: int | None
    at: datetime  # tokens of the subject issued before this may be affected


def append_change(
    session: Session, subject: str, kind: ChangeKind, at: datetime, version: int | None = None
) -> int:
    """Append a row in the caller's transaction; its `seq`. Call it last in the transaction:
    on PostgreSQL it holds the log's lock until the commit."""
    dialect = session.dialect
    if dialect.change_log_lock_sql:
        session.one(dialect.change_log_lock_sql)
    row = session.one(
        "INSERT INTO changes (subject, kind, version, at)"
        " VALUES (:subject, :kind, :version, :at) RETURNING seq",
        {"subject": subject, "kind": kind.value, "version": version, "at": session.to_db_time(at)},
    )
    assert row is not None  # INSERT ... RETURNING returns the row it wrote
    seq = int(row[0])
    if dialect.change_notify_sql:
        # PostgreSQL delivers a NOTIFY at commit, and never for a transaction that rolls back.
        session.one(dialect.change_notify_sql, {"seq": str(seq)})
    session.changed_subjects.append(subject)
    return seq


def changes_after(session: Session, seq: int, limit: int = BATCH) -> list[Change]:
    """The rows after `seq`, oldest first, at most `limit` (one range read on the key)."""
    rows = session.all(
        "SELECT seq, subject, kind, version, at FROM changes WHERE seq > :seq"
        " ORDER BY seq LIMIT :limit",
        {"seq": seq, "limit": limit},
    )
    return [
        Change(int(r[0]), r[1], ChangeKind(r[2]), r[3], session.from_db_time(r[4])) for r in rows
    ]


def last_seq(session: Session) -> int:
    """The newest `seq` written (0 for an empty log)."""
    row = session.one("SELECT max(seq) FROM changes")
    return 0 if row is None or row[0] is None else int(row[0])


def prune_changes(session: Session, before: datetime, now: datetime | None = None) -> int:
    """Drop rows older than `before` (the longest token lifetime ago: every token they could
    affect has expired), and rows only a list of users reads once LIST_ONLY_KEPT old; the
    newest row always stays, so `seq` never goes back."""
    list_only_before = (now or datetime.now(UTC)) - LIST_ONLY_KEPT
    return session.run(
        "DELETE FROM changes WHERE (at < :before OR (kind IN (:created, :login)"
        " AND at < :list_only_before)) AND seq < (SELECT max(seq) FROM changes)",
        {
            "before": session.to_db_time(before),
            "list_only_before": session.to_db_time(list_only_before),
            "created": ChangeKind.USER_CREATED.value,
            "login": ChangeKind.LOGGED_IN.value,
        },
    )


class ChangeLog:
    """The log as a reader outside the store sees it: rows after a cursor, and the cursor's
    bounds (the revocation feed streams it to verifiers outside AuthGate)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def after(self, seq: int, limit: int = BATCH) -> list[Change]:
        return await self.database.read(changes_after, seq, limit)

    async def bounds(self) -> tuple[int, int]:
        """(the oldest `seq` kept, the newest written); (0, 0) for an empty log."""
        return await self.database.read(_bounds)


def _bounds(session: Session) -> tuple[int, int]:
    row = session.one("SELECT min(seq), max(seq) FROM changes")
    if row is None or row[0] is None:
        return 0, 0
    return int(row[0]), int(row[1])
