"""The registry of issued refresh tokens: revocation, single use under rotation, families."""

from __future__ import annotations

import enum
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .database import bounded, connect
from .schema import refresh_tokens


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
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _connect(self, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return connect(self.engine, write=write)

    @bounded
    async def register(self, jti: str, family_id: str, user_id: str, expires_at: datetime) -> None:
        async with self._connect(write=True) as connection:
            await connection.execute(
                refresh_tokens.insert().values(
                    jti=jti, family_id=family_id, user_id=user_id, expires_at=expires_at
                )
            )

    @bounded
    async def lookup(self, jti: str) -> RegisteredToken:
        query = sa.select(
            refresh_tokens.c.family_id, refresh_tokens.c.spent_at, refresh_tokens.c.revoked_at
        ).where(refresh_tokens.c.jti == jti)
        async with self._connect() as connection:
            row = (await connection.execute(query)).first()
        return _registered(row)

    @bounded
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
        async with self._connect(write=True) as connection:
            spent = await connection.execute(
                refresh_tokens.update()
                .where(
                    refresh_tokens.c.jti == jti,
                    refresh_tokens.c.spent_at.is_(None),
                    refresh_tokens.c.revoked_at.is_(None),
                )
                .values(spent_at=now)
                .returning(refresh_tokens.c.family_id)
            )
            row = spent.first()
            if row is not None:
                await connection.execute(
                    refresh_tokens.insert().values(
                        jti=successor,
                        family_id=row.family_id,
                        user_id=user_id,
                        expires_at=expires_at,
                    )
                )
                return RegisteredToken(TokenState.LIVE, row.family_id)
        return await self.lookup(jti)

    async def revoke(self, jti: str, now: datetime) -> None:
        await self._revoke_where(refresh_tokens.c.jti == jti, now)

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        await self._revoke_where(refresh_tokens.c.family_id == family_id, now)

    async def revoke_user(self, user_id: str, now: datetime) -> None:
        await self._revoke_where(refresh_tokens.c.user_id == user_id, now)

    @bounded
    async def _revoke_where(self, condition: sa.ColumnElement[bool], now: datetime) -> None:
        async with self._connect(write=True) as connection:
            await connection.execute(
                refresh_tokens.update()
                .where(condition, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    @bounded
    async def purge_expired(self, now: datetime) -> int:
        """Forget tokens past their expiry: their signature check refuses them anyway."""
        async with self._connect(write=True) as connection:
            result = await connection.execute(
                refresh_tokens.delete().where(refresh_tokens.c.expires_at < now)
            )
        return int(result.rowcount or 0)


def _registered(row: sa.Row | None) -> RegisteredToken:  # type: ignore[type-arg]
    if row is None:
        return RegisteredToken(TokenState.UNKNOWN)
    spent_at = row.spent_at
    if spent_at is not None and spent_at.tzinfo is None:
        spent_at = spent_at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    if row.revoked_at is not None:
        return RegisteredToken(TokenState.REVOKED, row.family_id, spent_at)
    if spent_at is not None:
        return RegisteredToken(TokenState.SPENT, row.family_id, spent_at)
    return RegisteredToken(TokenState.LIVE, row.family_id)
