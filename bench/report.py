"""The Markdown of one run_all.py run (results.py), and its place in docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

import doc_blocks
from results import (
    ARGON2_SECONDS,
    LOGIN_MIN,
    P99_MAX,
    THROUGHPUT_MIN,
    Comparison,
    Run,
    p50,
    p99,
    percentile,
    rps,
    verdict,
)

BEGIN, END = doc_blocks.markers("run_all.py")
SECTION = "## Throughput, latency and footprint"


def _f(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _mbs(sizes: list[float]) -> str:
    return ", ".join(f"{mb:.0f}" for mb in sizes)


def throughput_table(run: Run, door: str) -> list[str]:
    rows = [
        f"| operation | workers | AuthGate req/s | floor req/s | ratio (≥ {THROUGHPUT_MIN:.2f}) "
        f"| AuthGate p50 / p99 ms | floor p50 / p99 ms | p99 ratio (≤ {P99_MAX:.2f}) | target "
        "| CPU µs/request AuthGate / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for c in (c for c in run.comparisons if c.door == door):
        a, f = c.authgate, c.floor
        ours, floor = Comparison.cpu_us(a, c.authgate_cpu), Comparison.cpu_us(f, c.floor_cpu)
        cpu = f"{ours:,.0f} / {floor:,.0f}"
        rows.append(
            f"| {c.op} | {c.workers} | {_f(rps(a))} | {_f(rps(f))} "
            f"| {c.ratio:.2f} | {p50(a):.1f} / {p99(a):.1f} | {p50(f):.1f} / {p99(f):.1f} "
            f"| {c.p99_ratio:.2f} | {verdict(c.passes)} | {cpu} |"
        )
    return rows


def argon2_lines(run: Run) -> list[str]:
    if not run.argon2_samples:
        return []
    one = [x for x, _ in run.argon2_samples]
    every = [y for _, y in run.argon2_samples]
    scaling = [login.allowance / login.extrapolated for login in run.logins]
    return [
        "argon2id verify at AuthGate's parameters (m=19456 KiB, t=2, p=1), measured in the "
        f"benchmark's process for {ARGON2_SECONDS:g} s before, between and after each door's "
        f"two login runs (AuthGate's, the floor's): one thread {min(one):.1f} to "
        f"{max(one):.1f} verifies/s; one thread per core at once {min(every):.1f} to "
        f"{max(every):.1f}/s (means of three). The allowance is the mean of the three "
        "all-cores measurements: argon2 runs in a thread pool and "
        "releases the GIL, so even one worker can keep every core verifying, and this is what "
        "argon2 alone does with every core. The one-thread rate times nproc is in the last "
        "columns; argon2 alone does not reach it "
        f"({min(scaling):.2f} to {max(scaling):.2f} of it here). The floor's login (the "
        "framework, one argon2id verify in a pool of the process's share of the cores, and "
        "two tokens; no store) runs right after AuthGate's, against the same allowance: what "
        "the framework alone leaves of it.",
    ]


def login_table(run: Run) -> list[str]:
    rows = [
        "| door | workers | logins/s | p50 / p99 ms | allowance /s (all cores at once) "
        f"| ratio (≥ {LOGIN_MIN:.2f}) | target | floor logins/s | floor's ratio "
        "| one thread x cores /s | vs that | CPU ms per login, AuthGate / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for login in run.logins:
        r = login.result
        floor = f"{login.floor.rps:.1f} | {login.floor_ratio:.2f}" if login.floor else "- | -"
        floor_cpu = f"{login.floor_cpu_ms:.1f}" if login.floor_cpu_ms is not None else "-"
        rows.append(
            f"| {login.door} | {login.workers} | {r.rps:.1f} | {r.p50_ms:.0f} / {r.p99_ms:.0f} "
            f"| {login.allowance:.1f} | {login.ratio:.2f} | {verdict(login.passes)} "
            f"| {floor} | {login.extrapolated:.1f} | {r.rps / login.extrapolated:.2f} "
            f"| {login.cpu_ms:.1f} / {floor_cpu} |"
        )
    return rows


def scale_table(run: Run) -> list[str]:
    rows = [
        "| store | users | page | requests | p50 ms | p99 ms | p50 vs 1k (≤ 1.5 at 1M) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for point in run.scale:
        passes = run.scale_passes(point)
        mark = "" if passes is None else f" {verdict(passes)}"
        rows.append(
            f"| {point.backend} | {point.users:,} | {point.page} | {point.result.requests:,} "
            f"| {point.result.p50_ms:.2f} | {point.result.p99_ms:.2f} "
            f"| {run.scale_ratio(point):.2f}{mark} |"
        )
    return rows


def startup_table(run: Run) -> list[str]:
    rows = [
        "| workers | start | /readyz 200 s | gRPC SERVING s | every worker listening s "
        "| RSS idle MB (each serving process) | floor s | ratio to floor (≤ 1.5) "
        "| target (≤ 1.5 s and ≤ 1.5 x floor) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in run.startups:
        floor = "" if s.floor_s is None else f"{s.floor_s:.2f}"
        ratio = "" if s.floor_ratio is None else f"{s.floor_ratio:.2f}"
        rows.append(
            f"| {s.workers} | {s.case} | {s.rest_s:.2f} | {s.grpc_s:.2f} | {s.all_workers_s:.2f} "
            f"| {_mbs(s.rss_mb)} | {floor} | {ratio} | {verdict(s.passes)} |"
        )
    return rows


def floor_startup_lines(run: Run) -> list[str]:
    if not run.floor_startups:
        return []
    seen = ", ".join(f"{f.door} x{f.workers} {f.seconds:.2f} s" for f in run.floor_startups)
    return [
        "Floor s: the floors' own start-up at the same worker count, spawn to first answer "
        "(REST floor `/readyz` 200, gRPC floor any answer to VerifyToken), each floor alone, "
        "the median of its starts; the slower of the two floors is the row's floor, since "
        f"AuthGate serves both doors from one process. Starts measured: {seen}.",
        "",
    ]


def memory_table(run: Run) -> list[str]:
    rows = [
        "| workers | after | AuthGate RSS, MB (each worker) | target (≤ 120 MB; with the caches "
        "full, also ≤ floor + 25 MB) | floors per process, MB (REST, gRPC) |",
        "| ---: | --- | --- | --- | --- |",
    ]
    for m in run.rss_after_load:
        budget = "" if m.floor_mb is None else f" (≤ {m.floor_mb + 25:.0f} MB)"
        rows.append(
            f"| {m.workers} | {m.after} | {_mbs(m.sizes_mb)} "
            f"| {verdict(m.passes)}{budget} | {_mbs(run.floor_rss.get(m.workers, []))} |"
        )
    return rows


def revocation_table(run: Run) -> list[str]:
    rows = [
        "| setup | writer | trials | probing connections | p50 ms | p99 ms | max ms "
        "| target (p99 ≤ 100 ms, no backslide) | re-acceptance p50 / max ms | backslides "
        "| probe round p50 ms | last to refuse in the worst trial |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for r in run.revocation:
        lags, back = r.refusal_ms, r.reacceptance_ms
        rows.append(
            f"| {r.setup} | {r.writer} | {len(lags)} | {r.probes} "
            f"| {percentile(lags, 50):.1f} | {r.p99_ms:.1f} | {max(lags):.1f} "
            f"| {verdict(r.passes)} | {percentile(back, 50):.1f} / {max(back):.1f} "
            f"| {r.backslides} | {percentile(r.round_ms, 50):.1f} "
            f"| {r.last_of_worst or 'none after the return'} |"
        )
    return rows


REVOCATION_METHOD = (
    "From the return of the write (the CLI's exit; the API's response) to the last probing "
    "connection's first refusal of the user's access token (REST 401, gRPC UNAUTHENTICATED). "
    "Probes: REST `GET /api/v1/users/`, gRPC VerifyToken and gRPC ListUsers, one keep-alive "
    "connection of each on every serving process (its owner read from `ss -tnpH`); each has "
    "answered 'accepted' before the write, asks every 20 ms while the writer runs and every "
    "2 ms after it returned (resolution: 2 ms plus one answer; the probe round column is the "
    "time for every probe to answer once, all at once, which bounds it). 0 means every probe "
    "refused before the writer returned. Each trial then activates the user again (re-acceptance: "
    "the same token good again); a backslide is an answer in the old state after a probe saw "
    "the new one. Replicas: two `authgate serve`, each its own data directory, one throwaway "
    "PostgreSQL database holding the signing keys; the API writes through the first."
)


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
        f"- Python imports alone (`{run.import_statement}`): {run.imports_s:.2f} s"
        + (
            "; cumulative import time of the big packages (first import, `-X importtime`): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in run.import_costs[:8])
            if run.import_costs
            else ""
        ),
        "",
        *startup_table(run),
        "",
        *floor_startup_lines(run),
        *memory_table(run),
        "",
    ]
    if run.revocation:
        lines += ["### Revocation lag", "", REVOCATION_METHOD, "", *revocation_table(run), ""]
    if run.notes:
        lines += ["### Notes from this run", "", *(f"- {note}" for note in run.notes), ""]
    lines.append(END)
    return "\n".join(lines)


def write_docs(path: Path, block: str, intro: str) -> None:
    """Replace the generated block in `path`, or add the section (intro + block) at the end."""
    if not path.exists():
        path.write_text("# Benchmarks\n")
    doc_blocks.replace_block(path, "run_all.py", block, f"{SECTION}\n\n{intro}")
