"""The workers' own account, read from /metrics: what held their event loops, and how far
behind the change log their caches were.

`authgate_event_loop_lag_seconds` (how late each worker's 0.1 s timer ran),
`authgate_gc_pause_seconds` (each garbage collection) and
`authgate_change_log_apply_lag_seconds` (each change-log row, from its write to a worker
applying it) and `authgate_cache_bypasses_total` (lookups sent to the store because the tail
was behind its staleness bound, every cache) are summed over the workers by the multiprocess
collector. Read once a minute, the difference between two readings is that minute's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

LAG = "authgate_event_loop_lag_seconds"
GC = "authgate_gc_pause_seconds"
APPLY = "authgate_change_log_apply_lag_seconds"
BYPASSES = "authgate_cache_bypasses"  # a counter family's name, without `_total`
LATE = ("0.05", "0.25", "1.0")  # ticks late by more than these, in seconds (bucket bounds)
LONG_GC = "0.01"  # collections longer than this, in seconds (a bucket bound)
APPLIED_LATE = ("0.05", "0.1")  # rows applied later than these, in seconds (bucket bounds)


@dataclass(frozen=True)
class Reading:
    """The cumulative figures at one moment, summed over the workers."""

    at_s: float
    ticks: float = 0.0
    ticks_late: dict[str, float] = field(default_factory=dict)  # bound -> ticks over it
    gc_count: float = 0.0
    gc_seconds: float = 0.0
    gc_long: float = 0.0  # collections over LONG_GC
    applied: float = 0.0  # change-log rows applied, by every worker
    applied_late: dict[str, float] = field(default_factory=dict)  # bound -> rows applied later
    bypasses: float = 0.0  # cache lookups sent to the store, every cache


def read(http_url: str, at_s: float) -> Reading:
    return parse(httpx.get(f"{http_url}/metrics", timeout=10).text, at_s)


def parse(text: str, at_s: float) -> Reading:
    """The figures of one Prometheus text exposition."""
    buckets: dict[str, dict[str, float]] = {LAG: {}, GC: {}, APPLY: {}}
    counts = dict.fromkeys(buckets, 0.0)
    gc_seconds = bypasses = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == BYPASSES:
            bypasses += sum(s.value for s in family.samples if s.name.endswith("_total"))
        if family.name not in buckets:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                le = sample.labels["le"]  # summed over GC's generations
                buckets[family.name][le] = buckets[family.name].get(le, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                counts[family.name] += sample.value
            elif sample.name.endswith("_sum") and family.name == GC:
                gc_seconds += sample.value
    return Reading(
        at_s,
        ticks=counts[LAG],
        ticks_late={b: counts[LAG] - buckets[LAG].get(b, 0.0) for b in LATE},
        gc_count=counts[GC],
        gc_seconds=gc_seconds,
        gc_long=counts[GC] - buckets[GC].get(LONG_GC, 0.0),
        applied=counts[APPLY],
        applied_late={b: counts[APPLY] - buckets[APPLY].get(b, 0.0) for b in APPLIED_LATE},
        bypasses=bypasses,
    )


def _ms(bound: str) -> str:
    return f"{float(bound) * 1000:,.0f}"


def minute_rows(readings: list[Reading]) -> list[str]:
    """A Markdown table: each minute's difference between consecutive readings."""
    rows = [
        "| minute | worker ticks | late > "
        + " / ".join(_ms(b) for b in LATE)
        + " ms | collections | collecting ms | "
        f"collections > {_ms(LONG_GC)} ms | change-log rows applied | applied later than "
        + " / ".join(_ms(b) for b in APPLIED_LATE)
        + " ms | cache lookups bypassed |",
        "| ---: |" + " ---: |" * 8,
    ]
    for n, (before, after) in enumerate(itertools.pairwise(readings)):
        late = [after.ticks_late[b] - before.ticks_late[b] for b in LATE]
        applied_late = [after.applied_late[b] - before.applied_late[b] for b in APPLIED_LATE]
        rows.append(
            f"| {n + 1} | {after.ticks - before.ticks:.0f} | "
            + " / ".join(f"{ticks:.0f}" for ticks in late)
            + f" | {after.gc_count - before.gc_count:.0f} | "
            f"{(after.gc_seconds - before.gc_seconds) * 1000:.0f} | "
            f"{after.gc_long - before.gc_long:.0f} | {after.applied - before.applied:.0f} | "
            + " / ".join(f"{rows_:.0f}" for rows_ in applied_late)
            + f" | {after.bypasses - before.bypasses:.0f} |"
        )
    return rows
