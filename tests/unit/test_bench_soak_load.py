"""The soak's open loop (bench/soak_load.py): a request due while every connection waits for
an answer gets a connection of its own, so the generator builds no queue of its own."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_load import IDLE_EXPIRY_S, Sender, SenderPool  # bench/ is not a package: on sys.path


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


class _Reader:
    def at_eof(self) -> bool:
        return False


class _Connection:
    """What `Sender` reads of an open connection: its reader and its last answer's time."""

    def __init__(self, idle_s: float) -> None:
        self.reader = _Reader()
        self.answered_at = time.perf_counter() - idle_s


def test_a_connection_idle_near_the_servers_keep_alive_is_not_reused() -> None:
    sender = Sender("http://127.0.0.1:1")
    assert sender._expired(), "no connection yet"
    sender.connection = _Connection(idle_s=0.5)  # type: ignore[assignment]
    assert not sender._expired()
    sender.connection = _Connection(idle_s=IDLE_EXPIRY_S + 0.1)  # type: ignore[assignment]
    assert sender._expired(), "uvicorn closes it at 5 s: a request sent then is lost"
