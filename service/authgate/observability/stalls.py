"""What holds a serving process's event loop up: how late its timers run, and the collector.

Every request on a worker waits for whatever its event loop does before it. The request
histograms say that requests were slow; these two say why: a loop that ran its timers late
was busy (or had no core), and a garbage collection stops the whole process while it runs.
Both cost next to nothing: ten timer wake-ups a second, and two clock reads a collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from typing import Any

from authgate.observability.metrics import GC_PAUSES, LOOP_LAG

TICK_SECONDS = 0.1


async def _time_the_loop(tick: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + tick
        await asyncio.sleep(tick)
        LOOP_LAG.observe(max(0.0, loop.time() - due))


class _CollectorTimer:
    """A `gc.callbacks` entry: times each collection from its start to its stop."""

    def __init__(self) -> None:
        self._started = 0.0
        # One child per generation, looked up once: the callback runs hundreds of times a
        # second under load (generation 0 collects every 700 net allocations).
        self._histograms = [GC_PAUSES.labels(generation=str(g)) for g in range(3)]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._histograms[info["generation"]].observe(time.perf_counter() - self._started)


@contextlib.asynccontextmanager
async def watching_stalls(tick: float = TICK_SECONDS) -> AsyncIterator[None]:
    """Record the loop's lag and every collection's pause while the block runs."""
    timer = _CollectorTimer()
    gc.callbacks.append(timer)
    ticking = asyncio.create_task(_time_the_loop(tick))
    try:
        yield
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        gc.callbacks.remove(timer)
