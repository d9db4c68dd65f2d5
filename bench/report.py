"""The results of one run_all.py run, its targets, and their Markdown for docs/benchmarks.md."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from load import LoadResult
from profiles import OTHER, RATE, Profile

# Targets: throughput and p99 against the floor, login against argon2, scale, start-up, memory.
THROUGHPUT_MIN = 0.90  # AuthGate / floor, requests per second
P99_MAX = 1.2  # AuthGate p99 / floor p99 at the same concurrency
LOGIN_MIN = 0.90  # login rate / what argon2 alone allows on the cores used
SCALE_MAX = 1.5  # ListUsers p50 at 1M users / p50 at 1k
STARTUP_MAX_S = 1.5
RSS_MAX_MB = 120.0

BEGIN = "<!-- bench/run_all.py: begin (generated; edit the script, not this block) -->"
END = "<!-- bench/run_all.py: end -->"
SECTION = "## Throughput, latency and footprint"


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


@dataclass
class Comparison:
    """One operation on one door at one worker count: AuthGate and floor runs, interleaved."""

    door: str
    op: str
    workers: int
    authgate: list[LoadResult] = field(default_factory=list)
    floor: list[LoadResult] = field(default_factory=list)
    # CPU seconds the server's processes used during each run (noise moves rates more).
    authgate_cpu: list[float] = field(default_factory=list)
    floor_cpu: list[float] = field(default_factory=list)

    @staticmethod
    def cpu_us(runs: list[LoadResult], cpu: list[float]) -> float:
        return sum(cpu) / sum(r.requests for r in runs) * 1e6

    @staticmethod
    def _rps(runs: list[LoadResult]) -> float:
        return sum(r.requests for r in runs) / sum(r.seconds for r in runs)

    @property
    def ratio(self) -> float:
        return self._rps(self.authgate) / self._rps(self.floor)

    @property
    def p99_ratio(self) -> float:
        return p99(self.authgate) / p99(self.floor)

    @property
    def passes(self) -> bool:
        return self.ratio >= THROUGHPUT_MIN and self.p99_ratio <= P99_MAX


def p99(runs: list[LoadResult]) -> float:
    return statistics.fmean(r.p99_ms for r in runs)


def p50(runs: list[LoadResult]) -> float:
    return statistics.fmean(r.p50_ms for r in runs)


@dataclass
class Login:
    door: str
    workers: int
    result: LoadResult
    allowance: float  # logins/s argon2 alone allows on the cores the workers can use
    parallel: float  # verifications/s measured with one thread per core at once
    cpu_ms: float  # CPU time of the server per login (argon2 included)

    @property
    def ratio(self) -> float:
        return self.result.rps / self.allowance


@dataclass
class ScalePoint:
    backend: str
    users: int
    page: str  # "first" or "deep"
    result: LoadResult
    plan: str


@dataclass
class Startup:
    workers: int
    case: str
    rest_s: float
    grpc_s: float
    all_workers_s: float
    rss_mb: list[float]

    @property
    def ready_s(self) -> float:
        return max(self.rest_s, self.grpc_s)


@dataclass
class Run:
    command: str
    environment: list[str]
    method: list[str]
    comparisons: list[Comparison] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    # (one thread, every core at once) argon2id verifications/s, around each login run
    argon2_samples: list[tuple[float, float]] = field(default_factory=list)
    scale: list[ScalePoint] = field(default_factory=list)
    startups: list[Startup] = field(default_factory=list)
    imports_s: float = 0.0
    import_costs: list[tuple[str, float]] = field(default_factory=list)
    store_paths: list[tuple[str, float, float]] = field(default_factory=list)
    # (workers, after which runs, MB of each worker)
    rss_after_load: list[tuple[int, str, list[float]]] = field(default_factory=list)
    floor_rss: dict[int, list[float]] = field(default_factory=dict)
    profiles: dict[str, tuple[Profile, float, Profile, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def _f(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def throughput_table(run: Run, door: str) -> list[str]:
    rows = [
        "| operation | workers | AuthGate req/s | floor req/s | ratio (≥ 0.90) "
        "| AuthGate p50 / p99 ms | floor p50 / p99 ms | p99 ratio (≤ 1.2) | target "
        "| CPU µs/request AuthGate / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for c in (c for c in run.comparisons if c.door == door):
        a, f = c.authgate, c.floor
        ours, floor = Comparison.cpu_us(a, c.authgate_cpu), Comparison.cpu_us(f, c.floor_cpu)
        cpu = f"{ours:,.0f} / {floor:,.0f}"
        rows.append(
            f"| {c.op} | {c.workers} | {_f(Comparison._rps(a))} | {_f(Comparison._rps(f))} "
            f"| {c.ratio:.2f} | {p50(a):.1f} / {p99(a):.1f} | {p50(f):.1f} / {p99(f):.1f} "
            f"| {c.p99_ratio:.2f} | {verdict(c.passes)} | {cpu} |"
        )
    return rows


def argon2_lines(run: Run) -> list[str]:
    if not run.argon2_samples:
        return []
    one = [x for x, _ in run.argon2_samples]
    every = [y for _, y in run.argon2_samples]
    return [
        "argon2id verify at AuthGate's parameters (m=19456 KiB, t=2, p=1), measured in the "
        "benchmark's process for 1 s before and 1 s after each login run (the mean of the two "
        f"is that run's allowance): one thread {min(one):.1f} to {max(one):.1f} verifies/s; "
        f"one thread per core at once {min(every):.1f} to {max(every):.1f}/s. The allowance "
        "is the one-thread rate times nproc: argon2 runs in a thread pool and releases the GIL, so "
        "even one worker can keep every core verifying.",
    ]


def login_table(run: Run) -> list[str]:
    rows = [
        "| door | workers | logins/s | p50 / p99 ms | allowance /s (per core x cores) "
        "| ratio (≥ 0.90) | target | vs argon2 on all cores at once | CPU ms per login |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for login in run.logins:
        r = login.result
        rows.append(
            f"| {login.door} | {login.workers} | {r.rps:.1f} | {r.p50_ms:.0f} / {r.p99_ms:.0f} "
            f"| {login.allowance:.1f} | {login.ratio:.2f} | {verdict(login.ratio >= LOGIN_MIN)} "
            f"| {r.rps / login.parallel:.2f} | {login.cpu_ms:.1f} |"
        )
    return rows


def scale_table(run: Run) -> list[str]:
    rows = [
        "| store | users | page | requests | p50 ms | p99 ms | p50 vs 1k (≤ 1.5 at 1M) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for point in run.scale:
        base = next(
            p for p in run.scale if (p.backend, p.page) == (point.backend, point.page)
        ).result.p50_ms
        ratio = point.result.p50_ms / base
        mark = f" {verdict(ratio <= SCALE_MAX)}" if point.users >= 1_000_000 else ""
        rows.append(
            f"| {point.backend} | {point.users:,} | {point.page} | {point.result.requests:,} "
            f"| {point.result.p50_ms:.2f} | {point.result.p99_ms:.2f} | {ratio:.2f}{mark} |"
        )
    return rows


def startup_table(run: Run) -> list[str]:
    rows = [
        "| workers | start | /readyz 200 s | gRPC SERVING s | every worker listening s "
        "| RSS idle MB (each serving process) | target (≤ 1.5 s) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in run.startups:
        rss = ", ".join(f"{mb:.0f}" for mb in s.rss_mb)
        rows.append(
            f"| {s.workers} | {s.case} | {s.rest_s:.2f} | {s.grpc_s:.2f} | {s.all_workers_s:.2f} "
            f"| {rss} | {verdict(s.ready_s <= STARTUP_MAX_S)} |"
        )
    return rows


def memory_table(run: Run) -> list[str]:
    rows = [
        "| workers | after | AuthGate RSS, MB (each worker) | target (≤ 120 MB) "
        "| floors per process, MB (REST, gRPC) |",
        "| ---: | --- | --- | --- | --- |",
    ]
    for workers, after, sizes in run.rss_after_load:
        floors = ", ".join(f"{mb:.0f}" for mb in run.floor_rss.get(workers, []))
        rows.append(
            f"| {workers} | {after} | {', '.join(f'{mb:.0f}' for mb in sizes)} "
            f"| {verdict(max(sizes) <= RSS_MAX_MB)} | {floors} |"
        )
    return rows


def profile_tables(run: Run) -> list[str]:
    if not run.profiles:
        return []
    layers = sorted(
        {layer for a, _, f, _ in run.profiles.values() for layer in (*a.by_layer, *f.by_layer)},
        key=lambda layer: (layer == OTHER, layer),
    )
    names = list(run.profiles)
    lines = [
        f"GIL-holding time per request, µs, AuthGate (its share) / floor (`py-spy record --gil "
        f"-r {RATE}`, 1 worker, one extra run of each under the same load; samples ÷ rate ÷ "
        "requests). A sample counts for the innermost frame of a known package; stdlib frames "
        "(json, asyncio, typing...) count for their caller. It is wall time with the GIL held, "
        "so it also counts a holder waiting for a core: compare shares, and the CPU column "
        "above for totals.",
        "",
        "| layer | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]

    def micros(profile: Profile, requests: float, layer: str | None) -> float:
        count = profile.samples if layer is None else profile.by_layer[layer]
        return count / RATE / requests * 1e6 if requests else 0.0

    for layer in [*layers, None]:
        cells = []
        for name in names:
            a, a_req, f, f_req = run.profiles[name]
            share = a.samples if layer is None else a.by_layer[layer]
            cells.append(
                f"{micros(a, a_req, layer):.0f} ({share / max(a.samples, 1):.0%}) "
                f"/ {micros(f, f_req, layer):.0f}"
            )
        label = "**total**" if layer is None else layer
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    modules = sorted(
        {m for a, _, _, _ in run.profiles.values() for m in a.by_module_self},
        key=lambda m: -sum(a.by_module_self[m] / a.samples for a, _, _, _ in run.profiles.values()),
    )
    lines += [
        "",
        "Inside AuthGate, µs of GIL per request by module: inclusive (a frame of the module "
        "anywhere on the stack) / own (the module is the innermost AuthGate frame and the "
        "time is not in Connexion, uvicorn or grpc: its own code and the libraries it calls, "
        "such as the sqlite3 driver for `store/*`, PyJWT for `tokens.py`, protobuf for "
        "`messages.py`, logging and prometheus_client for `observability.py`). The store's "
        "threads run operations from their own stacks, so `store/database.py` does not "
        "include the time of the statements it hands off.",
        "",
        "| module | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    for module in modules[:14]:
        cells = []
        for name in names:
            a, a_req, _, _ = run.profiles[name]
            per = 1e6 / RATE / a_req if a_req else 0.0
            cells.append(f"{a.by_module[module] * per:.0f} / {a.by_module_self[module] * per:.0f}")
        lines.append(f"| `{module}` | " + " | ".join(cells) + " |")
    lines += ["", "Hottest innermost frames in AuthGate (share of its GIL samples):", ""]
    for name in names:
        a = run.profiles[name][0]
        top = ", ".join(
            f"`{frame}` {count / a.samples:.0%}" for frame, count in a.leaves.most_common(5)
        )
        lines.append(f"- {name}: {top}")
    return lines


def render(run: Run) -> str:
    lines = [
        BEGIN,
        "",
        f"Command: `{run.command}` ({run.elapsed_s:.0f} s)",
        "",
        *run.environment,
        "",
        *run.method,
        "",
        "### REST (wrk) against the floor",
        "",
        *throughput_table(run, "REST"),
        "",
        "### gRPC (h2load) against the floor",
        "",
        *throughput_table(run, "gRPC"),
        "",
        "### Login (argon2id bound)",
        "",
        *argon2_lines(run),
        "",
        *login_table(run),
        "",
        "### ListUsers latency by store size (1 connection, pageSize=50, staff token)",
        "",
        "One store and one server per size, all filled first; then every size and page is "
        "measured once per round, round-robin, so that noise on the machine hits every size "
        "alike. Requests are summed over the rounds; p50 and p99 are means over them.",
        "",
        *scale_table(run),
        "",
        *(
            f"- query plan, {p.backend}, deep page at {p.users:,} users: `{p.plan}`"
            for p in run.scale
            if p.plan
        ),
        "",
        "### Startup and memory",
        "",
        f"- Python imports alone (`import authgate.cli, authgate.server`): {run.imports_s:.2f} s"
        + (
            "; cumulative import time of the big packages (first import, `-X importtime`): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in run.import_costs[:8])
            if run.import_costs
            else ""
        ),
        "",
        *startup_table(run),
        "",
        *memory_table(run),
        "",
    ]
    if run.profiles:
        lines += ["### Profile", "", *profile_tables(run), ""]
    if run.store_paths:
        lines += [
            "One user lookup (`UserStore.get`'s query), 30 concurrent callers in one process, "
            "SQLite (`bench/store_paths.py`):",
            "",
            "| path | lookups/s | CPU µs per lookup |",
            "| --- | ---: | ---: |",
            *(f"| {label} | {rate:,.0f} | {cpu:,.0f} |" for label, rate, cpu in run.store_paths),
            "",
        ]
    if run.notes:
        lines += ["### Notes from this run", "", *(f"- {note}" for note in run.notes), ""]
    lines.append(END)
    return "\n".join(lines)


def write_docs(path: Path, block: str, intro: str) -> None:
    """Replace the generated block in `path`, or add the section (intro + block) at the end."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{intro}\n\n{block}\n"
    path.write_text(text)
