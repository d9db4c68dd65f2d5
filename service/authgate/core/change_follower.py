"""How far this process has followed the change log, and whether its caches may answer.

The tail (`store/change_tail.py`) hands over each catch-up: the rows after the last one
applied, and when it began to read them. Every row makes the caches forget its subject. The
caches answer only while the last complete catch-up began less than the staleness bound ago:
a write committed before that read began is applied, so no cache can hold anything the store
stopped saying longer than the bound after the write, whatever happened to the tail (a lost
notification, a killed connection, a partition). Past the bound every lookup goes to the store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence

from authgate.observability.metrics import CHANGE_APPLY_LAG, CHANGES_APPLIED
from authgate.store.change_log import Change

# A tail behind for this long may have missed rows that were pruned meanwhile: the caches
# start again empty. (Rows are kept for the longest token lifetime, minutes at the least.)
FORGET_ALL_AFTER = 10.0
# Subjects whose last forget is remembered, to judge a fill by its own subject. Beyond this
# the record starts again, and fills that began before are not kept.
RECENT_FORGETS = 4096


class ChangeFollower:
    def __init__(self, staleness: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.staleness = staleness  # seconds; 0 or less: never current, the caches are off
        self.clock = clock
        self.applied_seq = 0
        # Bumped whenever any subject is forgotten. A fill that began before its subject was
        # forgotten may hold what the store said before the change, so it is not kept (see
        # `may_fill`); nor is one that began before everything was forgotten.
        self.epoch = 0
        self._forgotten_at: dict[str, int] = {}  # subject -> the epoch its last forget made
        self._judged_from = 0  # fills that began before this epoch are not kept
        self._current_at = -math.inf
        self._forget: list[Callable[[str], None]] = []
        self._forget_all: list[Callable[[], None]] = []
        # Told the newest `seq` whenever rows are applied (the revocation feed's watchers).
        self._applied_listeners: set[Callable[[int], None]] = set()

    def subscribe(self, forget: Callable[[str], None], forget_all: Callable[[], None]) -> None:
        self._forget.append(forget)
        self._forget_all.append(forget_all)

    def listen_applied(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call `listener(seq)` whenever rows are applied; the function that stops it."""
        self._applied_listeners.add(listener)
        return lambda: self._applied_listeners.discard(listener)

    def is_current(self) -> bool:
        return self.clock() - self._current_at <= self.staleness

    def ticket(self) -> int | None:
        """Taken before a store read that may fill a cache: None when the caches are off."""
        return self.epoch if self.is_current() else None

    def may_fill(self, ticket: int | None, subject: str | None = None) -> bool:
        """Whether what was read since `ticket` may be cached: the tail is current, and what
        the read covers was not forgotten meanwhile (a change that committed during the read
        may not be in it): `subject`'s rows, or any row for a read of many subjects.

        Judged by subject, a user's read is kept while other users log in: each login appends
        a row (25 a second in the soak), and judged by any row, a deactivated user's reads kept
        losing that race: every refusal read the store again (p50 43 ms in the worker, against
        1.3 ms for an acceptance answered from the cache)."""
        if ticket is None or not self.is_current():
            return False
        if subject is None:
            return ticket == self.epoch
        return ticket >= self._judged_from and self._forgotten_at.get(subject, 0) <= ticket

    def start_at(self, seq: int) -> None:
        """Follow from `seq` (the newest row when the process starts). What was loaded before
        (the key set) may predate a row up to `seq`, so every cache starts again empty."""
        self.applied_seq = seq
        for forget_all in self._forget_all:
            forget_all()

    def caught_up(self, changes: Sequence[Change], read_at: float, complete: bool) -> None:
        """Apply rows read by a catch-up that began at `read_at` (this follower's clock);
        `complete`: the read returned every row there was."""
        applied = self.applied_seq
        now = time.time()
        for change in changes:
            if change.seq <= self.applied_seq:
                continue  # a row a faster catch-up already applied
            self.applied_seq = change.seq
            self._forget_subject(change.subject)
            CHANGES_APPLIED.inc()
            # Wall clocks: the writer may be another process or host (a skew reads as 0).
            CHANGE_APPLY_LAG.observe(max(0.0, now - change.at.timestamp()))
        if self.applied_seq != applied:
            for listener in list(self._applied_listeners):
                listener(self.applied_seq)
        if not complete:
            return
        if self._behind_for_long(read_at):
            self.epoch += 1
            self._judged_from = self.epoch
            for forget_all in self._forget_all:
                forget_all()
        self._current_from(read_at)

    def heard_nothing_new(self, seq: int, read_at: float) -> bool:
        """From the tail's own thread: a complete read that began at `read_at` found no row
        after `seq`. When every row up to `seq` has been applied, the follower is current from
        `read_at` on without a call on the event loop (an idle process would otherwise wake it
        every poll): True. False: hand the catch-up to `caught_up` on the loop instead.

        The caches are read on the loop only, and the loop applies a batch of rows in one call,
        so `applied_seq` seen here covers every row the caches are told of before they are read
        again. A write that races this (`caught_up`'s own) can only leave the older time:
        the follower then looks less current, never more."""
        if self.applied_seq < seq or self._behind_for_long(read_at):
            return False
        self._current_from(read_at)
        return True

    def _behind_for_long(self, read_at: float) -> bool:
        """No complete catch-up for FORGET_ALL_AFTER before `read_at`: rows may be pruned."""
        return read_at - self._current_at > FORGET_ALL_AFTER

    def _current_from(self, read_at: float) -> None:
        self._current_at = max(self._current_at, read_at)

    def forget(self, subjects: Iterable[str]) -> None:
        """This process wrote these subjects' rows: forget them now, before the tail says so."""
        for subject in subjects:
            self._forget_subject(subject)

    def _forget_subject(self, subject: str) -> None:
        self.epoch += 1
        if len(self._forgotten_at) >= RECENT_FORGETS:
            self._forgotten_at.clear()
            self._judged_from = self.epoch
        self._forgotten_at[subject] = self.epoch
        for forget in self._forget:
            forget(subject)
