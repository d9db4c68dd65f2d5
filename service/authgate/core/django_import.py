"""`authgate users import-django`: a dumpdata file's users, in batches of one transaction each.

Every record is checked before the first write (core/django_records.py). Nothing is hashed
here: each user keeps their Django hash until their first login rehashes it, so 100,000 users
import in seconds rather than the hours argon2id would take at 32 ms a hash.
"""

from __future__ import annotations

from collections.abc import Callable

from authgate.core.audit import audit
from authgate.core.django_records import read_dump
from authgate.store.django_users import DjangoUserMap, ImportCounts

# Users per transaction: each batch is a few statements (psycopg pipelines the executemany),
# well inside the store's 6 s operation deadline.
BATCH_SIZE = 1000

Progress = Callable[[int, int], None]


async def import_django_users(
    users: DjangoUserMap,
    dump: str,
    *,
    username_as_email: bool = False,
    progress: Progress | None = None,
) -> ImportCounts:
    """Create or update every user of `dump`; how many were created, updated and skipped.

    Importing again is idempotent: a user already imported (by Django pk) with the same
    fields is skipped, one whose fields changed is updated.
    """
    records = read_dump(dump, username_as_email=username_as_email)
    counts = ImportCounts()
    for start in range(0, len(records), BATCH_SIZE):
        counts += await users.import_batch(records[start : start + BATCH_SIZE])
        if progress is not None:
            progress(min(start + BATCH_SIZE, len(records)), len(records))
    audit(
        "users_imported",
        reason=f"django: {counts.created} created, {counts.updated} updated,"
        f" {counts.skipped} skipped",
    )
    return counts
