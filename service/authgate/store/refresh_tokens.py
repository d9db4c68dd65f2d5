"""The registry of issued refresh tokens: revocation, single use under rotation, families."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from authgate.core.users import User
from authgate.store.change_log import ChangeKind, append_change
from authgate.store.database import Database
from authgate.store.session import Row, Session
from authgate.store.users import fetch_user, write_last_login


class TokenState(enum.Enum):
    UNKNOWN = "unknown"  # never registered (or purged after expiry)
    LIVE = "live"
    SPENT = "spent"
    REVOKED = "revoked"


@dataclass(frozen=True)
class RegisteredToken:
    state: TokenState
    family_id: str = ""
    spent_at: datetime | None = None


class RefreshTokenRegistry:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def register(self, jti: str, family_id: str, user_id: str, expires_at: datetime) -> None:
        await self.database.write(_register, jti, family_id, user_id, expires_at)

    async def register_login(
        self, jti: str, user_id: str, expires_at: datetime, logged_in_at: datetime
    ) -> None:
        """Record a login and register the first token of its new family, in one transaction
        (one trip to the store and one commit, where two writes took two of each)."""
        await self.database.write(_register_login, jti, user_id, expires_at, logged_in_at)

    async def lookup_with_holder(
        self, jti: str, user_id: str
    ) -> tuple[User | None, RegisteredToken]:
        """The token's state and the user it was issued to, in one trip to the database."""
        return await self.database.read(_lookup_with_holder, jti, user_id)

    async def rotate(
        self, jti: str, successor: str, user_id: str, expires_at: datetime, now: datetime
    ) -> RegisteredToken:
        """Spend a live token and register its successor in one transaction.

        The spend is one conditional UPDATE, never read-then-write, so of many concurrent
        callers exactly one wins. Registering the successor in the same transaction means a
        reuse detected by a loser (who can only see the spend once committed) revokes the
        successor too. Returns LIVE when this call spent the token; otherwise what the token
        already was, and nothing is written.
        """
        return await self.database.write(_rotate, jti, successor, user_id, expires_at, now)

    async def revoke(self, jti: str, now: datetime) -> None:
        await self.database.write(_revoke_where, _REVOKE_ONE, jti, now, ChangeKind.REFRESH_REVOKED)

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        """Revoke every token descended from one login: a spent one came back (reuse)."""
        await self.database.write(
            _revoke_where, _REVOKE_FAMILY, family_id, now, ChangeKind.REFRESH_REUSE_DETECTED
        )

    async def revoke_user(self, user_id: str, now: datetime) -> None:
        await self.database.write(
            _revoke_where, _REVOKE_USER, user_id, now, ChangeKind.REFRESH_REVOKED
        )

    async def purge_expired(self, now: datetime) -> int:
        """Forget tokens past their expiry: their signature check refuses them anyway."""
        return await self.database.write(_purge_expired, now)


# The operations, each run whole on a database thread.


def _register(
    session: Session, jti: str, family_id: str, user_id: str, expires_at: datetime
) -> None:
    session.run(
        "INSERT INTO refresh_tokens (jti, family_id, user_id, expires_at)"
        " VALUES (:jti, :family, :user, :expires)",
        {
            "jti": jti,
            "family": family_id,
            "user": user_id,
            "expires": session.to_db_time(expires_at),
        },
    )


def _register_login(
    session: Session, jti: str, user_id: str, expires_at: datetime, logged_in_at: datetime
) -> None:
    write_last_login(session, user_id, logged_in_at)
    _register(session, jti, jti, user_id, expires_at)


def _lookup(session: Session, jti: str) -> RegisteredToken:
    row = session.one(
        "SELECT family_id, spent_at, revoked_at FROM refresh_tokens WHERE jti = :jti",
        {"jti": jti},
    )
    return _registered(session, row)


def _lookup_with_holder(
    session: Session, jti: str, user_id: str
) -> tuple[User | None, RegisteredToken]:
    return fetch_user(session, user_id), _lookup(session, jti)


def _rotate(
    session: Session, jti: str, successor: str, user_id: str, expires_at: datetime, now: datetime
) -> RegisteredToken:
    spent = session.one(
        "UPDATE refresh_tokens SET spent_at = :now"
        " WHERE jti = :jti AND spent_at IS NULL AND revoked_at IS NULL RETURNING family_id",
        {"jti": jti, "now": session.to_db_time(now)},
    )
    if spent is None:
        return _lookup(session, jti)
    _register(session, successor, spent[0], user_id, expires_at)
    return RegisteredToken(TokenState.LIVE, spent[0])


_REVOKE = "UPDATE refresh_tokens SET revoked_at = :now WHERE revoked_at IS NULL AND "
_REVOKE_ONE = _REVOKE + "jti = :key RETURNING user_id"
_REVOKE_FAMILY = _REVOKE + "family_id = :key RETURNING user_id"
_REVOKE_USER = _REVOKE + "user_id = :key RETURNING user_id"


def _revoke_where(
    session: Session, statement: str, key: str, now: datetime, kind: ChangeKind
) -> None:
    """Revoke the tokens `statement` picks; one change-log row per user whose tokens it took
    (none when it took none: nothing changed)."""
    rows = session.all(statement, {"key": key, "now": session.to_db_time(now)})
    for user_id in sorted({row[0] for row in rows}):
        append_change(session, user_id, kind, now)


def _purge_expired(session: Session, now: datetime) -> int:
    return session.run(
        "DELETE FROM refresh_tokens WHERE expires_at < :now", {"now": session.to_db_time(now)}
    )


def _registered(session: Session, row: Row | None) -> RegisteredToken:
    if row is None:
        return RegisteredToken(TokenState.UNKNOWN)
    family_id, spent_at, revoked_at = row[0], session.from_db_time(row[1]), row[2]
    if revoked_at is not None:
        return RegisteredToken(TokenState.REVOKED, family_id, spent_at)
    if spent_at is not None:
        return RegisteredToken(TokenState.SPENT, family_id, spent_at)
    return RegisteredToken(TokenState.LIVE, family_id)
