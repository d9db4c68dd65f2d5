"""Pruning the change log: revocations stay for the longest token lifetime, the rows only a
list of users reads (creations, logins) for minutes, and the newest row always."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from authgate.store.change_log import (
    LIST_ONLY_KEPT,
    ChangeKind,
    append_change,
    changes_after,
    prune_changes,
)
from authgate.store.session import Session

from unit_fixtures import open_store

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def write(session: Session, rows: list[tuple[str, ChangeKind, timedelta]]) -> None:
    for subject, kind, age in rows:
        append_change(session, subject, kind, NOW - age)


async def kept_after_prune(tmp_path: Path, rows: list[tuple[str, ChangeKind, timedelta]]):
    async with open_store(tmp_path) as store:
        database = store.database
        await database.write(write, rows)
        await database.write(prune_changes, NOW - DAY, NOW)
        return [row.subject for row in await database.read(changes_after, 0)]


async def test_rows_only_a_list_reads_go_after_minutes_revocations_after_the_lifetime(
    tmp_path: Path,
):
    old_list_only = LIST_ONLY_KEPT + timedelta(seconds=1)
    kept = await kept_after_prune(
        tmp_path,
        [
            ("revoked a day ago", ChangeKind.REFRESH_REVOKED, DAY + timedelta(seconds=1)),
            ("revoked an hour ago", ChangeKind.USER_DEACTIVATED, timedelta(hours=1)),
            ("created long ago", ChangeKind.USER_CREATED, old_list_only),
            ("logged in long ago", ChangeKind.LOGGED_IN, old_list_only),
            ("logged in just now", ChangeKind.LOGGED_IN, timedelta(seconds=30)),
        ],
    )
    assert kept == ["revoked an hour ago", "logged in just now"]


async def test_the_newest_row_stays_whatever_its_age(tmp_path: Path):
    kept = await kept_after_prune(
        tmp_path,
        [
            ("logged in long ago", ChangeKind.LOGGED_IN, LIST_ONLY_KEPT * 2),
            ("the newest, a login older still", ChangeKind.LOGGED_IN, DAY * 2),
        ],
    )
    assert kept == ["the newest, a login older still"]
