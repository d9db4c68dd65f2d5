"""What holds a serving process's event loop up: how late its timers run, and the collector.

Every request on a worker waits for whatever its event loop does before it. The request
histograms say that requests were slow; these two say why: a loop that ran its timers late
was busy (or had no core), and a garbage collection stops the whole process while it runs.
Both cost next to nothing: ten timer wake-ups a second, and two clock reads a collection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from typing import Any

from authgate.observability.metrics import GC_PAUSES, LOOP_LAG

TICK_SECONDS = 0.1


class _CollectorTimer:
    """A `gc.callbacks` entry: times each collection from its start to its stop.

    It only notes the pause. A collection can start inside any allocation, including one
    made while prometheus-client holds its lock (one lock for every metric in multiprocess
    mode, and not re-entrant): observing a metric from here would wait for that lock forever
    (a worker froze so in a CI run). The loop's timer records the notes instead.
    """

    def __init__(self) -> None:
        self._started = 0.0
        # (generation, seconds); deque.append takes no lock. Bounded: a loop that cannot
        # record them has bigger trouble than a lost figure.
        self._noted: collections.deque[tuple[int, float]] = collections.deque(maxlen=10_000)
        self._histograms = [GC_PAUSES.labels(generation=str(g)) for g in range(3)]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._noted.append((info["generation"], time.perf_counter() - self._started))

    def record(self) -> None:
        """Observe the noted pauses; from the event loop, never from a collection."""
        while self._noted:
            generation, seconds = self._noted.popleft()
            self._histograms[generation].observe(seconds)


async def _time_the_loop(tick: float, collector: _CollectorTimer) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + tick
        await asyncio.sleep(tick)
        LOOP_LAG.observe(max(0.0, loop.time() - due))
        collector.record()


@contextlib.asynccontextmanager
async def watching_stalls(tick: float = TICK_SECONDS) -> AsyncIterator[None]:
    """Record the loop's lag and every collection's pause while the block runs."""
    timer = _CollectorTimer()
    gc.callbacks.append(timer)
    ticking = asyncio.create_task(_time_the_loop(tick, timer))
    try:
        yield
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        gc.callbacks.remove(timer)
        timer.record()
