"""Users imported from Django: the mapping from each one's Django pk to an AuthGate user.

A batch of the import is one transaction: every user of it is created or updated, or none is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authgate.core.django_records import BadRecord, DjangoUser
from authgate.core.users import User, new_user_id
from authgate.store.change_log import ChangeKind, append_change
from authgate.store.database import Database
from authgate.store.session import Session
from authgate.store.users import user_from_row

# (noqa S608: what is put into these statements is column names and `:pN` placeholders.)
_HOLDER = (
    "SELECT u.id, u.email, u.is_active, u.is_staff, u.created_at, u.last_login,"
    " u.token_version, d.token_version"
    " FROM django_users d JOIN users u ON u.id = d.user_id WHERE d.django_pk = :pk"
)
_MAPPED = (
    "SELECT d.django_pk, u.id, u.email, u.password_hash, u.is_active, u.is_staff,"
    " u.created_at, u.last_login, d.legacy_cost"
    " FROM django_users d JOIN users u ON u.id = d.user_id WHERE d.django_pk IN ({})"
)
_OWNERS = (
    "SELECT u.email, d.django_pk FROM users u LEFT JOIN django_users d ON d.user_id = u.id"
    " WHERE u.email IN ({})"
)
_INSERT_USER = (
    "INSERT INTO users (id, email, password_hash, is_active, is_staff, created_at, last_login,"
    " token_version) VALUES (:id, :email, :hash, :active, :staff, :joined, :last_login, 0)"
)
_INSERT_MAPPING = (
    "INSERT INTO django_users (django_pk, user_id, token_version, legacy_cost)"
    " VALUES (:pk, :id, 0, :cost)"
)
_UPDATE_USER = (
    "UPDATE users SET email = :email, password_hash = :hash, is_active = :active,"
    " is_staff = :staff, created_at = :joined, last_login = :last_login WHERE id = :id"
)
_UPDATE_COST = "UPDATE django_users SET legacy_cost = :cost WHERE django_pk = :pk"


@dataclass(frozen=True)
class ImportCounts:
    created: int = 0
    updated: int = 0
    skipped: int = 0

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.skipped + other.skipped,
        )


class DjangoUserMap:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def holder(self, django_pk: str) -> tuple[User, int] | None:
        """The user imported with this Django pk, and their token version at import."""
        return await self.database.read(_holder, django_pk)

    async def import_batch(self, users: Sequence[DjangoUser]) -> ImportCounts:
        """Create the new users, update the changed ones; all of the batch, or none of it."""
        return await self.database.write(_import_batch, users)


def _holder(session: Session, django_pk: str) -> tuple[User, int] | None:
    row = session.one(_HOLDER, {"pk": django_pk})
    return None if row is None else (user_from_row(session, row), int(row[7]))


def _in_list(values: Sequence[str]) -> tuple[str, dict[str, str]]:
    names = {f"p{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{name}" for name in names), names


def _import_batch(session: Session, users: Sequence[DjangoUser]) -> ImportCounts:
    placeholders, params = _in_list([user.django_pk for user in users])
    mapped = {row[0]: row for row in session.all(_MAPPED.format(placeholders), params)}
    placeholders, params = _in_list([user.email for user in users])
    owners = {row[0]: row[1] for row in session.all(_OWNERS.format(placeholders), params)}
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    costs: list[dict[str, Any]] = []
    revisions: list[tuple[str, ChangeKind]] = []
    for user in users:
        if user.email in owners and owners[user.email] != user.django_pk:
            raise BadRecord(user.label, f"{user.email} belongs to another AuthGate user")
        row = mapped.get(user.django_pk)
        if row is None:
            values = _values(session, new_user_id(), user, user.password_hash)
            new.append(values)
            costs.append({"pk": user.django_pk, "id": values["id"], "cost": user.legacy_cost})
            continue
        # A user who has logged in to AuthGate has an argon2id hash: AuthGate's is the newer.
        still_django = row[8] is not None
        password_hash = user.password_hash if still_django else row[3]
        # AuthGate's own last login, if later than Django's, stays; and a re-import may
        # deactivate a user, never reactivate one an operator deactivated here.
        stored_login = session.from_db_time(row[7])
        if stored_login is not None and (user.last_login is None or stored_login > user.last_login):
            user = dataclasses.replace(user, last_login=stored_login)
        user = dataclasses.replace(user, is_active=user.is_active and bool(row[4]))
        values = _values(session, row[1], user, password_hash)
        stored = (
            row[2],
            row[3],
            bool(row[4]),
            bool(row[5]),
            session.from_db_time(row[6]),
            session.from_db_time(row[7]),
        )
        if stored == _comparable(user, password_hash):
            continue
        changed.append(values)
        if still_django and password_hash != row[3]:
            costs.append({"pk": user.django_pk, "cost": user.legacy_cost})
        if user.is_active != bool(row[4]):
            kind = ChangeKind.USER_ACTIVATED if user.is_active else ChangeKind.USER_DEACTIVATED
            revisions.append((row[1], kind))
        if user.is_staff != bool(row[5]):
            revisions.append((row[1], ChangeKind.SCOPES_CHANGED))
    session.run_many(_INSERT_USER, new)
    session.run_many(_INSERT_MAPPING, [c for c in costs if "id" in c])
    session.run_many(_UPDATE_USER, changed)
    session.run_many(_UPDATE_COST, [c for c in costs if "id" not in c])
    for subject, kind in revisions:  # last: on PostgreSQL it holds the log's lock to commit
        append_change(session, subject, kind, datetime.now(UTC))
    skipped = len(users) - len(new) - len(changed)
    return ImportCounts(created=len(new), updated=len(changed), skipped=skipped)


def _values(session: Session, user_id: str, user: DjangoUser, password_hash: str) -> dict[str, Any]:
    last_login = user.last_login
    return {
        "id": user_id,
        "email": user.email,
        "hash": password_hash,
        "active": user.is_active,
        "staff": user.is_staff,
        "joined": session.to_db_time(user.date_joined),
        "last_login": None if last_login is None else session.to_db_time(last_login),
    }


def _comparable(user: DjangoUser, password_hash: str) -> tuple[Any, ...]:
    return (
        user.email,
        password_hash,
        user.is_active,
        user.is_staff,
        user.date_joined,
        user.last_login,
    )
