"""The soak's open loop (bench/soak_load.py): a request due while every connection waits for
an answer gets a connection of its own, so the generator builds no queue of its own."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_load import SenderPool  # bench/ is not a package: on sys.path above


async def test_a_busy_pool_opens_another_connection_and_reuses_idle_ones() -> None:
    pool = SenderPool("http://127.0.0.1:1", most=10)
    async with pool.sender() as first, pool.sender() as second:
        assert first is not second, "a request due while the first waits does not queue"
    async with pool.sender() as again:
        assert again in (first, second), "an idle connection is reused"
    assert pool.opened == 2
    assert pool.peak_busy == 2


async def test_beyond_the_limit_a_request_waits_for_a_connection() -> None:
    pool = SenderPool("http://127.0.0.1:1", most=1)
    order = []

    async def use(name: str, hold: float) -> None:
        async with pool.sender():
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    await asyncio.gather(use("a", 0.05), use("b", 0))
    assert order == ["a in", "a out", "b in", "b out"]
    assert pool.opened == 1
