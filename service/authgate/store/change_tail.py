"""Every serving process tails the change log and hands each catch-up to its follower.

Each runs on a thread with a connection of its own. SQLite: a poll every POLL_INTERVAL, one
indexed range read (`seq >` the last row handed over), which also sees the writes of other
processes (the CLI). PostgreSQL: the thread LISTENs; a NOTIFY, sent by the writing transaction
and delivered at its commit, wakes it at once, and it catches up by `seq` on every wake-up, on
every reconnection, and at least every HEARTBEAT without one, so that a lost notification or a
dead connection can delay what it applies, but never let the follower think it is current.
Rows go to the follower on the event loop; a read with nothing new wakes the loop only when
rows handed over are still waiting there. Measured against the poll it replaced (a task on the
loop reading through the store's one SQLite reading thread): an idle server used 0.65 to 0.75
% of a core instead of 0.85 to 0.95, and a login woke the loop 5.2 times instead of 5.5. A
slow read on the reading thread no longer holds the poll back either.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

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
POLLER_NAME = "authgate-change-poller"


class Follower(Protocol):
    applied_seq: int
    clock: Callable[[], float]

    def start_at(self, seq: int) -> None: ...

    def caught_up(self, changes: Sequence[Change], read_at: float, complete: bool) -> None: ...

    def heard_nothing_new(self, seq: int, read_at: float) -> bool: ...


@contextlib.asynccontextmanager
async def tailing(database: Database, follower: Follower) -> AsyncIterator[None]:
    """Tail the log into `follower` from its newest row, until the block exits."""
    follower.start_at(await database.read(last_seq))
    loop = asyncio.get_running_loop()
    dialect = database.dialect
    tail = (
        _Listener(dialect, follower, loop)
        if dialect.change_channel
        else _Poller(dialect, follower, loop)
    )
    tail.start()
    try:
        yield
    finally:
        tail.stop()


def _failed(already: bool, error: BaseException) -> bool:
    CHANGE_TAIL_FAILURES.inc()
    if not already:  # one line an outage, not one a poll
        log.warning("change log: cannot read it, caches bypassed until it can: %s", error)
    return True


class _Tail(threading.Thread, abc.ABC):
    """A thread with a connection of its own that reads the rows after the last it handed
    over, and hands them to the follower on the event loop.

    A read that finds nothing new does not wake the loop when the follower has applied every
    row handed over (`heard_nothing_new`), so an idle process's tail costs the loop nothing.
    Each subclass says when to read (`_serve`).
    """

    def __init__(
        self, name: str, dialect: Dialect, follower: Follower, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(name=name, daemon=True)
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
        try:
            self._serve()
        except RuntimeError:
            if not self._loop.is_closed():
                raise
            # else the event loop has closed: nobody to tell
        finally:
            self._close()

    @abc.abstractmethod
    def _serve(self) -> None:
        """Connect, and catch up whenever this tail should, until `stop()`."""

    def _catch_up(self) -> None:
        session = Session(self._connection, self._dialect)
        while True:
            read_at = self._follower.clock()
            changes = changes_after(session, self._seq)
            if not changes and self._follower.heard_nothing_new(self._seq, read_at):
                return
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


class _Poller(_Tail):
    """SQLite: one indexed range read every POLL_INTERVAL, which also sees the writes of
    other processes (the CLI). A failed read drops the connection; the next poll opens one."""

    def __init__(
        self, dialect: Dialect, follower: Follower, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(POLLER_NAME, dialect, follower, loop)

    def _serve(self) -> None:
        failing = False
        while not self._stopping.wait(POLL_INTERVAL):
            try:
                if self._connection is None:
                    self._connection = self._dialect.connect()
                self._catch_up()
                failing = False
            except RuntimeError:
                raise
            except Exception as error:  # the store is unreachable or slow: the follower goes stale
                failing = _failed(failing, error)
                self._close()


class _Listener(_Tail):
    """LISTEN on a connection of its own; catch up on each wake-up, reconnect when it drops."""

    def __init__(
        self, dialect: Dialect, follower: Follower, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(LISTENER_NAME, dialect, follower, loop)

    def _serve(self) -> None:
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
                raise
            except Exception as error:  # the connection failed: reconnect, after a pause
                failing = _failed(failing, error)
                self._stopping.wait(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
                attempt += 1
            finally:
                self._close()
