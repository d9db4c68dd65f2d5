"""Prometheus metrics, one registry per process; merged across workers in multiprocess mode.

With `--workers N`, the supervisor sets PROMETHEUS_MULTIPROC_DIR before the workers start, so
each worker writes its samples there and /metrics on any worker reports the sum.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "authgate_requests_total",
    "Requests served, by door, operation and outcome (HTTP status or gRPC code).",
    ["door", "operation", "outcome"],
)
LATENCY = Histogram(
    "authgate_request_duration_seconds",
    "Time to answer a request, by door and operation.",
    ["door", "operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LOGINS_FAILED = Counter("authgate_logins_failed_total", "Refused logins, by reason.", ["reason"])
TOKENS_ISSUED = Counter("authgate_tokens_issued_total", "Token pairs issued by logins.")
TOKENS_REFRESHED = Counter("authgate_tokens_refreshed_total", "Access tokens issued by refresh.")
TOKENS_REVOKED = Counter("authgate_tokens_revoked_total", "Revocations, by kind.", ["kind"])
STORE_ERRORS = Counter(
    "authgate_store_errors_total", "Database operations that failed (answered 503)."
)

# The caches the change log keeps true (core/cache.py), by cache.
CACHE_HITS = Counter("authgate_cache_hits_total", "Lookups a cache answered.", ["cache"])
CACHE_MISSES = Counter(
    "authgate_cache_misses_total", "Lookups a cache did not hold (read from the store).", ["cache"]
)
CACHE_EVICTIONS = Counter(
    "authgate_cache_evictions_total", "Entries dropped to keep a cache within its bound.", ["cache"]
)
CACHE_INVALIDATIONS = Counter(
    "authgate_cache_invalidations_total",
    "Entries dropped because they stopped being true (a change-log row, an expiry, a key gone).",
    ["cache"],
)
CACHE_BYPASSES = Counter(
    "authgate_cache_bypasses_total",
    "Lookups sent to the store because the change log's tail was behind its staleness bound.",
    ["cache"],
)
CHANGES_APPLIED = Counter(
    "authgate_change_log_rows_applied_total", "Change-log rows this process has applied."
)
CHANGE_APPLY_LAG = Histogram(
    "authgate_change_log_apply_lag_seconds",
    "From a change-log row's time (its writer's clock, before the commit) to this process "
    "applying it: how long its caches could answer for that subject as before.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 10.0),
)
CHANGE_TAIL_FAILURES = Counter(
    "authgate_change_log_tail_failures_total",
    "Times the change log's tail failed to reach the store (it retries).",
)

# What holds the event loop up (stalls.py).
LOOP_LAG = Histogram(
    "authgate_event_loop_lag_seconds",
    "How late a timer set every 0.1 s ran: how long a ready callback waited for the loop.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
GC_PAUSES = Histogram(
    "authgate_gc_pause_seconds",
    "Garbage collections, by the oldest generation collected: how long each stopped the process.",
    ["generation"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """The text exposition of every metric (summed over workers in multiprocess mode)."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
