"""ClientStore: clients (service accounts) and their secrets' digests; no secret is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authgate.core.clients import Client, NewSecret, digest_matches, new_client_id, new_secret
from authgate.core.users import new_user_id
from authgate.store.change_log import ChangeKind, append_change
from authgate.store.database import Database
from authgate.store.session import Row, Session

_CLIENT_COLUMNS = "id, name, scopes, is_active, created_at"
_SELECT_CLIENT = f"SELECT {_CLIENT_COLUMNS} FROM clients WHERE id = :id"  # noqa: S608
_SELECT_CLIENTS = f"SELECT {_CLIENT_COLUMNS} FROM clients ORDER BY id"  # noqa: S608
_SET_ACTIVE = (
    "UPDATE clients SET is_active = :active WHERE id = :id"  # noqa: S608
    f" RETURNING {_CLIENT_COLUMNS}"
)
_LIVE_DIGESTS = (
    "SELECT digest FROM client_secrets WHERE client_id = :id"
    " AND (expires_at IS NULL OR expires_at > :now)"
)


class ClientStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, name: str, scopes: frozenset[str], now: datetime) -> NewSecret:
        """A new active client and its first secret (to be shown once)."""
        client = Client(new_client_id(), name.strip(), scopes, True, now)
        secret = new_secret(client.id)
        await self.database.write(_insert_client, client, secret)
        return secret

    async def get(self, client_id: str) -> Client | None:
        return await self.database.read(_fetch_client, client_id)

    async def all(self) -> list[Client]:
        return await self.database.read(_all_clients)

    async def verify_secret(self, client_id: str, secret: str, now: datetime) -> Client | None:
        """The active client whose live secrets include `secret`, or None."""
        found = await self.database.read(_client_and_digests, client_id, now)
        if found is None:
            digest_matches(secret, [""])  # the same work for an unknown id
            return None
        client, digests = found
        if not digest_matches(secret, digests) or not client.is_active:
            return None
        return client

    async def rotate_secret(
        self, client_id: str, keep_old: timedelta, now: datetime
    ) -> NewSecret | None:
        """A new secret; the current one keeps working for `keep_old`, then stops. Any older
        secret still overlapping stops now, so at most two are ever live. None: no client."""
        secret = new_secret(client_id)
        rotated = await self.database.write(_rotate, secret, now + keep_old, now)
        return secret if rotated else None

    async def set_active(self, client_id: str, active: bool) -> Client | None:
        return await self.database.write(_set_active, client_id, active)


# The operations, each run whole on a database thread.


def _client_from_row(session: Session, row: Row) -> Client:
    return Client(
        id=row[0],
        name=row[1],
        scopes=frozenset(row[2].split()),
        is_active=bool(row[3]),
        created_at=session.from_db_time(row[4]),
    )


def _insert_client(session: Session, client: Client, secret: NewSecret) -> None:
    session.run(
        "INSERT INTO clients (id, name, scopes, is_active, created_at)"
        " VALUES (:id, :name, :scopes, :is_active, :created_at)",
        {
            "id": client.id,
            "name": client.name,
            "scopes": " ".join(sorted(client.scopes)),
            "is_active": client.is_active,
            "created_at": session.to_db_time(client.created_at),
        },
    )
    _insert_secret(session, secret, client.created_at)


def _insert_secret(session: Session, secret: NewSecret, now: datetime) -> None:
    session.run(
        "INSERT INTO client_secrets (id, client_id, digest, created_at, expires_at)"
        " VALUES (:id, :client_id, :digest, :created_at, NULL)",
        {
            "id": new_user_id(),
            "client_id": secret.client_id,
            "digest": secret.digest,
            "created_at": session.to_db_time(now),
        },
    )


def _fetch_client(session: Session, client_id: str) -> Client | None:
    row = session.one(_SELECT_CLIENT, {"id": client_id})
    return None if row is None else _client_from_row(session, row)


def _all_clients(session: Session) -> list[Client]:
    return [_client_from_row(session, row) for row in session.all(_SELECT_CLIENTS)]


def _client_and_digests(
    session: Session, client_id: str, now: datetime
) -> tuple[Client, list[str]] | None:
    client = _fetch_client(session, client_id)
    if client is None:
        return None
    rows = session.all(_LIVE_DIGESTS, {"id": client_id, "now": session.to_db_time(now)})
    return client, [row[0] for row in rows]


def _rotate(session: Session, secret: NewSecret, old_until: datetime, now: datetime) -> bool:
    if session.one("SELECT id FROM clients WHERE id = :id", {"id": secret.client_id}) is None:
        return False
    params = {"id": secret.client_id}
    # A secret already on its way out stops now; the current one gets its overlap.
    session.run(
        "DELETE FROM client_secrets WHERE client_id = :id AND expires_at IS NOT NULL", params
    )
    if old_until > now:
        session.run(
            "UPDATE client_secrets SET expires_at = :until WHERE client_id = :id",
            {**params, "until": session.to_db_time(old_until)},
        )
    else:
        session.run("DELETE FROM client_secrets WHERE client_id = :id", params)
    _insert_secret(session, secret, now)
    append_change(session, secret.client_id, ChangeKind.CLIENT_SECRET_ROTATED, now)
    return True


def _set_active(session: Session, client_id: str, active: bool) -> Client | None:
    row = session.one(_SET_ACTIVE, {"id": client_id, "active": active})
    if row is None:
        return None
    kind = ChangeKind.CLIENT_ACTIVATED if active else ChangeKind.CLIENT_DEACTIVATED
    append_change(session, client_id, kind, datetime.now(UTC))
    return _client_from_row(session, row)
