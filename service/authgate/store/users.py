"""UserStore: the only code that sees password hashes; they never leave this module."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .. import passwords
from ..users import User, new_user_id, normalize_email
from .database import bounded, connect
from .schema import users

# Every column but the hash: what a User is built from.
_PUBLIC_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.is_active,
    users.c.is_staff,
    users.c.created_at,
    users.c.last_login,
    users.c.token_version,
)


class UserStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _connect(self, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return connect(self.engine, write=write)

    async def create_user(
        self, email: str, password: str, *, is_staff: bool = False, is_active: bool = True
    ) -> User:
        password_hash = await passwords.hash_password(password)
        user = User(
            id=new_user_id(),
            email=normalize_email(email),
            is_active=is_active,
            is_staff=is_staff,
            created_at=datetime.now(UTC),
            last_login=None,
        )
        await self._insert(user, password_hash)
        return user

    @bounded
    async def _insert(self, user: User, password_hash: str) -> None:
        async with self._connect(write=True) as connection:
            await connection.execute(
                users.insert().values(
                    id=user.id,
                    email=user.email,
                    password_hash=password_hash,
                    is_active=user.is_active,
                    is_staff=user.is_staff,
                    created_at=user.created_at,
                    last_login=None,
                    token_version=0,
                )
            )

    async def verify_credentials(self, email: str, password: str) -> User | None:
        """The active user with this email and password, or None.

        One argon2 verification runs whatever the outcome, so an unknown email, a wrong
        password and an inactive user take the same time.
        """
        row = await self._login_row(email)
        if row is None:
            await passwords.verify_against_dummy(password)
            return None
        if not await passwords.verify_password(row.password_hash, password):
            return None
        if not row.is_active:
            return None
        if passwords.needs_rehash(row.password_hash):
            await self._store_hash(row.id, await passwords.hash_password(password))
        return _user(row)

    @bounded
    async def _login_row(self, email: str) -> Any:
        query = sa.select(*_PUBLIC_COLUMNS, users.c.password_hash).where(
            users.c.email == normalize_email(email)
        )
        async with self._connect() as connection:
            return (await connection.execute(query)).first()

    @bounded
    async def _store_hash(self, user_id: str, password_hash: str) -> None:
        async with self._connect(write=True) as connection:
            await connection.execute(
                users.update().where(users.c.id == user_id).values(password_hash=password_hash)
            )

    async def set_password(self, email: str, password: str) -> User | None:
        """Store a new password and revoke every token issued under the old one."""
        return await self._replace_hash(email, await passwords.hash_password(password))

    @bounded
    async def _replace_hash(self, email: str, password_hash: str) -> User | None:
        async with self._connect(write=True) as connection:
            row = (
                await connection.execute(
                    users.update()
                    .where(users.c.email == normalize_email(email))
                    .values(password_hash=password_hash, token_version=users.c.token_version + 1)
                    .returning(*_PUBLIC_COLUMNS)
                )
            ).first()
        return None if row is None else _user(row)

    @bounded
    async def bump_token_version(self, user_id: str) -> None:
        """Revoke every token issued to the user so far (they carry the old version)."""
        async with self._connect(write=True) as connection:
            await connection.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(token_version=users.c.token_version + 1)
            )

    @bounded
    async def get(self, user_id: str) -> User | None:
        async with self._connect() as connection:
            row = (
                await connection.execute(sa.select(*_PUBLIC_COLUMNS).where(users.c.id == user_id))
            ).first()
        return None if row is None else _user(row)

    @bounded
    async def page(self, *, after_id: str, limit: int, only_id: str | None = None) -> list[User]:
        """Users ordered by id after `after_id` (keyset pagination: no OFFSET scans)."""
        query = sa.select(*_PUBLIC_COLUMNS).order_by(users.c.id).limit(limit)
        if after_id:
            query = query.where(users.c.id > after_id)
        if only_id is not None:
            query = query.where(users.c.id == only_id)
        async with self._connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_user(row) for row in rows]

    @bounded
    async def set_active(self, email: str, active: bool) -> User | None:
        async with self._connect(write=True) as connection:
            row = (
                await connection.execute(
                    users.update()
                    .where(users.c.email == normalize_email(email))
                    .values(is_active=active)
                    .returning(*_PUBLIC_COLUMNS)
                )
            ).first()
        return None if row is None else _user(row)

    @bounded
    async def record_login(self, user_id: str, when: datetime) -> None:
        async with self._connect(write=True) as connection:
            await connection.execute(
                users.update().where(users.c.id == user_id).values(last_login=when)
            )

    @bounded
    async def count(self) -> int:
        async with self._connect() as connection:
            return int(
                (
                    await connection.execute(sa.select(sa.func.count()).select_from(users))
                ).scalar_one()
            )

    @bounded
    async def ping(self) -> None:
        """Raise AuthError(UNAVAILABLE) unless the database answers."""
        async with self._connect() as connection:
            await connection.execute(sa.text("SELECT 1"))


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every value we store is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        is_active=bool(row.is_active),
        is_staff=bool(row.is_staff),
        created_at=_utc(row.created_at),  # type: ignore[arg-type]
        last_login=_utc(row.last_login),
        token_version=int(row.token_version),
    )
