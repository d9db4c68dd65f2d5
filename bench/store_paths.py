"""What one user lookup costs through the store as shipped, and through cheaper paths.

The same query as `UserStore.get` (the one every authenticated request and every refresh
makes), 30 callers at once, in this process: CPU time per lookup (all threads) and lookups
per second. As shipped, SQLAlchemy's asyncio layer runs each DBAPI call (cursor, execute,
fetch, close, and the pool's rollback on return) as its own hop to aiosqlite's thread; the
alternatives run the whole lookup in one hop, or none.

    .venv/bin/python bench/store_paths.py
"""

from __future__ import annotations

import asyncio
import collections
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import sqlalchemy as sa

from authgate.store import UserStore, create_engine, migrate
from authgate.store.schema import users
from authgate.users import User

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


async def _hops_per_get(store: UserStore, user_id: str) -> float:
    """aiosqlite thread hops one `UserStore.get` makes (counted on its connection class)."""
    counts: collections.Counter[str] = collections.Counter()
    original = aiosqlite.Connection._execute

    async def counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counts["hops"] += 1
        return await original(self, fn, *args, **kwargs)

    aiosqlite.Connection._execute = counting  # type: ignore[method-assign]
    try:
        for _ in range(100):
            await store.get(user_id)
    finally:
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]
    return counts["hops"] / 100


async def measure(total: int = 1500) -> list[tuple[str, float, float]]:
    """(path, lookups/s, CPU µs per lookup) for each way of reading one user."""
    with tempfile.TemporaryDirectory(prefix="authgate-store-") as tmp:
        database = Path(tmp) / "authgate.sqlite3"
        engine = create_engine(f"sqlite:///{database}")
        await migrate(engine)
        store = UserStore(engine)
        user = await store.create_user("probe@example.com", "probe-password")
        hops = await _hops_per_get(store, user.id)
        rows = [(f"shipped: AsyncEngine + aiosqlite ({hops:.0f} thread hops)", store.get)]

        sync_engine = sa.create_engine(f"sqlite:///{database}", pool_size=8)  # WAL: in the file
        public = [column for column in users.columns if column.name != "password_hash"]
        query = sa.select(*public).where(users.c.id == sa.bindparam("user_id"))

        def get_sync(user_id: str) -> Any:
            with sync_engine.connect() as connection:
                row = connection.execute(query, {"user_id": user_id}).first()
            return None if row is None else User(**row._asdict())

        async def get_in_thread(user_id: str) -> Any:
            return await asyncio.to_thread(get_sync, user_id)

        rows.append(("same Core query, sync Engine in asyncio.to_thread (1 hop)", get_in_thread))
        raw = await aiosqlite.connect(database)
        sql = str(query.compile(dialect=sync_engine.dialect))

        async def get_raw(user_id: str) -> Any:
            return await raw.execute_fetchall(sql, (user_id,))

        rows.append(("same SQL, aiosqlite execute_fetchall (1 hop)", get_raw))
        results = [(label, *await _measure(get, user.id, total)) for label, get in rows]
        await raw.close()
        sync_engine.dispose()
        await engine.dispose()
    return results


def main() -> None:
    for label, rate, cpu in asyncio.run(measure()):
        print(f"{label:62s} {rate:8.0f}/s {cpu:7.0f} µs CPU")


if __name__ == "__main__":
    main()
