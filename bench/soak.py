"""Soak: mixed REST traffic at 80 % of the measured maximum for `--minutes`, on
`authgate serve --workers 2` over PostgreSQL (a throwaway database) and Redis, while one user is
deactivated and activated again every `--churn-every` seconds.

1. The mix (login 5 %, refresh 20 %, list users 25 %, verify 50 %; soak_load.py) closed loop
   for `--max-seconds`: the maximum rate.
2. The same mix open loop at `--load-fraction` of it for `--minutes`. Meanwhile, every
   `--churn-every` s, the churned user (not in the mix) is deactivated through the API or the
   CLI, and revocation_lag.trial times every worker refusing its token (REST list, gRPC
   VerifyToken and ListUsers, `--askers` connections each per worker, asking in turn), both
   when each refusal arrives and when the worker decided it, by its access line
   (decision_times.py); then the user is activated again.
   Each worker's RSS is read every 5 s, and every second who used the cores (cpu_sampler.py:
   an open loop at a rate the cores cannot keep up with builds a queue); and every time this
   process's own event loop is held over 20 ms, which makes the load it sends late.
3. Verdicts (soak_report.py): no 5xx; no other failure (no request of the mix should fail: the
   churned user's token is not in it); every refusal within the staleness bound; RSS growth
   per worker at most 5 % from minute 2 to the last (the peak of each); p99 of every minute
   within 1.5 x the median minute's.

Not part of `make bench` or CI:

    .venv/bin/python bench/soak.py [--minutes 10] [--writer api|cli] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import fill_store
import machine
import redis
import revocation_lag
import soak_report
import worker_metrics
from connections import GrpcConnection, HttpConnection
from cpu_sampler import CpuSampler
from decision_times import DecisionTimes
from soak_load import Account, Recorder, SenderPool, fixed_rate, max_rate
from soak_run import Churn, SoakRun
from sqlalchemy.engine import make_url
from staff import authgate_env, login

import servers

ROOT = Path(__file__).resolve().parent.parent
RSS_EVERY_S = 5.0
LOOP_TICK_S = 0.01
LOOP_HELD_MS = 20.0
PROBE_KEEPALIVE_S = 2.0  # uvicorn closes a keep-alive connection idle for 5 s


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--load-fraction", type=float, default=0.8, help="of the maximum rate")
    parser.add_argument(
        "--rate",
        type=float,
        help="requests/s to soak at, instead of --load-fraction of the maximum (A/B runs: each"
        " arm at the same offered load); the maximum is still measured and reported",
    )
    parser.add_argument("--max-seconds", type=float, default=15, help="the maximum-rate run")
    parser.add_argument(
        "--connections", type=int, default=16, help="of the closed loop that finds the maximum"
    )
    parser.add_argument(
        "--most-connections",
        type=int,
        default=1000,
        help="open at once by the soak's open loop, which opens one whenever every other waits",
    )
    parser.add_argument("--accounts", type=int, default=20, help="users of the mix")
    parser.add_argument("--churn-every", type=float, default=10, help="seconds")
    parser.add_argument("--writer", choices=("api", "cli"), default="api")
    parser.add_argument(
        "--askers", type=int, default=4, help="probing connections per probe and worker"
    )
    bound = float(os.environ.get("AUTHGATE_CACHE_STALENESS_MS", "100"))
    parser.add_argument("--bound-ms", type=float, default=bound, help="refusal bound")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--write", action="store_true", help="put the Soak section in --output")
    parser.add_argument("--keep-log", type=Path, help="copy the server's log there at the end")
    return parser.parse_args(argv)


async def make_accounts(server: servers.Server, staff: str, count: int) -> list[Account]:
    connection = await HttpConnection.open(server.http_url)
    accounts = []
    try:
        for n in range(count):
            credentials = {"email": f"soak{n}@example.com", "password": f"soak-password-{n}"}
            status, body = await connection.request(
                "POST", "/api/v1/users/", bearer=staff, body=credentials
            )
            assert status == 200, f"CreateUser answered {status}: {body[:200]!r}"
            status, body = await connection.request("POST", "/api/v1/token/", body=credentials)
            assert status == 200, f"login answered {status}: {body[:200]!r}"
            pair = json.loads(body)
            accounts.append(Account(**credentials, access=pair["access"], refresh=pair["refresh"]))
    finally:
        await connection.close()
    return accounts


@dataclass
class Churned:
    """The churned user, its probes (every worker, `--askers` connections each) and how it is
    written: all made before the soak's clock starts, since finding each connection's worker
    runs `ss` and waits for it, which would hold back the load this event loop sends."""

    probes: list[revocation_lag.Probe]
    opened: list[HttpConnection | GrpcConnection]
    write: Callable[[bool], Awaitable[None]]
    decisions: DecisionTimes


async def prepare_churn(
    setup: revocation_lag.Setup, staff: str, args: argparse.Namespace
) -> Churned:
    first = setup.servers[0]
    admin = await HttpConnection.open(first.http_url)
    credentials = {"email": revocation_lag.PROBED_EMAIL, "password": revocation_lag.PROBED_PASSWORD}
    status, body = await admin.request("POST", "/api/v1/users/", bearer=staff, body=credentials)
    assert status == 200, f"CreateUser answered {status}: {body[:200]!r}"
    user_id = json.loads(body)["user"]["id"]
    status, body = await admin.request("POST", "/api/v1/token/", body=credentials)
    token = json.loads(body)["access"]
    await admin.close()
    probes, opened = [], []
    for _ in range(args.askers):
        more, more_opened = await revocation_lag.open_probes(setup, token)
        probes += more
        opened += more_opened
        # Opening a round waits for `ss`, seconds on busy cores: every probe asks once more
        # after each, or uvicorn closes it as idle for 5 s before the first trial.
        await asyncio.gather(*(probe.accepted(None) for probe in probes))
    if args.writer == "cli":
        write = revocation_lag.cli_writer(setup.cli_env)
    else:
        write = revocation_lag.api_writer(first.http_url, staff, user_id)
    decisions = DecisionTimes(
        [server.log_path for server in setup.servers], revocation_lag.REQUEST_ID_PREFIX
    )
    return Churned(probes, opened, write, decisions)


async def churn(run: SoakRun, churned: Churned, args: argparse.Namespace) -> None:
    """Deactivate and activate the churned user every `--churn-every` s until the run ends."""
    probes = churned.probes
    try:
        next_at = run.started + args.churn_every
        while next_at < run.started + run.seconds - 1:
            await asyncio.gather(*(keep_asking(run, probe, next_at) for probe in probes))
            off = await revocation_lag.trial(
                probes, churned.write, active=False, decisions=churned.decisions
            )
            on = await revocation_lag.trial(probes, churned.write, active=True)
            at = time.perf_counter() - run.started
            backslides = off.backslides + on.backslides
            assert off.decided_ms is not None
            churn = Churn(at, off.lag_ms, off.decided_ms, on.lag_ms, backslides, off.round_ms)
            run.churns.append(churn)
            next_at += args.churn_every
    finally:
        for connection in churned.opened:
            await connection.close()


async def keep_asking(run: SoakRun, probe: revocation_lag.Probe, until: float) -> None:
    """Ask every PROBE_KEEPALIVE_S from `probe`'s own last answer until `until`: this holds
    the REST probes' connections open, and checks the active user is accepted. Each probe on
    its own clock: when they asked together, one slow answer under load held the others
    back, and a probe could idle past uvicorn's 5 s keep-alive (2 s plus the slowest answer;
    a soak died so at 18:13 on 2026-12-07, 5.5 s after the probe's last answer)."""
    while (left := until - time.perf_counter()) > 0:
        await asyncio.sleep(min(PROBE_KEEPALIVE_S, left))
        if not await probe.accepted(None):
            run.unexpected.append(f"{probe.name} refused the active user's token")


async def sample_rss(run: SoakRun, server: servers.Server, until: float) -> None:
    # In a thread: finding the workers scans every process in /proc, which would hold back
    # the load this event loop sends.
    while time.perf_counter() < until:
        run.rss.append((time.perf_counter() - run.started, await asyncio.to_thread(server.rss_mb)))
        await asyncio.sleep(RSS_EVERY_S)
    run.rss.append((time.perf_counter() - run.started, await asyncio.to_thread(server.rss_mb)))


async def read_worker_metrics(run: SoakRun, server: servers.Server, until: float) -> None:
    """The workers' own metrics at the start and at the end of every minute."""
    minute = 0
    while True:
        at = time.perf_counter() - run.started
        reading = await asyncio.to_thread(worker_metrics.read, server.http_url, at)
        run.worker_readings.append(reading)
        minute += 1
        if run.started + minute * 60 > until + 1:
            return
        await asyncio.sleep(max(0.0, run.started + minute * 60 - time.perf_counter()))


async def watch_loop(run: SoakRun, until: float) -> None:
    """Record every time this event loop, which sends the load, was held past a tick by more
    than LOOP_HELD_MS: requests due meanwhile go out late and read slow."""
    while (asked := time.perf_counter()) < until:
        await asyncio.sleep(LOOP_TICK_S)
        late_ms = (time.perf_counter() - asked - LOOP_TICK_S) * 1000
        if late_ms > LOOP_HELD_MS:
            run.loop_held.append((asked - run.started, late_ms))


async def soak(server: servers.Server, setup: revocation_lag.Setup, run: SoakRun) -> None:
    args = run.args
    staff = login(server).access
    accounts = await make_accounts(server, staff, args.accounts)
    print(f"maximum rate: the mix closed loop for {args.max_seconds:g} s...", file=sys.stderr)
    ticks = machine.cpu_ticks()
    run.max_rps, run.max_run = await max_rate(server, accounts, args.max_seconds, args.connections)
    run.max_busy = machine.busy_share(ticks, machine.cpu_ticks())
    run.rate = args.rate or run.max_rps * args.load_fraction
    print(
        f"  {run.max_rps:.0f} req/s; soaking at {run.rate:.0f} req/s for {args.minutes:g} min",
        file=sys.stderr,
    )
    churned = await prepare_churn(setup, staff, args)
    cpu_before = time.process_time()
    run.started = time.perf_counter()
    recorder = Recorder(run.started)
    pool = run.senders = SenderPool(server.http_url, args.most_connections)
    run.recorder = recorder
    sampler = CpuSampler(server.pid, run.started, server.serving_pids())
    sampler.start()
    try:
        await asyncio.gather(
            fixed_rate(accounts, run.rate, run.seconds, recorder, pool),
            churn(run, churned, args),
            sample_rss(run, server, run.started + run.seconds),
            watch_loop(run, run.started + run.seconds),
            read_worker_metrics(run, server, run.started + run.seconds),
        )
    finally:
        sampler.stop()
        run.cpu = sampler.samples
    run.generator_cpu_s = time.process_time() - cpu_before
    server.check_alive()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    redis.Redis.from_url(args.redis).ping()  # fail now, not after the database is made
    name = f"authgate_soak_{os.getpid()}"
    fill_store.create_database(args.postgres, name)
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    env = {**authgate_env(), "AUTHGATE_DATABASE_URL": url, "AUTHGATE_REDIS_URL": args.redis}
    run = SoakRun(args, "python bench/soak.py " + " ".join(sys.argv[1:] if argv is None else argv))
    try:
        with tempfile.TemporaryDirectory(prefix="authgate-soak-") as tmp_name:
            tmp = Path(tmp_name)
            server = servers.authgate(tmp / "data", tmp / "authgate.log", 2, env)
            try:
                server.start(rest=True, grpc=True, count=2)
                run.pids_at_start = server.serving_pids()
                cli_env = {**os.environ, **env, "AUTHGATE_DATA_DIR": str(tmp / "data")}
                setup = revocation_lag.Setup("PostgreSQL + Redis, --workers 2", [server], cli_env)
                try:
                    asyncio.run(soak(server, setup, run))
                except BaseException:
                    kept = Path(tempfile.gettempdir()) / f"authgate-soak-{os.getpid()}.log"
                    kept.write_text(server.log)
                    print(f"the soak failed; the server's log is kept at {kept}", file=sys.stderr)
                    raise
                run.pids_at_end = server.serving_pids()
                if args.keep_log:
                    args.keep_log.write_text(server.log)
                run.log_errors = [
                    line
                    for line in server.log.splitlines()
                    if " ERROR " in line or "Traceback" in line
                ]
            finally:
                server.stop()
    finally:
        fill_store.drop_database(args.postgres, name)
    section = soak_report.render(run)
    print(section)
    if args.write:
        soak_report.write_docs(args.output, section)
        print(f"written to {args.output}", file=sys.stderr)
    return 0 if soak_report.passes(run) else 1


if __name__ == "__main__":
    raise SystemExit(main())
