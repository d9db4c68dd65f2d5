"""What one user lookup costs through the store as shipped, and through cheaper paths.

The same query as `UserStore.get` (the one every authenticated request and every refresh
makes), 30 callers at once, in this process: CPU time per lookup (all threads) and lookups
per second. As shipped, each store operation runs whole in one hand-off to a thread owning a
connection (store/database.py); the reference runs it on the event loop's thread, with no
hand-off at all.

    .venv/bin/python bench/store_paths.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from authgate.store import Database, UserStore, migrate
from authgate.store.session import Session
from authgate.store.users import fetch_user

CALLERS = 30


async def _measure(
    get: Callable[[str], Awaitable[Any]], user_id: str, total: int
) -> tuple[float, float]:
    for _ in range(50):
        await get(user_id)

    async def caller(count: int) -> None:
        for _ in range(count):
            await get(user_id)

    each = total // CALLERS
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller(each) for _ in range(CALLERS)))
    done = each * CALLERS
    return done / (time.perf_counter() - wall), (time.process_time() - cpu) / done * 1e6


async def measure(total: int = 3000) -> list[tuple[str, float, float]]:
    """(path, lookups/s, CPU µs per lookup) for each way of reading one user."""
    with tempfile.TemporaryDirectory(prefix="authgate-store-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'authgate.sqlite3'}"
        database = Database(url)
        await migrate(database)
        store = UserStore(database)
        user = await store.create_user("probe@example.com", "probe-password")
        rows: list[tuple[str, Callable[[str], Awaitable[Any]]]] = [
            ("shipped: UserStore.get, one hop to the store's reader thread", store.get)
        ]
        # The lower bound: the same statement on the event loop's own thread (no hand-off,
        # but a slow disk or a locked file would stall every request).
        inline = database.dialect.connect()

        async def get_inline(user_id: str) -> Any:
            return fetch_user(Session(inline, database.dialect), user_id)

        rows.append(("same operation, sqlite3 on the event loop thread (no hop)", get_inline))
        results = [(label, *await _measure(get, user.id, total)) for label, get in rows]
        inline.close()
        database.close()
    return results


def main() -> None:
    for label, rate, cpu in asyncio.run(measure()):
        print(f"{label:62s} {rate:8.0f}/s {cpu:7.0f} µs CPU")


if __name__ == "__main__":
    main()
