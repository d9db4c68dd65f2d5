"""What a soak run measured (soak.py), its verdicts, and its section of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import doc_blocks
import machine
import worker_metrics
from cpu_sampler import GROUPS, Sample
from results import percentile, verdict
from soak_load import MIX, Minute, Recorder, SenderPool

BEGIN, END = doc_blocks.markers("soak.py")
SECTION = "## Soak"
INTRO = """\
`bench/soak.py` (by hand; not part of `make bench` or CI) runs `authgate serve --workers 2` on
a throwaway PostgreSQL database with Redis throttling, under a REST mix (login 5 %, refresh
20 %, list users 25 %, verify 50 %) sent open loop at 80 % of the rate the same mix reaches
closed loop, while one user is deactivated and activated again every 10 s and every worker is
probed for the refusal of that user's token. The block below is rewritten by `--write`."""
RSS_GROWTH_MAX = 0.05  # per worker, peak of minute 2 to peak of the last minute
P99_DRIFT_MAX = 1.5  # any minute's p99 / the median minute's p99
# A second in which both cores were at least this busy: a queue builds at an open loop.
SATURATED = 0.98


@dataclass(frozen=True)
class Churn:
    at_s: float
    refusal_ms: float  # from the deactivation's return to every worker's refusal arriving
    # The same to every worker deciding a refusal: by its access line or the answer's arrival,
    # whichever came first (decision_times.py), what the bound is about.
    refusal_decided_ms: float
    reacceptance_ms: float
    backslides: int
    round_ms: float  # every probe answering once, at once, just before: no lag reads below it


@dataclass
class SoakRun:
    args: argparse.Namespace
    command: str
    started: float = 0.0
    max_rps: float = 0.0
    max_run: Minute = field(default_factory=Minute)
    max_busy: float = 0.0  # the cores' busy share during the maximum-rate run
    rate: float = 0.0
    recorder: Recorder | None = None
    churns: list[Churn] = field(default_factory=list)
    rss: list[tuple[float, dict[int, float]]] = field(default_factory=list)  # (s, pid -> MB)
    cpu: list[Sample] = field(default_factory=list)  # who used the cores, every second
    # (s, ms) each time the benchmark's own event loop was held (soak.watch_loop)
    loop_held: list[tuple[float, float]] = field(default_factory=list)
    # The workers' /metrics at the start and at the end of each minute.
    worker_readings: list[worker_metrics.Reading] = field(default_factory=list)
    senders: SenderPool | None = None  # the open loop's connections
    unexpected: list[str] = field(default_factory=list)
    pids_at_start: list[int] = field(default_factory=list)
    pids_at_end: list[int] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    generator_cpu_s: float = 0.0  # this process's CPU time during the soak (load, probes)

    @property
    def nproc(self) -> int:
        return machine.nproc()

    @property
    def seconds(self) -> float:
        return float(self.args.minutes) * 60

    @property
    def minutes(self) -> list[Minute]:
        return self.recorder.minutes if self.recorder else []

    @property
    def rss_baseline_minute(self) -> int:
        """Minute 2, or minute 1 in a run shorter than 3 minutes (nothing after minute 2)."""
        return 2 if self.args.minutes >= 3 else 1

    def cpu_in(self, minute: int) -> list[Sample]:
        """The seconds sampled in `minute` (1-based)."""
        return [s for s in self.cpu if (minute - 1) * 60 < s.at_s <= minute * 60]

    def rss_peak(self, minute: int) -> dict[int, float]:
        """pid -> the largest RSS sampled in `minute` (1-based). The peak, not one sample: a
        worker hands argon2's 19 MiB work area back a second after hashing pauses, so single
        samples swing by about 20 MB with the logins of the mix."""
        peaks: dict[int, float] = {}
        last = minute * 60 >= self.seconds  # its window takes the reading made at the end too
        for t, sizes in self.rss:
            if (minute - 1) * 60 <= t < minute * 60 or (last and t >= self.seconds):
                for pid, mb in sizes.items():
                    peaks[pid] = max(mb, peaks.get(pid, 0.0))
        return peaks

    def rss_growth(self) -> dict[int, tuple[float, float]]:
        """pid -> (peak MB in the baseline minute, peak MB in the last minute)."""
        base = self.rss_peak(self.rss_baseline_minute)
        end = self.rss_peak(len(self.minutes))
        return {pid: (base[pid], end[pid]) for pid in base if pid in end}


def _p99s(run: SoakRun) -> list[float]:
    return [percentile(m.latencies_ms, 99) for m in run.minutes if m.latencies_ms]


# A second whose fixed work took this much longer than the run's median ran on slow cores.
SLOW_SECOND = 1.5


def slow_minutes(run: SoakRun, p99s: list[float]) -> str:
    """The minutes whose p99 is over the bound, each with how slowly the cores did the fixed
    work in it against the whole run (1.39 x: the same work took 39 % more CPU time), how
    many of its seconds were slow, and the cores another tenant took (steal). A median alone
    hides a burst: in one soak a minute's median read 1.01 x while its slowest second ran at
    6 x, with 0.29 of the cores stolen."""
    if not p99s or not run.cpu:
        return ""
    bound = P99_DRIFT_MAX * statistics.median(p99s)
    run_canary = statistics.median(s.canary_ms for s in run.cpu)
    over = []
    for n, p99 in enumerate(p99s, start=1):
        seconds = run.cpu_in(n)
        if p99 > bound and seconds:
            ratios = [s.canary_ms / run_canary for s in seconds]
            slow = sum(r > SLOW_SECOND for r in ratios)
            steal = statistics.mean(s.cores["steal"] for s in seconds)
            over.append(
                f"minute {n} (fixed work {statistics.median(ratios):.2f} x the run's median, "
                f"{slow} of {len(seconds)} seconds over {SLOW_SECOND:g} x, the slowest "
                f"{max(ratios):.1f} x; steal {steal:.2f} cores)"
            )
    return f"; over it: {', '.join(over)}" if over else ""


def checks(run: SoakRun) -> list[tuple[str, str, bool]]:
    """(target, what the run did, met)."""
    minutes = [*run.minutes, run.max_run]
    server_errors = sum(m.server_errors for m in minutes)
    failures = sum(m.other_failures for m in minutes) + len(run.unexpected)
    lags = [c.refusal_decided_ms for c in run.churns]
    backslides = sum(c.backslides for c in run.churns)
    growth = run.rss_growth()
    worst = max(((end - base) / base for base, end in growth.values()), default=float("nan"))
    p99s = _p99s(run)
    drift = max(p99s) / statistics.median(p99s) if p99s else float("nan")
    bound = run.args.bound_ms
    return [
        ("no 5xx", f"{server_errors}", server_errors == 0),
        ("no other failure (non-2xx, socket error, timeout)", f"{failures}", failures == 0),
        (
            f"every refusal within {bound:g} ms (decided), no backslide",
            f"{len(lags)} deactivations, max {max(lags, default=float('nan')):.1f} ms, "
            f"{backslides} backslides",
            bool(lags) and max(lags) <= bound and backslides == 0,
        ),
        (
            f"RSS growth per worker ≤ {RSS_GROWTH_MAX:.0%}, peak of minute "
            f"{run.rss_baseline_minute} to peak of the last",
            ", ".join(f"{base:.0f} → {end:.0f} MB" for base, end in growth.values())
            + f" (worst {worst:+.1%})",
            bool(growth) and worst <= RSS_GROWTH_MAX,
        ),
        (
            f"p99 of every minute ≤ {P99_DRIFT_MAX} x the median minute's",
            f"{drift:.2f} x{slow_minutes(run, p99s)}",
            bool(p99s) and drift <= P99_DRIFT_MAX,
        ),
        (
            "the same workers throughout, no ERROR in the server log",
            f"workers {run.pids_at_start} → {run.pids_at_end}, {len(run.log_errors)} ERROR lines",
            run.pids_at_start == run.pids_at_end and not run.log_errors,
        ),
    ]


def passes(run: SoakRun) -> bool:
    return all(met for _, _, met in checks(run))


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


def spread(lags: list[float]) -> str:
    return f"p50 {percentile(lags, 50):.1f}, p99 {percentile(lags, 99):.1f}, max {max(lags):.1f} ms"


def render(run: SoakRun) -> str:
    a = run.args
    lags = [c.refusal_ms for c in run.churns] or [float("nan")]
    decided = [c.refusal_decided_ms for c in run.churns] or [float("nan")]
    back = [c.reacceptance_ms for c in run.churns] or [float("nan")]
    rounds = [c.round_ms for c in run.churns] or [float("nan")]
    mix = run.max_run
    cores = run.nproc
    soak_busy = (
        statistics.mean(sum(s.cores.values()) for s in run.cpu) / cores if run.cpu else float("nan")
    )
    errors = [e for m in [*run.minutes, mix] for e in m.errors][:5] + run.unexpected[:5]
    lines = [
        BEGIN,
        "",
        f"Command: `{run.command.strip()}`",
        "",
        *machine.report_lines(f"nproc {machine.nproc()}", ("grpcio", "uvicorn", "psycopg")),
        "- setup: `authgate serve --workers 2`, a throwaway PostgreSQL database, "
        f"Redis throttling; {a.accounts} users in the mix; the load generator shares the 2 "
        "cores",
        f"- maximum: {run.max_rps:.0f} req/s, the mix closed loop on {a.connections} "
        f"keep-alive connections for {a.max_seconds:g} s "
        f"(p50 {percentile(mix.latencies_ms, 50):.1f} ms, p99 "
        f"{percentile(mix.latencies_ms, 99):.1f} ms, {mix.server_errors} 5xx, "
        f"{mix.other_failures} other failures); the cores {run.max_busy:.0%} busy, "
        f"{run.max_busy * cores / run.max_rps * 1000:.2f} ms of CPU a request (every process: "
        "AuthGate, PostgreSQL, Redis, the generator)",
        f"- soak: {run.rate:.0f} req/s ({run.rate / run.max_rps:.0%} of it) for {a.minutes:g} min, "
        "open loop (latency counts from when a request was due), each request sent when due on "
        "an idle keep-alive connection or a new one: "
        f"{run.senders.opened if run.senders else 0} opened, at most "
        f"{run.senders.peak_busy if run.senders else 0} busy at once (limit "
        f"{a.most_connections}); the generator (load, probes, "
        f"churn) used {run.generator_cpu_s / run.seconds:.0%} of one core; the cores "
        f"{soak_busy:.0%} busy, {soak_busy * cores / run.rate * 1000:.2f} ms of CPU a request of "
        "the mix (the probes, the churn and the sampler included)",
        f"- churn: deactivate then activate every {a.churn_every:g} s through the "
        f"{'API (REST PATCH)' if a.writer == 'api' else 'CLI'}, probed by {a.askers} "
        "connections per probe and worker, asking in turn; refusal lag to every worker's "
        "refusal, decided (its access line or the answer, the earlier): "
        f"{spread(decided)}; answered (the answer arriving): {spread(lags)}; re-acceptance "
        f"answered p50 {percentile(back, 50):.1f}, max {max(back):.1f} ms; every probe "
        f"answering once, just before each deactivation, took p50 {percentile(rounds, 50):.1f}, "
        f"max {max(rounds):.1f} ms",
        "",
        *minute_table(run),
        "",
        "Who used the cores, by minute (cpu_sampler.py; steal: another tenant of the VM; "
        "fixed work: the same arithmetic timed in CPU time each second, longer when the cores "
        "run slower):",
        "",
        *cpu_table(run),
        "",
        "Each operation by minute (latency from when the request was due):",
        "",
        *operation_table(run),
        "",
        "The workers' own account, by minute (their /metrics, both workers summed): what held "
        "their event loops (a tick is due every 0.1 s), and how long after its write each "
        "worker applied each change-log row (the logins' rows and the churn's), and how many "
        "cache lookups went to the store because a tail was behind its staleness bound:",
        "",
        *worker_metrics.minute_rows(run.worker_readings),
        "",
        "| target | this run | verdict |",
        "| --- | --- | --- |",
        *(f"| {target} | {did} | {verdict(met)} |" for target, did, met in checks(run)),
        "",
        *(f"- failure seen: `{error}`" for error in errors),
        *(f"- server log: `{line[:200]}`" for line in run.log_errors[:5]),
        END,
    ]
    return "\n".join(line for n, line in enumerate(lines) if line or lines[n - 1])


def write_docs(path: Path, block: str) -> None:
    """Replace the soak block in `path`, or add the section (intro + block) at the end."""
    doc_blocks.replace_block(path, "soak.py", block, f"{SECTION}\n\n{INTRO}")
