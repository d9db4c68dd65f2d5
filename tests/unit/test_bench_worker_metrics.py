"""The soak's reading of the workers' own metrics (bench/worker_metrics.py), from the
service's own exposition: a change of metric names or buckets that the benchmark cannot read
fails here, not in a ten-minute soak."""

from __future__ import annotations

import sys
from pathlib import Path

from authgate.observability import metrics

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import worker_metrics  # bench/ is not a package: on sys.path above


def test_a_minute_row_is_the_difference_of_two_readings() -> None:
    before = worker_metrics.parse(metrics.exposition().decode(), at_s=0.0)
    for late in (0.0004, 0.03, 0.07, 0.3, 0.6, 1.7):
        metrics.LOOP_LAG.observe(late)
    for generation, pause in (("0", 0.0002), ("1", 0.004), ("2", 0.02), ("2", 0.3)):
        metrics.GC_PAUSES.labels(generation=generation).observe(pause)
    for applied in (0.003, 0.06, 0.12):
        metrics.CHANGE_APPLY_LAG.observe(applied)
    for cache in ("users", "verified_tokens", "users"):
        metrics.CACHE_BYPASSES.labels(cache).inc()
    after = worker_metrics.parse(metrics.exposition().decode(), at_s=60.0)

    assert after.ticks - before.ticks == 6
    late = {b: after.ticks_late[b] - before.ticks_late[b] for b in worker_metrics.LATE}
    assert late == {"0.05": 4, "0.25": 3, "1.0": 1}
    assert after.gc_count - before.gc_count == 4
    assert after.gc_long - before.gc_long == 2  # over 10 ms: 0.02 and 0.3
    assert round((after.gc_seconds - before.gc_seconds) * 1000, 1) == 324.2
    assert after.applied - before.applied == 3
    assert after.applied_late["0.05"] - before.applied_late["0.05"] == 2
    assert after.applied_late["0.1"] - before.applied_late["0.1"] == 1

    assert after.bypasses - before.bypasses == 3

    header, rule, row = worker_metrics.minute_rows([before, after])
    assert header.count("|") == rule.count("|") == row.count("|")
    assert row == "| 1 | 6 | 4 / 3 / 1 | 4 | 324 | 2 | 3 | 2 / 1 | 3 |"
