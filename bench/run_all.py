"""Every AuthGate benchmark in one run, written to docs/benchmarks.md.

1. REST (wrk) and gRPC (h2load) throughput and latency at 32 connections for refresh, list
   users and verify, AuthGate and a floor (bench/floor_rest.py, bench/floor_grpc.py: the same
   framework and JWT work, no database) run back to back, interleaved; login against what
   argon2id alone allows.
2. ListUsers latency with 1k, 100k and 1M users (first page and a page deep in the table), on
   SQLite and, when reachable, PostgreSQL (a throwaway database, dropped afterwards).
3. Startup time to ready (/readyz 200 and gRPC health SERVING) and resident memory.

Each part runs at every worker count asked for (`authgate serve --workers N`), starting the
real server on ports 0 with a temporary data directory. Needs wrk and h2load
(bench/install_tools.sh); `--profile` also needs py-spy in the venv.

    .venv/bin/python bench/run_all.py [--quick] [--workers 1,2] [--profile] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fill_store
import floor_work
import grpc
import httpx
import load
import profiles
import report
import store_paths
from argon2 import PasswordHasher, Type
from grpc_health.v1 import health_pb2, health_pb2_grpc
from load import LoadResult
from machine import cpu_model, package_versions
from sqlalchemy.engine import make_url

from authgate.core.paging import encode_page_token
from authgate.v1 import auth_pb2

import servers

ROOT = Path(__file__).resolve().parent.parent
STAFF_EMAIL = "bench-staff@example.com"
STAFF_PASSWORD = "bench-staff-password"  # noqa: S105 - a throwaway benchmark user
PACKAGES = (
    "grpcio",
    "connexion",
    "uvicorn",
    "starlette",
    "PyJWT",
    "SQLAlchemy",
    "cryptography",
    "protobuf",
    "psycopg",
    "httptools",
    "argon2-cffi",
)
SERVICE = "/authgate.v1.AuthService/"


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str


@dataclass(frozen=True)
class RestOp:
    name: str
    method: str
    path: str
    body: Callable[[Tokens], dict[str, str] | None]
    bearer: bool


@dataclass(frozen=True)
class GrpcOp:
    name: str
    request: Callable[[Tokens], Any]
    bearer: bool


REST_OPS = (
    RestOp("refresh", "POST", "/api/v1/token/refresh/", lambda t: {"refresh": t.refresh}, False),
    RestOp("list users (page 50)", "GET", "/api/v1/users/?pageSize=50", lambda t: None, True),
    RestOp(
        "verify (access token)",
        "POST",
        "/api/v1/token/verify/",
        lambda t: {"token": t.access},
        False,
    ),
)
GRPC_OPS = (
    GrpcOp("RefreshToken", lambda t: auth_pb2.RefreshTokenRequest(refresh=t.refresh), False),
    GrpcOp("ListUsers", lambda t: auth_pb2.ListUsersRequest(page_size=50), True),
    GrpcOp("VerifyToken", lambda t: auth_pb2.VerifyTokenRequest(token=t.access), False),
)
LOGIN_BODY = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD}


def authgate_env() -> dict[str, str]:
    return {
        "AUTHGATE_BOOTSTRAP_EMAIL": STAFF_EMAIL,
        "AUTHGATE_BOOTSTRAP_PASSWORD": STAFF_PASSWORD,
        # One token serves a whole run: it must outlive it (the default is 5 minutes).
        "AUTHGATE_ACCESS_TOKEN_LIFETIME": "3600",
        # Tens of thousands of logins from one address are the point here, not an attack.
        "AUTHGATE_LOGIN_LIMIT_PER_ACCOUNT": "100000000/minute",
        "AUTHGATE_LOGIN_LIMIT_PER_ADDRESS": "100000000/minute",
    }


def login(server: servers.Server) -> Tokens:
    response = httpx.post(f"{server.http_url}/api/v1/token/", json=LOGIN_BODY, timeout=30)
    response.raise_for_status()
    pair = response.json()
    return Tokens(access=pair["access"], refresh=pair["refresh"])


# --------------------------------------------------------------------------- throughput


class Bench:
    """One worker count: AuthGate and both floors up, every load run in turn."""

    def __init__(self, args: argparse.Namespace, tmp: Path, workers: int, run: report.Run):
        self.args, self.tmp, self.workers, self.run = args, tmp / f"w{workers}", workers, run
        self.tmp.mkdir()
        self.serving: list[servers.Server] = []

    def check(self, result: LoadResult, what: str, *, measured: bool = True) -> LoadResult:
        for server in self.serving:
            server.check_alive()
        if result.failed:
            raise RuntimeError(f"{what}: {result.failed} failed answers ({result.note})")
        if measured and result.requests < 2:
            raise RuntimeError(f"{what}: no answers within the run")
        return result

    def start(self) -> None:
        data = self.tmp / "authgate"
        self.authgate = servers.authgate(
            data, self.tmp / "authgate.log", self.workers, authgate_env()
        )
        self.serving.append(self.authgate.start(rest=True, grpc=True, count=self.workers))
        fill_store.insert_sqlite(data / "authgate.sqlite3", 0, 60)  # ≥ 50 to list
        self.tokens = login(self.authgate)
        key = self.tmp / "floor-key.pem"
        floor_work.write_new_key(key)
        floor_work.load_key(key)
        self.floor_tokens = Tokens(
            access=floor_work.encode("01FL00R0000000000000000000", "access"),
            refresh=floor_work.encode("01FL00R0000000000000000000", "refresh"),
        )
        self.floor_rest = servers.floor("rest", key, self.tmp / "floor-rest.log", self.workers)
        self.floor_grpc = servers.floor("grpc", key, self.tmp / "floor-grpc.log", self.workers)
        self.serving.append(self.floor_rest.start(rest=True, grpc=False))
        self.serving.append(self.floor_grpc.start(rest=False, grpc=True))

    def stop(self) -> None:
        for server in self.serving:
            server.stop()

    # -- one door's runner for one system

    def rest_runner(
        self, op: RestOp, url: str, tokens: Tokens, tag: str
    ) -> Callable[[float], LoadResult]:
        headers = {"Authorization": f"Bearer {tokens.access}"} if op.bearer else {}
        body = op.body(tokens)
        load.check_rest(url + op.path, op.method, body, headers)
        script = load.wrk_script(self.tmp / f"{tag}.lua", op.method, body, headers)
        connections = self.args.connections
        return lambda seconds: load.wrk(
            url + op.path, script, connections=connections, duration=seconds
        )

    def grpc_runner(
        self,
        name: str,
        message: Any,
        bearer: str | None,
        target: str,
        tag: str,
        streams: int | None = None,
    ) -> Callable[[float], LoadResult]:
        frame = load.grpc_frame(message)
        metadata = [("authorization", f"Bearer {bearer}")] if bearer else []
        size = load.check_grpc(target, SERVICE + name, frame, metadata)
        body = self.tmp / f"{tag}.bin"
        body.write_bytes(frame)
        headers = dict(metadata)
        a = self.args
        url = f"http://{target}{SERVICE}{name}"
        return lambda seconds: load.h2load(
            url,
            body,
            headers,
            connections=a.connections,
            streams=streams or a.streams,
            duration=seconds,
            response_bytes=size,
        )

    # -- measurements

    def interleave(
        self,
        door: str,
        op: str,
        ours: Callable[[float], LoadResult],
        floor: Callable[[float], LoadResult],
        floor_server: servers.Server,
    ) -> None:
        a = self.args
        comparison = report.Comparison(door, op, self.workers)
        for runner in (ours, floor):
            self.check(runner(a.warmup), f"{door} {op} warm-up", measured=False)
        for _ in range(a.rounds):
            for runner, server, results, cpu in (
                (ours, self.authgate, comparison.authgate, comparison.authgate_cpu),
                (floor, floor_server, comparison.floor, comparison.floor_cpu),
            ):
                before = server.cpu_seconds()
                results.append(self.check(runner(a.duration), f"{door} {op} {server.name}"))
                cpu.append(server.cpu_seconds() - before)
        self.run.comparisons.append(comparison)
        print(
            f"  {door} {op} x{self.workers}: AuthGate/floor {comparison.ratio:.2f}, "
            f"p99 {comparison.p99_ratio:.2f}",
            file=sys.stderr,
        )
        if a.profile and self.workers == 1:
            self.run.profiles[f"{door} {op}"] = (
                *self.profiled(ours, self.authgate.pid, f"{door}-{op}-authgate"),
                *self.profiled(floor, floor_server.pid, f"{door}-{op}-floor"),
            )

    def profiled(
        self, runner: Callable[[float], LoadResult], pid: int, tag: str
    ) -> tuple[profiles.Profile, float]:
        seconds = max(self.args.duration, profiles.SECONDS)
        name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in tag)
        raw = (self.args.profile_dir or self.tmp) / f"{name}.raw"
        sampler = profiles.record(pid, seconds, raw)
        result = self.check(runner(seconds + 1), f"profiled {tag}")
        sampler.wait(timeout=seconds + 60)
        return profiles.read(raw), result.rps * seconds

    def throughput(self) -> None:
        ag, fr, fg = self.authgate, self.floor_rest, self.floor_grpc
        for op in REST_OPS:
            tag = op.name.split()[0]
            self.interleave(
                "REST",
                op.name,
                self.rest_runner(op, ag.http_url, self.tokens, f"rest-{tag}-authgate"),
                self.rest_runner(op, fr.http_url, self.floor_tokens, f"rest-{tag}-floor"),
                fr,
            )
        for gop in GRPC_OPS:
            self.interleave(
                "gRPC",
                gop.name,
                self.grpc_runner(
                    gop.name,
                    gop.request(self.tokens),
                    self.tokens.access if gop.bearer else None,
                    ag.grpc_target,
                    f"grpc-{gop.name}-authgate",
                ),
                self.grpc_runner(
                    gop.name,
                    gop.request(self.floor_tokens),
                    self.floor_tokens.access if gop.bearer else None,
                    fg.grpc_target,
                    f"grpc-{gop.name}-floor",
                ),
                fg,
            )

    def logins(self, nproc: int) -> None:
        """Logins at 32 connections, each run between two in-process argon2 measurements."""
        a = self.args
        rest = self.rest_runner(
            RestOp("login", "POST", "/api/v1/token/", lambda t: LOGIN_BODY, False),
            self.authgate.http_url,
            self.tokens,
            "rest-login",
        )
        request = auth_pb2.IssueTokenRequest(email=STAFF_EMAIL, password=STAFF_PASSWORD)
        # One login in flight per connection on both doors (32 argon2 hashes queued is plenty).
        grpc_ = self.grpc_runner(
            "IssueToken", request, None, self.authgate.grpc_target, "grpc-login", streams=1
        )
        # At ~100 logins/s a run's first answers take a third of a second: at least 4 s.
        seconds = max(a.duration, 4)
        for door, runner in (("REST", rest), ("gRPC", grpc_)):
            self.check(runner(a.warmup), f"{door} login warm-up", measured=False)
            before = measure_argon2(1.0, nproc)
            cpu = self.authgate.cpu_seconds()
            result = self.check(runner(seconds), f"{door} login")
            cpu_ms = (self.authgate.cpu_seconds() - cpu) / result.requests * 1000
            after = measure_argon2(1.0, nproc)
            per_core, parallel = ((x + y) / 2 for x, y in zip(before, after, strict=True))
            self.run.argon2_samples.append((per_core, parallel))
            # argon2 runs in threads that release the GIL: every core can verify, whatever N.
            login = report.Login(door, self.workers, result, per_core * nproc, parallel, cpu_ms)
            self.run.logins.append(login)
            print(
                f"  {door} login x{self.workers}: {result.rps:.1f}/s "
                f"(allowance {login.allowance:.1f}/s)",
                file=sys.stderr,
            )

    def memory(self, after: str) -> None:
        sizes = [mb(x) for x in self.authgate.rss_mib().values()]
        self.run.rss_after_load.append((self.workers, after, sizes))
        if self.floor_rest.process and self.floor_rest.process.poll() is None:
            self.run.floor_rss[self.workers] = [
                mb(sum(self.floor_rest.rss_mib().values()) / self.workers),
                mb(sum(self.floor_grpc.rss_mib().values()) / self.workers),
            ]


def mb(mib: float) -> float:
    return mib * 1024 * 1024 / 1e6


# --------------------------------------------------------------------------- argon2, startup


def measure_argon2(seconds: float, threads: int) -> tuple[float, float]:
    """argon2id verifications per second at AuthGate's parameters: one thread, and `threads`."""
    hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    stored = hasher.hash(STAFF_PASSWORD)

    def spin(counts: list[int], until: float) -> None:
        while time.monotonic() < until:
            hasher.verify(stored, STAFF_PASSWORD)
            counts.append(1)

    rates = []
    for n in (1, threads):
        counts: list[int] = []
        start = time.monotonic()
        workers = [threading.Thread(target=spin, args=(counts, start + seconds)) for _ in range(n)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        rates.append(len(counts) / (time.monotonic() - start))
    return rates[0], rates[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rest_ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _grpc_serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=0.5
            )
        except grpc.RpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def measure_startup(data_dir: Path, log: Path, workers: int, case: str) -> report.Startup:
    """Process start to /readyz 200 and gRPC SERVING, polled every 10 ms on fixed ports."""
    http_port, grpc_port = free_port(), free_port()
    server = servers.authgate(
        data_dir,
        log,
        workers,
        http_addr=f"127.0.0.1:{http_port}",
        grpc_addr=f"127.0.0.1:{grpc_port}",
    )
    server.start(rest=False, grpc=False)
    rest_at = grpc_at = all_at = 0.0
    try:
        deadline = server.started_at + 60
        while not (rest_at and grpc_at and all_at) and time.monotonic() < deadline:
            server.check_alive()
            now = time.monotonic() - server.started_at
            if not rest_at and _rest_ready(http_port):
                rest_at = now
            if not grpc_at and _grpc_serving(grpc_port):
                grpc_at = now
            if not all_at and len(servers.REST_LINE.findall(server.log)) >= workers:
                all_at = now
            time.sleep(0.01)
        if not (rest_at and grpc_at and all_at):
            raise servers.ServerError(f"not ready within 60 s:\n{server.log[-2000:]}")
        rss = [mb(x) for x in server.rss_mib().values()]
    finally:
        server.stop()
    return report.Startup(workers, case, rest_at, grpc_at, all_at, rss)


ROOT_PACKAGES = (
    "connexion",
    "grpc",
    "sqlalchemy",
    "alembic",
    "jsonschema",
    "prometheus_client",
    "uvicorn",
    "starlette",
    "google.protobuf",
    "jwt",
    "cryptography",
    "limits",
    "redis",
    "psycopg",
    "argon2",
)


def import_costs() -> list[tuple[str, float]]:
    """Cumulative import time of each big package as `authgate serve` imports it."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import authgate.cli, authgate.server"],
        capture_output=True,
        text=True,
        check=True,
    )
    costs = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() in ROOT_PACKAGES:
            costs.setdefault(parts[2].strip(), int(parts[1]) / 1e6)
    return sorted(costs.items(), key=lambda item: -item[1])


def import_seconds() -> float:
    def best(code: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603 - ourselves
            times.append(time.perf_counter() - start)
        return min(times)

    return best("import authgate.cli, authgate.server") - best("pass")


# --------------------------------------------------------------------------- ListUsers at scale


@dataclass(frozen=True)
class ScaleStore:
    """One store of one size, and the server over it."""

    server: servers.Server
    fill: Callable[[int, int], None]  # (first filler number, how many)
    middle: Callable[[], tuple[str, int, str]]  # (a middle user id, users, query plan)


@dataclass(frozen=True)
class ScaleTarget:
    server: servers.Server
    users: int
    page: str
    url: str
    script: Path
    plan: str


def scale_series(
    run: report.Run, args: argparse.Namespace, tmp: Path, backend: str, stores: list[ScaleStore]
) -> None:
    """ListUsers on a store of each size (one per size, each with its own server), measured
    round-robin rather than one size after another: each point's seconds are split over
    `--rounds`, every size and page measured once per round, so noise on the shared machine
    hits every size alike."""
    targets: list[ScaleTarget] = []
    for size, store in zip(args.sizes, stores, strict=True):
        started = time.monotonic()
        store.fill(1, size - 1)  # the staff user is the first
        middle_id, total, plan = store.middle()
        print(
            f"  {backend}: {total:,} users ({time.monotonic() - started:.0f} s to fill)",
            file=sys.stderr,
        )
        headers = {"Authorization": f"Bearer {login(store.server).access}"}
        first = f"{store.server.http_url}/api/v1/users/?pageSize=50"
        for page, url in (
            ("first", first),
            ("deep", f"{first}&pageToken={encode_page_token(middle_id)}"),
        ):
            body = load.check_rest(url, "GET", None, headers)
            assert '"nextPageToken": ""' not in body, f"{backend} {page} page is the last"
            script = load.wrk_script(
                tmp / f"scale-{backend}-{size}-{page}.lua", "GET", None, headers
            )
            load.wrk(url, script, connections=1, duration=1)  # warm-up
            shown = plan if page == "deep" and size == args.sizes[-1] else ""
            targets.append(ScaleTarget(store.server, total, page, url, script, shown))
    results: list[list[LoadResult]] = [[] for _ in targets]
    for _ in range(args.rounds):
        for target, measured in zip(targets, results, strict=True):
            result = load.wrk(
                target.url,
                target.script,
                connections=1,
                duration=max(1, round(args.scale_duration / args.rounds)),  # wrk: whole s
            )
            target.server.check_alive()
            if result.failed:
                raise RuntimeError(f"{backend} ListUsers {target.page}: {result.note}")
            measured.append(result)
    for target, measured in zip(targets, results, strict=True):
        merged = LoadResult(
            requests=sum(r.requests for r in measured),
            seconds=sum(r.seconds for r in measured),
            p50_ms=report.p50(measured),
            p99_ms=report.p99(measured),
            failed=0,
        )
        run.scale.append(report.ScalePoint(backend, target.users, target.page, merged, target.plan))


def scale_sqlite(run: report.Run, args: argparse.Namespace, tmp: Path) -> None:
    stores: list[ScaleStore] = []
    try:
        for size in args.sizes:
            data = tmp / f"scale-sqlite-{size}"
            server = servers.authgate(data, tmp / f"scale-sqlite-{size}.log", 1, authgate_env())
            stores.append(_sqlite_store(server, data / "authgate.sqlite3"))
            server.start(rest=True, grpc=True)
        scale_series(run, args, tmp, "SQLite", stores)
    finally:
        for store in stores:
            store.server.stop()


def _sqlite_store(server: servers.Server, database: Path) -> ScaleStore:
    return ScaleStore(
        server,
        lambda start, count: fill_store.insert_sqlite(database, start, count),
        lambda: fill_store.middle_id_sqlite(database),
    )


def scale_postgres(run: report.Run, args: argparse.Namespace, tmp: Path) -> None:
    names = [f"authgate_bench_{os.getpid()}_{size}" for size in args.sizes]
    created: list[str] = []
    stores: list[ScaleStore] = []
    try:
        for name, size in zip(names, args.sizes, strict=True):
            try:
                fill_store.create_database(args.postgres, name)
            except Exception as error:
                run.notes.append(f"PostgreSQL skipped: {args.postgres} unreachable ({error})")
                return
            created.append(name)
            url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
            env = {**authgate_env(), "AUTHGATE_DATABASE_URL": url}
            server = servers.authgate(
                tmp / f"scale-pg-{size}", tmp / f"scale-pg-{size}.log", 1, env
            )
            stores.append(_postgres_store(server, url))
            server.start(rest=True, grpc=True)
        scale_series(run, args, tmp, "PostgreSQL", stores)
    finally:
        for store in stores:
            store.server.stop()
        for name in created:
            fill_store.drop_database(args.postgres, name)


def _postgres_store(server: servers.Server, url: str) -> ScaleStore:
    return ScaleStore(
        server,
        lambda start, count: fill_store.insert_postgres(url, start, count),
        lambda: fill_store.middle_id_postgres(url),
    )


# --------------------------------------------------------------------------- diagnostics


# --------------------------------------------------------------------------- the run


def environment(workers: list[int], pending: bool) -> list[str]:
    model = cpu_model()
    versions = package_versions(PACKAGES)
    tools = ", ".join(f"{v}" for v in load.tool_versions().values())
    load_avg = " ".join(f"{value:.2f}" for value in os.getloadavg())
    # Another engineer may change the service while this runs: name the code measured.
    sources = sorted((ROOT / "service" / "authgate").rglob("*.py"))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:12]
    lines = [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: nproc {len(os.sched_getaffinity(0))}, {model}; "
        f"load average at start {load_avg}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}",
        f"- packages: {', '.join(versions)}",
        f"- load generators: {tools}",
        f"- service code measured: sha256 {digest} of the {len(sources)} files "
        "service/authgate/**/*.py",
        f"- workers measured: {', '.join(map(str, workers))}",
    ]
    if pending:
        lines.append("- 2 workers: pending (`authgate serve` does not accept `--workers` yet)")
    return lines


def method(args: argparse.Namespace) -> list[str]:
    return [
        f"Each operation: {args.warmup} s warm-up of each system, then {args.rounds} round(s) of "
        f"AuthGate {args.duration} s, floor {args.duration} s, back to back. REST: `wrk -t1 "
        f"-c{args.connections}` (keep-alive). gRPC: `h2load -t1 -c{args.connections} "
        f"-m{args.streams}` with a pre-framed body; every body was first sent once through a real "
        "grpc channel (status OK), and each run's DATA volume is checked to be one OK message "
        "per answer. Rates are requests ÷ seconds over the rounds; p50 and p99 are means over "
        "the rounds. Every run must have 0 failed answers or the script stops.",
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about a minute)")
    parser.add_argument("--workers", default=None, help="worker counts, comma-separated (1,2)")
    parser.add_argument("--duration", type=int, default=None, help="seconds per measured run (4)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up seconds per system (1)")
    parser.add_argument("--rounds", type=int, default=None, help="AuthGate/floor pairs (2)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--streams", type=int, default=4, help="h2load -m: streams per connection")
    parser.add_argument("--sizes", default=None, help="ListUsers store sizes (1000,100000,1000000)")
    parser.add_argument("--scale-duration", type=int, default=None, help="seconds per page (2)")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL to create a throwaway database in; 'off' to skip",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy each operation (1 worker)")
    parser.add_argument(
        "--profile-dir", type=Path, default=None, help="keep py-spy's raw stacks here"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "workers": "1" if quick else "1,2",
        "duration": 2 if quick else 4,
        "warmup": 1,
        "rounds": 1 if quick else 2,
        "sizes": "1000,100000" if quick else "1000,100000,1000000",
        "scale_duration": 2,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.workers = [int(x) for x in str(args.workers).split(",")]
    args.sizes = [int(x) for x in str(args.sizes).split(",")]
    if quick and args.postgres.startswith("postgresql://postgres@127.0.0.1:5432/test"):
        args.postgres = "off"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load.require_tools()
    if args.profile and not profiles.available():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    workers = args.workers
    pending = False
    if any(w > 1 for w in workers) and not servers.serve_accepts_workers():
        workers, pending = [w for w in workers if w == 1], True
    command = "python bench/run_all.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    run = report.Run(command.strip(), environment(workers, pending), method(args))
    nproc = len(os.sched_getaffinity(0))
    print("imports...", file=sys.stderr)
    run.imports_s = import_seconds()
    run.import_costs = import_costs()
    with tempfile.TemporaryDirectory(prefix="authgate-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for n in workers:
            print(f"startup, {n} worker(s)...", file=sys.stderr)
            data = tmp / f"startup-{n}"
            run.startups.append(
                measure_startup(data, tmp / f"startup-{n}.log", n, "first (empty data dir)")
            )
            for _ in range(1 if args.quick else 2):
                run.startups.append(measure_startup(data, tmp / f"startup-{n}.log", n, "restart"))
        for n in workers:
            print(f"throughput, {n} worker(s)...", file=sys.stderr)
            bench = Bench(args, tmp, n, run)
            try:
                bench.start()
                bench.throughput()
                bench.memory("the REST and gRPC runs")
                bench.logins(nproc)
                bench.memory("the login runs too")
            finally:
                bench.stop()
        print("ListUsers at scale (SQLite)...", file=sys.stderr)
        scale_sqlite(run, args, tmp)
        if args.postgres != "off":
            print("ListUsers at scale (PostgreSQL)...", file=sys.stderr)
            scale_postgres(run, args, tmp)
        if args.profile:
            print("diagnostics: store read paths...", file=sys.stderr)
            run.store_paths = asyncio.run(store_paths.measure())
    run.elapsed_s = time.monotonic() - started
    block = report.render(run)
    print(block)
    if not args.no_write and not args.quick:
        report.write_docs(args.output, block, INTRO)
        print(f"written to {args.output}", file=sys.stderr)
    missed = missed_targets(run)
    if missed:
        print("targets missed:\n  " + "\n  ".join(missed), file=sys.stderr)
    return 1 if (missed and args.strict) else 0


def missed_targets(run: report.Run) -> list[str]:
    missed = [f"{c.door} {c.op} x{c.workers}" for c in run.comparisons if not c.passes]
    missed += [f"{x.door} login x{x.workers}" for x in run.logins if x.ratio < report.LOGIN_MIN]
    missed += [
        f"startup x{s.workers} {s.case}" for s in run.startups if s.ready_s > report.STARTUP_MAX_S
    ]
    for point in run.scale:
        base = next(p for p in run.scale if (p.backend, p.page) == (point.backend, point.page))
        if point.users >= 1_000_000 and point.result.p50_ms > report.SCALE_MAX * base.result.p50_ms:
            missed.append(f"ListUsers {point.backend} {point.page} page at {point.users:,}")
    missed += [
        f"RSS x{w} after {after}"
        for w, after, sizes in run.rss_after_load
        if max(sizes) > report.RSS_MAX_MB
    ]
    return missed


INTRO = """\
`bench/run_all.py` (`make bench`) measures AuthGate against a **floor**: a minimal Connexion
AsyncApp (`bench/floor_rest.py`, `bench/floor_openapi.yaml`) and a minimal grpc.aio servicer
(`bench/floor_grpc.py`) doing the same JWT work (PyJWT EdDSA decode, and encode for refresh)
with no database, started the way `authgate serve` starts its doors. The ratio AuthGate ÷ floor
is what our code (core, store, messages, middleware, audit) costs on top of the framework and
the cryptography. The block below is regenerated by each full run; the analysis after it is
written by hand from the run it names."""


if __name__ == "__main__":
    raise SystemExit(main())
