"""The soak's tables by minute (soak_report.py renders them): the load, the cores, and each
operation."""

from __future__ import annotations

import statistics

from cpu_sampler import GROUPS, Sample
from results import percentile
from soak_load import MIX
from soak_run import SoakRun

# A second in which both cores were at least this busy: a queue builds at an open loop.
SATURATED = 0.98


def minute_table(run: SoakRun) -> list[str]:
    rows = [
        "| minute | requests | req/s | p50 ms | p99 ms | 5xx | other failures "
        "| RSS MB per worker (peak of the minute) | deactivations "
        "| max refusal lag ms, decided / answered "
        f"| seconds with the cores ≥ {SATURATED:.0%} busy "
        "| the benchmark's loop held: times, longest ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for n, minute in enumerate(run.minutes):
        lat = minute.latencies_ms
        rss = run.rss_peak(n + 1)
        churns = [c for c in run.churns if n * 60 <= c.at_s < (n + 1) * 60]
        decided = max((c.refusal_decided_ms for c in churns), default=0.0)
        answered = max((c.refusal_ms for c in churns), default=0.0)
        length = min(60.0, run.seconds - n * 60)  # the last minute of --minutes 2.5 is half
        seconds = run.cpu_in(n + 1)
        saturated = sum(sum(s.cores.values()) >= SATURATED * run.nproc for s in seconds)
        held = [ms for at, ms in run.loop_held if n * 60 <= at < (n + 1) * 60]
        rows.append(
            f"| {n + 1} | {len(lat):,} | {len(lat) / length:.0f} | {percentile(lat, 50):.1f} "
            f"| {percentile(lat, 99):.1f} | {minute.server_errors} | {minute.other_failures} "
            f"| {', '.join(f'{mb:.0f}' for mb in rss.values())} "
            f"| {len(churns)} | {decided:.1f} / {answered:.1f} | {saturated} of {len(seconds)} "
            f"| {len(held)}, {max(held, default=0.0):.0f} |"
        )
    return rows


# A loop thread using this much of a core in a second has (nearly) no idle time left: the
# requests of its connections queue, whatever the other worker has spare.
LOOP_FULL = 0.9


def cpu_table(run: SoakRun) -> list[str]:
    """Who used the cores, by minute: the mean and the busiest second."""
    rows = [
        "| minute | "
        + " | ".join(f"{group} cores" for group in GROUPS)
        + " | all, mean / busiest second | fixed work, ms of CPU: median / slowest second "
        + f"| each worker's event loop, cores | seconds a loop ≥ {LOOP_FULL:g} core |",
        "| ---: |" + " ---: |" * (len(GROUPS) + 4),
    ]
    for n in range(len(run.minutes)):
        seconds = run.cpu_in(n + 1)
        if not seconds:
            continue
        means = [statistics.mean(s.cores[group] for s in seconds) for group in GROUPS]
        busiest = max(sum(s.cores.values()) for s in seconds)
        canary = [s.canary_ms for s in seconds]
        full = sum(max(s.loops, default=0.0) >= LOOP_FULL for s in seconds)
        rows.append(
            f"| {n + 1} | "
            + " | ".join(f"{mean:.2f}" for mean in means)
            + f" | {sum(means):.2f} / {busiest:.2f} of {run.nproc} | "
            + f"{statistics.median(canary):.2f} / {max(canary):.2f} | "
            + f"{loop_means(seconds)} | {full} |"
        )
    return rows


def loop_means(seconds: list[Sample]) -> str:
    """Each worker's event-loop thread, mean cores over `seconds`."""
    columns = zip(*(s.loops for s in seconds), strict=True)
    return ", ".join(f"{statistics.mean(column):.2f}" for column in columns) or "-"


def operation_table(run: SoakRun) -> list[str]:
    """Each operation's p50 / p99 by minute: which of them makes the minute's p99."""
    names = [op.name for op in MIX]
    rows = [
        "| minute | " + " | ".join(f"{name} p50 / p99 ms" for name in names) + " |",
        "| ---: |" + " ---: |" * len(names),
    ]
    for n, minute in enumerate(run.minutes):
        cells = []
        for name in names:
            lat = minute.operation_latencies_ms.get(name, [])
            cells.append(f"{percentile(lat, 50):.1f} / {percentile(lat, 99):.1f}" if lat else "-")
        rows.append(f"| {n + 1} | " + " | ".join(cells) + " |")
    return rows
