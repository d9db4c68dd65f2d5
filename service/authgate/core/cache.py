"""A bounded least-recently-used map, counted in /metrics by name.

Every cache the change log keeps true is one of these: it never holds more than its bound,
whatever the traffic (a flood of distinct tokens evicts the oldest entries, one by one).
All of its methods run on the event loop's thread.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from authgate.observability.metrics import (
    CACHE_BYPASSES,
    CACHE_EVICTIONS,
    CACHE_HITS,
    CACHE_INVALIDATIONS,
    CACHE_MISSES,
)

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class BoundedCache(Generic[Key, Value]):
    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self._entries: OrderedDict[Key, Value] = OrderedDict()
        # The counters' children, bound once: a labelled lookup per call costs a lock and a
        # dict lookup more.
        self._hits = CACHE_HITS.labels(name)
        self._misses = CACHE_MISSES.labels(name)
        self._evictions = CACHE_EVICTIONS.labels(name)
        self._invalidations = CACHE_INVALIDATIONS.labels(name)
        self._bypasses = CACHE_BYPASSES.labels(name)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Value | None:
        value = self._entries.get(key)
        if value is None:
            self._misses.inc()
            return None
        self._entries.move_to_end(key)
        self._hits.inc()
        return value

    def put(self, key: Key, value: Value) -> tuple[Key, Value] | None:
        """Hold `value`; the entry evicted to make room, if one was."""
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) <= self.size:
            return None
        self._evictions.inc()
        return self._entries.popitem(last=False)

    def evict_oldest(self) -> tuple[Key, Value] | None:
        """Make room by the least recently used entry, for a cache that bounds more than its
        count of entries (pages, by the users they hold); the entry, if there was one."""
        if not self._entries:
            return None
        self._evictions.inc()
        return self._entries.popitem(last=False)

    def discard(self, key: Key) -> Value | None:
        """Drop an entry that stopped being true; the entry, if there was one."""
        value = self._entries.pop(key, None)
        if value is not None:
            self._invalidations.inc()
        return value

    def discard_where(self, stale: Callable[[Key, Value], bool]) -> int:
        """Drop every entry `stale` picks (a scan: for rare events, a key retired)."""
        gone = [key for key, value in self._entries.items() if stale(key, value)]
        for key in gone:
            del self._entries[key]
        self._invalidations.inc(len(gone))
        return len(gone)

    def clear(self) -> None:
        self._invalidations.inc(len(self._entries))
        self._entries.clear()

    def bypassed(self) -> None:
        """Count a lookup that did not ask the cache (the change log's tail was behind)."""
        self._bypasses.inc()
