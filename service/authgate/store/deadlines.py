"""A store operation's life on its thread, and the deadline that bounds the caller's wait.

A job is waiting (queued or running), committing, expired or settled. The caller waits at
most OPERATION_DEADLINE seconds: an expired job answers 503 and, if it writes, rolls back
instead of committing, so a client told "unavailable" never has its write land later. A job
already committing is left to finish: its outcome is about to be known.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from authgate.core.errors import unavailable
from authgate.observability.metrics import STORE_ERRORS

if TYPE_CHECKING:
    from authgate.store.session import Session

# The connection's own timeouts each cover one way a call can hang (connect, statement, and
# on PostgreSQL the TCP user timeout and keepalives); this bounds the caller's wait whatever
# holds it, a lock or a queue included.
OPERATION_DEADLINE = 6.0


class Job:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, write: bool, work: Callable[[Session], Any]
    ) -> None:
        self.loop = loop
        self.outcome: asyncio.Future[Any] = loop.create_future()
        self.write = write
        self.work = work
        self._lock = threading.Lock()
        self._expired = False
        self._committing = False

    @property
    def abandoned(self) -> bool:
        """Nobody waits for the result any more (expired, or the caller was cancelled)."""
        return self._expired or self.outcome.done()

    def begin_commit(self) -> bool:
        """On the job's thread, just before COMMIT: False if it must roll back instead."""
        with self._lock:
            if self.abandoned:
                return False
            self._committing = True
            return True

    def expire(self) -> bool:
        """On the loop: answer 503 now, unless the job is already committing."""
        with self._lock:
            if self._committing:
                return False
            self._expired = True
        if not self.outcome.done():
            self.outcome.set_exception(unavailable())
        return True

    def settle(self, result: Any, error: BaseException | None) -> None:
        """From the job's thread: hand the result to the waiting caller."""
        # RuntimeError: the loop has closed, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_settle, self.outcome, result, error)


def _settle(outcome: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if outcome.done():  # expired or cancelled meanwhile
        return
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(result)


class Deadlines:
    """One sweep every SWEEP_INTERVAL while jobs run, not a timer per job: the deadline is a
    backstop, and a timer per call costs as much as the call's own hand-off."""

    SWEEP_INTERVAL = 0.25

    def __init__(self) -> None:
        self._running: dict[Job, float] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, job: Job) -> None:
        self._running[job] = job.loop.time() + OPERATION_DEADLINE
        if self._sweep is None or self._loop is not job.loop:
            self._loop = job.loop
            self._sweep = job.loop.call_later(self.SWEEP_INTERVAL, self._expire, job.loop)

    def forget(self, job: Job) -> None:
        self._running.pop(job, None)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            now = loop.time()
            for job, deadline in list(self._running.items()):
                if job.loop is loop and deadline <= now and job.expire():
                    del self._running[job]
                    STORE_ERRORS.inc()
        finally:
            more = any(job.loop is loop for job in self._running)
            self._sweep = loop.call_later(self.SWEEP_INTERVAL, self._expire, loop) if more else None
