"""Django's `manage.py dumpdata` JSON of a user model, read and checked whole before any write.

A record is `{"model": "auth.user", "pk": 17, "fields": {"email", "password", "is_active",
"is_staff", "date_joined", "last_login", ...}}`; a custom user model with an email field reads
the same. Every record is checked first, so a bad one stops the import before anything is
written, with one line naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authgate.core import django_hashes
from authgate.core.errors import AuthError, Reason
from authgate.core.users import new_account_problems, normalize_email


@dataclass(frozen=True)
class DjangoUser:
    """One user of the dump, as AuthGate will hold it."""

    django_pk: str
    email: str  # normalized
    password_hash: str  # Django's, kept until the first login rehashes it
    legacy_cost: int  # its work in PBKDF2-SHA256 iterations (core/django_hashes.py)
    is_active: bool
    is_staff: bool
    date_joined: datetime
    last_login: datetime | None
    label: str  # how error lines name it: "record 3 (auth.user pk=17)"


class BadRecord(AuthError):
    """A record the import cannot take; the message names it."""

    def __init__(self, label: str, problem: str) -> None:
        super().__init__(Reason.INVALID_REQUEST, f"{label}: {problem}")


def read_dump(text: str, *, username_as_email: bool = False) -> list[DjangoUser]:
    """Every user of a dumpdata document; BadRecord at the first record that is not one."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise BadRecord("the file", f"not JSON ({error})") from None
    if not isinstance(document, list):
        raise BadRecord("the file", "not a dumpdata list of records")
    users: list[DjangoUser] = []
    pks: set[str] = set()
    emails: set[str] = set()
    model = ""
    for index, record in enumerate(document, start=1):
        if not isinstance(record, dict) or not isinstance(record.get("fields"), dict):
            raise BadRecord(f"record {index}", "not a dumpdata record (model, pk, fields)")
        model = model or str(record.get("model"))
        user = _user(
            record,
            f"record {index} ({record.get('model')} pk={record.get('pk')})",
            username_as_email,
        )
        if record.get("model") != model:
            raise BadRecord(user.label, f"another model than {model}: dump one user model")
        if user.django_pk in pks:
            raise BadRecord(user.label, "the same pk as an earlier record")
        if user.email in emails:
            raise BadRecord(user.label, f"the same email as an earlier record ({user.email})")
        pks.add(user.django_pk)
        emails.add(user.email)
        users.append(user)
    return users


def _user(record: dict[str, Any], label: str, username_as_email: bool) -> DjangoUser:
    fields: dict[str, Any] = record["fields"]
    pk = record.get("pk")
    if isinstance(pk, bool) or not isinstance(pk, int | str) or not str(pk) or len(str(pk)) > 64:
        raise BadRecord(label, "pk: expected an integer or a string of at most 64 characters")
    source = "username" if username_as_email else "email"
    raw_email = fields.get(source)
    if not isinstance(raw_email, str) or not raw_email.strip():
        hint = "" if username_as_email else " (--username-as-email takes the username)"
        raise BadRecord(label, f"{source}: missing or blank{hint}")
    if "email" in new_account_problems(raw_email, "x" * 8):
        raise BadRecord(label, f"{source}: not a valid email address")
    password = fields.get("password")
    if not isinstance(password, str) or not password:
        raise BadRecord(label, "password: missing (an unusable password is '!...' in Django)")
    try:
        parsed = django_hashes.parse(password)
    except django_hashes.UnsupportedHash as error:
        raise BadRecord(label, f"password: {error}") from None
    return DjangoUser(
        django_pk=str(pk),
        email=normalize_email(raw_email),
        password_hash=password,
        legacy_cost=parsed.cost,
        is_active=_flag(fields, "is_active", True, label),
        is_staff=_flag(fields, "is_staff", False, label),
        date_joined=_time(fields, "date_joined", label) or datetime.now(UTC),
        last_login=_time(fields, "last_login", label),
        label=label,
    )


def _flag(fields: dict[str, Any], name: str, default: bool, label: str) -> bool:
    value = fields.get(name, default)
    if not isinstance(value, bool):
        raise BadRecord(label, f"{name}: expected true or false")
    return value


def _time(fields: dict[str, Any], name: str, label: str) -> datetime | None:
    """A DjangoJSONEncoder time ("2025-05-01T12:34:56.789Z"); naive (USE_TZ=False) is UTC."""
    value = fields.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadRecord(label, f"{name}: expected an ISO 8601 time")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
