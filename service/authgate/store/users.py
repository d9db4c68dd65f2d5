"""UserStore: the only code that sees password hashes; they never leave this module."""

from __future__ import annotations

from datetime import UTC, datetime

from authgate.core import passwords
from authgate.core.errors import AuthError, Reason
from authgate.core.users import User, new_user_id, normalize_email
from authgate.store.change_log import ChangeKind, append_change
from authgate.store.connection_threads import DuplicateRow
from authgate.store.database import Database
from authgate.store.session import Row, Session

# The columns a User is built from (every one but the hash), in the order `user_from_row`
# reads them; every statement below returns them. (noqa S608: the only text put into these
# statements is this constant; every value is a bound parameter.)
_USER_COLUMNS = "id, email, is_active, is_staff, created_at, last_login, token_version"
_SELECT_USER = f"SELECT {_USER_COLUMNS} FROM users WHERE id = :id"  # noqa: S608
_SELECT_LOGIN = (
    f"SELECT {_USER_COLUMNS}, password_hash"  # noqa: S608
    " FROM users WHERE email = :email"
)
_SELECT_PAGE = (
    f"SELECT {_USER_COLUMNS} FROM users"  # noqa: S608
    " WHERE id > :after ORDER BY id LIMIT :limit"
)
_SELECT_PAGE_OF_ONE = (
    f"SELECT {_USER_COLUMNS} FROM users"  # noqa: S608
    " WHERE id > :after AND id = :only ORDER BY id LIMIT :limit"
)
_REPLACE_HASH = (
    "UPDATE users SET password_hash = :hash, token_version = token_version + 1"  # noqa: S608
    f" WHERE email = :email RETURNING {_USER_COLUMNS}"
)
_SET_ACTIVE = (
    "UPDATE users SET is_active = :active WHERE email = :email"  # noqa: S608
    f" RETURNING {_USER_COLUMNS}"
)


class UserStore:
    def __init__(self, database: Database) -> None:
        self.database = database

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
        try:
            await self.database.write(insert_user, user, password_hash)
        except DuplicateRow as error:
            raise AuthError(
                Reason.ALREADY_EXISTS, "A user with that email already exists."
            ) from error
        return user

    async def verify_credentials(self, email: str, password: str) -> User | None:
        """The active user with this email and password, or None.

        One argon2 verification runs whatever the outcome, so an unknown email, a wrong
        password and an inactive user take the same time; while Django hashes remain, every
        failure also does the work of the most costly of them (`passwords.spend_failure`).
        An imported user's Django hash is replaced by argon2id at their first login.
        """
        found, legacy_cost = await self.database.read(_login_row, normalize_email(email))
        if found is None:
            await passwords.spend_failure(password, None, legacy_cost)
            return None
        user, password_hash = found
        if not await passwords.verify_password(password_hash, password) or not user.is_active:
            await passwords.spend_failure(password, password_hash, legacy_cost)
            return None
        if passwords.needs_rehash(password_hash):
            new_hash = await passwords.hash_password(password)
            await self.database.write(_store_hash, user.id, new_hash)
        return user

    async def set_password(self, email: str, password: str) -> User | None:
        """Store a new password and revoke every token issued under the old one."""
        password_hash = await passwords.hash_password(password)
        return await self.database.write(_replace_hash, normalize_email(email), password_hash)

    async def bump_token_version(self, user_id: str) -> None:
        """Revoke every token issued to the user so far (they carry the old version)."""
        await self.database.write(_bump_token_version, user_id)

    async def get(self, user_id: str) -> User | None:
        return await self.database.read(fetch_user, user_id)

    async def page(self, *, after_id: str, limit: int, only_id: str | None = None) -> list[User]:
        """Users ordered by id after `after_id` (keyset pagination: no OFFSET scans)."""
        return await self.database.read(_page, after_id, limit, only_id)

    async def set_active(self, email: str, active: bool) -> User | None:
        return await self.database.write(_set_active, normalize_email(email), active)

    async def update_flags(
        self, user_id: str, *, is_active: bool | None, is_staff: bool | None
    ) -> User | None:
        """Set the flags given (None: leave as is); the user as updated, or None."""
        return await self.database.write(_update_flags, user_id, is_active, is_staff)

    async def delete(self, user_id: str) -> bool:
        """Delete a user (their refresh tokens go with them: ON DELETE CASCADE)."""
        return await self.database.write(_delete, user_id)

    async def record_login(self, user_id: str, when: datetime) -> None:
        await self.database.write(write_last_login, user_id, when)

    async def count(self) -> int:
        return await self.database.read(_count)

    async def ping(self) -> None:
        """Raise AuthError(UNAVAILABLE) unless the database answers."""
        await self.database.read(_ping)


# The operations, each run whole on a database thread.


def fetch_user(session: Session, user_id: str) -> User | None:
    row = session.one(_SELECT_USER, {"id": user_id})
    return None if row is None else user_from_row(session, row)


def user_from_row(session: Session, row: Row) -> User:
    return User(
        id=row[0],
        email=row[1],
        is_active=bool(row[2]),
        is_staff=bool(row[3]),
        created_at=session.from_db_time(row[4]),
        last_login=session.from_db_time(row[5]),
        token_version=int(row[6]),
    )


def insert_user(session: Session, user: User, password_hash: str) -> None:
    """Insert `user`, with the change-log row every list of users now shows it by."""
    session.run(
        "INSERT INTO users (id, email, password_hash, is_active, is_staff, created_at,"
        " last_login, token_version)"
        " VALUES (:id, :email, :hash, :is_active, :is_staff, :created_at, NULL, 0)",
        {
            "id": user.id,
            "email": user.email,
            "hash": password_hash,
            "is_active": user.is_active,
            "is_staff": user.is_staff,
            "created_at": session.to_db_time(user.created_at),
        },
    )
    _log(session, user.id, ChangeKind.USER_CREATED)


def _login_row(session: Session, email: str) -> tuple[tuple[User, str] | None, int]:
    """The user and hash (or None), and the work of the costliest Django hash left (or 0)."""
    row = session.one(_SELECT_LOGIN, {"email": email})
    legacy = session.one("SELECT max(legacy_cost) FROM django_users")
    legacy_cost = 0 if legacy is None or legacy[0] is None else int(legacy[0])
    return (None if row is None else (user_from_row(session, row), row[7])), legacy_cost


def _store_hash(session: Session, user_id: str, password_hash: str) -> None:
    session.run(
        "UPDATE users SET password_hash = :hash WHERE id = :id",
        {"id": user_id, "hash": password_hash},
    )
    _forget_django_hash(session, user_id)


def _forget_django_hash(session: Session, user_id: str) -> None:
    """The user's Django hash (if imported) is gone: failed logins need not match it now."""
    session.run("UPDATE django_users SET legacy_cost = NULL WHERE user_id = :id", {"id": user_id})


def _replace_hash(session: Session, email: str, password_hash: str) -> User | None:
    row = session.one(_REPLACE_HASH, {"email": email, "hash": password_hash})
    if row is None:
        return None
    user = user_from_row(session, row)
    _forget_django_hash(session, user.id)
    _log(session, user.id, ChangeKind.PASSWORD_SET, user.token_version)
    return user


def _bump_token_version(session: Session, user_id: str) -> None:
    row = session.one(
        "UPDATE users SET token_version = token_version + 1 WHERE id = :id RETURNING token_version",
        {"id": user_id},
    )
    if row is not None:
        _log(session, user_id, ChangeKind.TOKENS_REVOKED, int(row[0]))


def _log(session: Session, user_id: str, kind: ChangeKind, version: int | None = None) -> None:
    append_change(session, user_id, kind, datetime.now(UTC), version)


def _activation(active: bool) -> ChangeKind:
    return ChangeKind.USER_ACTIVATED if active else ChangeKind.USER_DEACTIVATED


def _page(session: Session, after_id: str, limit: int, only_id: str | None) -> list[User]:
    rows = session.all(
        _SELECT_PAGE if only_id is None else _SELECT_PAGE_OF_ONE,
        {"after": after_id, "only": only_id, "limit": limit},
    )
    return [user_from_row(session, row) for row in rows]


def _set_active(session: Session, email: str, active: bool) -> User | None:
    row = session.one(_SET_ACTIVE, {"email": email, "active": active})
    if row is None:
        return None
    user = user_from_row(session, row)
    _log(session, user.id, _activation(active))
    return user


def _update_flags(
    session: Session, user_id: str, is_active: bool | None, is_staff: bool | None
) -> User | None:
    row = session.one(
        "UPDATE users SET is_active = COALESCE(:active, is_active),"  # noqa: S608
        " is_staff = COALESCE(:staff, is_staff)"
        f" WHERE id = :id RETURNING {_USER_COLUMNS}",
        {"id": user_id, "active": is_active, "staff": is_staff},
    )
    if row is None:
        return None
    if is_active is not None:
        _log(session, user_id, _activation(is_active))
    if is_staff is not None:
        _log(session, user_id, ChangeKind.SCOPES_CHANGED)
    return user_from_row(session, row)


def _delete(session: Session, user_id: str) -> bool:
    if session.run("DELETE FROM users WHERE id = :id", {"id": user_id}) == 0:
        return False
    _log(session, user_id, ChangeKind.USER_DELETED)
    return True


def write_last_login(session: Session, user_id: str, when: datetime) -> None:
    # A list of users shows last_login: the row keeps cached pages true (core/user_pages.py).
    updated = session.run(
        "UPDATE users SET last_login = :when WHERE id = :id",
        {"id": user_id, "when": session.to_db_time(when)},
    )
    if updated:
        _log(session, user_id, ChangeKind.LOGGED_IN)


def _count(session: Session) -> int:
    row = session.one("SELECT count(*) FROM users")
    return 0 if row is None else int(row[0])


def _ping(session: Session) -> None:
    session.one("SELECT 1")
