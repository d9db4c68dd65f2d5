"""The revocation feed: the change log streamed to verifiers outside AuthGate, by `seq`.

A watcher names the last `seq` it applied (0 for none) and gets every row after it, in order,
then each new row as this process's tail applies it, and a heartbeat at least every
HEARTBEAT seconds carrying the newest `seq` sent: a verifier that has heard nothing for a
few heartbeats knows it may be behind. When rows after the watcher's cursor were pruned (or
the cursor is not one this log gave), the feed starts again from the oldest row kept and the
first heartbeat says `reset`: the watcher drops what it knew and rebuilds from the rows.
Rows are kept for the longest token lifetime, so the rows kept describe every live token.
Rows only a list of users reads (a user created, a login) revoke nothing and are not sent:
they would tell every watcher who logs in, and when; the cursor passes over them.

The watcher's own authorization is checked again at every heartbeat, so a stream ends when
its token expires or its client is deactivated, and the watcher reconnects with a new token.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from authgate.core.change_follower import ChangeFollower
from authgate.core.errors import AuthError, Reason
from authgate.store.change_log import BATCH, LIST_ONLY_KINDS, Change, ChangeLog

# Seconds between heartbeats; a verifier's staleness bound is a few of them.
HEARTBEAT = 1.0
# How often the log is read when this process is not tailing it (caches off): no wake-ups.
POLL = 0.1


@dataclass(frozen=True)
class Heartbeat:
    seq: int  # every row up to here has been sent
    reset: bool = False  # the rows before this stream's first are gone: start afresh


FeedEvent = Change | Heartbeat


class RevocationFeed:
    def __init__(
        self,
        log: ChangeLog,
        follower: ChangeFollower,
        heartbeat: float = HEARTBEAT,
        poll: float = POLL,
    ) -> None:
        self.log = log
        self.follower = follower
        self.heartbeat = heartbeat
        self.poll = poll
        self.closed = False
        self._watchers: set[asyncio.Event] = set()

    def close(self) -> None:
        """The server is stopping: every stream ends now (UNAVAILABLE), rather than hold the
        shutdown for its grace period; watchers reconnect, to another replica."""
        self.closed = True
        for woken in self._watchers:
            woken.set()

    async def watch(
        self, after_seq: int, still_authorized: Callable[[], Awaitable[object]]
    ) -> AsyncIterator[FeedEvent]:
        """Every row after `after_seq`, then new rows as they commit, with heartbeats;
        `still_authorized` raises (an AuthError) when the watcher may no longer watch."""
        oldest, newest = await self.log.bounds()
        reset = after_seq > newest or (after_seq > 0 and after_seq < oldest - 1)
        cursor = 0 if reset or after_seq < 0 else after_seq
        woken = asyncio.Event()
        stop_listening = self.follower.listen_applied(lambda _seq: woken.set())
        self._watchers.add(woken)
        try:
            async for row in _drain(self.log, cursor):
                cursor = row.seq
                if row.kind not in LIST_ONLY_KINDS:
                    yield row
            yield Heartbeat(cursor, reset)
            beat_at = time.monotonic()
            while True:
                # Until the next heartbeat is due, not a whole period: a row that woke the
                # stream just before it must not put the heartbeat off by up to a period.
                wait = max(0.0, beat_at + self.heartbeat - time.monotonic())
                if not self.follower.is_current():
                    wait = min(wait, self.poll)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), wait)
                woken.clear()  # set again by any row applied while the log is read
                if self.closed:
                    raise AuthError(Reason.UNAVAILABLE, "The server is stopping; reconnect.")
                async for row in _drain(self.log, cursor):
                    cursor = row.seq
                    if row.kind not in LIST_ONLY_KINDS:
                        yield row
                if time.monotonic() - beat_at >= self.heartbeat:
                    await still_authorized()
                    yield Heartbeat(cursor)
                    beat_at = time.monotonic()
        finally:
            stop_listening()
            self._watchers.discard(woken)


async def _drain(log: ChangeLog, cursor: int) -> AsyncIterator[Change]:
    """Every row after `cursor` there is now, a batch at a time."""
    while True:
        rows = await log.after(cursor, BATCH)
        for row in rows:
            yield row
            cursor = row.seq
        if len(rows) < BATCH:
            return
