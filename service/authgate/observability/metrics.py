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

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """The text exposition of every metric (summed over workers in multiprocess mode)."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
