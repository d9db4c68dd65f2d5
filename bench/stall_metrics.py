"""The workers' own account of what held their event loops, read from /metrics.

`authgate_event_loop_lag_seconds` (how late each worker's 0.1 s timer ran) and
`authgate_gc_pause_seconds` (each garbage collection) are summed over the workers by the
multiprocess collector. Read once a minute, the difference between two readings is that
minute's: how many ticks ran late by more than 50, 250 and 1,000 ms, and how long collections
stopped a worker.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

LAG = "authgate_event_loop_lag_seconds"
GC = "authgate_gc_pause_seconds"
LATE = ("0.05", "0.25", "1.0")  # ticks late by more than these, in seconds (bucket bounds)
LONG_GC = "0.01"  # collections longer than this, in seconds (a bucket bound)


@dataclass(frozen=True)
class Reading:
    """The cumulative figures at one moment, summed over the workers."""

    at_s: float
    ticks: float = 0.0
    ticks_late: dict[str, float] = field(default_factory=dict)  # bound -> ticks over it
    gc_count: float = 0.0
    gc_seconds: float = 0.0
    gc_long: float = 0.0  # collections over LONG_GC


def read(http_url: str, at_s: float) -> Reading:
    return parse(httpx.get(f"{http_url}/metrics", timeout=10).text, at_s)


def parse(text: str, at_s: float) -> Reading:
    """The stall figures of one Prometheus text exposition."""
    lag_buckets: dict[str, float] = {}
    gc_under_long = 0.0
    ticks = gc_count = gc_seconds = 0.0
    for family in text_string_to_metric_families(text):
        if family.name not in (LAG, GC):
            continue
        for sample in family.samples:
            if family.name == LAG and sample.name.endswith("_bucket"):
                lag_buckets[sample.labels["le"]] = sample.value
            elif family.name == LAG and sample.name.endswith("_count"):
                ticks = sample.value
            elif family.name == GC and sample.name.endswith("_bucket"):
                gc_under_long += sample.value if sample.labels["le"] == LONG_GC else 0.0
            elif family.name == GC and sample.name.endswith("_count"):
                gc_count += sample.value
            elif family.name == GC and sample.name.endswith("_sum"):
                gc_seconds += sample.value
    return Reading(
        at_s,
        ticks,
        {bound: ticks - lag_buckets.get(bound, 0.0) for bound in LATE},
        gc_count,
        gc_seconds,
        gc_count - gc_under_long,
    )


def minute_rows(readings: list[Reading]) -> list[str]:
    """A Markdown table: each minute's difference between consecutive readings."""
    rows = [
        "| minute | worker ticks | late > 50 / 250 / 1,000 ms | collections | collecting ms | "
        f"collections > {float(LONG_GC) * 1000:g} ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, (before, after) in enumerate(itertools.pairwise(readings)):
        late = [after.ticks_late[b] - before.ticks_late[b] for b in LATE]
        rows.append(
            f"| {n + 1} | {after.ticks - before.ticks:.0f} | "
            + " / ".join(f"{ticks:.0f}" for ticks in late)
            + f" | {after.gc_count - before.gc_count:.0f} | "
            f"{(after.gc_seconds - before.gc_seconds) * 1000:.0f} | "
            f"{after.gc_long - before.gc_long:.0f} |"
        )
    return rows
