"""Every serving process tails the change log and hands each catch-up to its follower.

SQLite: a poll every POLL_INTERVAL on the store's reading thread, one indexed range read
(`seq > last applied`), which also sees the writes of other processes (the CLI). PostgreSQL: a
thread of its own LISTENs on one connection; a NOTIFY, sent by the writing transaction and
delivered at its commit, wakes it at once, and it catches up by `seq` on every wake-up, on
every reconnection, and at least every HEARTBEAT without one, so that a lost notification or a
dead connection can delay what it applies, but never let the follower think it is current.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from authgate.core.errors import AuthError
from authgate.observability.metrics import CHANGE_TAIL_FAILURES
from authgate.store.change_log import BATCH, Change, changes_after, last_seq
from authgate.store.database import Database
from authgate.store.dialects import Dialect
from authgate.store.session import Session

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.015  # SQLite: 10 to 20 ms between polls
HEARTBEAT = 0.025  # PostgreSQL: the longest wait for a notification before catching up anyway
_RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0)
LISTENER_NAME = "authgate-change-listener"


class Follower(Protocol):
    applied_seq: int
    clock: Callable[[], float]

    def start_at(self, seq: int) -> None: ...

    def caught_up(self, changes: Sequence[Change], read_at: float, complete: bool) -> None: ...


@contextlib.asynccontextmanager
async def tailing(database: Database, follower: Follower) -> AsyncIterator[None]:
    """Tail the log into `follower` from its newest row, until the block exits."""
    follower.start_at(await database.read(last_seq))
    if database.dialect.change_channel:
        listener = _Listener(database.dialect, follower, asyncio.get_running_loop())
        listener.start()
        try:
            yield
        finally:
            listener.stop()
        return
    poller = asyncio.create_task(_poll(database, follower), name="authgate-change-poll")
    try:
        yield
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller


async def _poll(database: Database, follower: Follower) -> None:
    failing = False
    while True:
        read_at = follower.clock()
        try:
            changes = await database.read(changes_after, follower.applied_seq)
        except AuthError as error:  # the store is unreachable or slow: the follower goes stale
            failing = _failed(failing, error)
            await asyncio.sleep(POLL_INTERVAL)
            continue
        failing = False
        complete = len(changes) < BATCH
        follower.caught_up(changes, read_at, complete)
        if complete:
            await asyncio.sleep(POLL_INTERVAL)


def _failed(already: bool, error: BaseException) -> bool:
    CHANGE_TAIL_FAILURES.inc()
    if not already:  # one line an outage, not one a poll
        log.warning("change log: cannot read it, caches bypassed until it can: %s", error)
    return True


class _Listener(threading.Thread):
    """LISTEN on a connection of its own; catch up on each wake-up, reconnect when it drops."""

    def __init__(
        self, dialect: Dialect, follower: Follower, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(name="authgate-change-listener", daemon=True)
        self._dialect = dialect
        self._follower = follower
        self._loop = loop
        self._seq = follower.applied_seq
        self._stopping = threading.Event()
        self._connection: Any = None

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=1.0)

    def run(self) -> None:
        attempt, failing = 0, False
        while not self._stopping.is_set():
            try:
                self._connection = self._dialect.connect()
                # Named, so that an operator sees it in pg_stat_activity for what it is.
                self._connection.execute(f"SET application_name = '{LISTENER_NAME}'")
                self._connection.execute(f"LISTEN {self._dialect.change_channel}")
                while not self._stopping.is_set():
                    self._catch_up()
                    attempt, failing = 0, False
                    # Returns on the first NOTIFY, or empty once HEARTBEAT has passed.
                    list(self._connection.notifies(timeout=HEARTBEAT, stop_after=1))
            except RuntimeError:
                return  # the event loop has closed: nobody to tell
            except Exception as error:  # the connection failed: reconnect, after a pause
                failing = _failed(failing, error)
                self._stopping.wait(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
                attempt += 1
            finally:
                self._close()

    def _catch_up(self) -> None:
        session = Session(self._connection, self._dialect)
        while True:
            read_at = self._follower.clock()
            changes = changes_after(session, self._seq)
            if changes:
                self._seq = changes[-1].seq
            complete = len(changes) < BATCH
            self._loop.call_soon_threadsafe(self._follower.caught_up, changes, read_at, complete)
            if complete:
                return

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
