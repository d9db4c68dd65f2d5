"""Start-up and memory: time to ready, what the imports alone cost, and RSS when idle.

A start is timed from process start to /readyz 200 and gRPC health SERVING, polled every
10 ms on fixed ports, and until every worker logged its REST address; RSS is read as soon as
the server is ready. The floors' own start-up (spawn to first answer, polled alike) is measured
in the same run, and each AuthGate start is held to a multiple of it. (The RSS after load is
read by throughput.Bench.memory, with the caches full by cache_fill.py.)
"""

from __future__ import annotations

import http.client
import socket
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import floor_work
import grpc
import results
from grpc_health.v1 import health_pb2, health_pb2_grpc

import servers

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


def _grpc_answers(port: int) -> bool:
    """Any answer to a call (the floor has no health service): UNAUTHENTICATED will do."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/authgate.v1.AuthService/VerifyToken")
        try:
            call(b"", timeout=0.5)
        except grpc.RpcError as error:
            return error.code() not in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            )
    return True


def measure_floor_startup(kind: str, key: Path, log: Path, workers: int) -> float:
    """Spawn to the floor's first answer, polled every 10 ms on a fixed port."""
    port = free_port()
    server = servers.floor(kind, key, log, workers, port=port)
    server.start(rest=False, grpc=False)
    answers = _rest_ready if kind == "rest" else _grpc_answers
    try:
        while time.monotonic() < server.started_at + 60:
            server.check_alive()
            if answers(port):
                return time.monotonic() - server.started_at
            time.sleep(0.01)
        raise servers.ServerError(f"{kind} floor silent for 60 s:\n{server.log[-2000:]}")
    finally:
        server.stop()


def floor_startups(run: results.Run, tmp: Path, workers: int, starts: int) -> None:
    """Each floor started `starts` times; the slower floor's median becomes the `floor_s` of
    this worker count's AuthGate starts (AuthGate serves both doors from one process)."""
    key = tmp / f"floor-startup-{workers}.pem"
    floor_work.write_new_key(key)
    medians = []
    for kind in ("rest", "grpc"):
        seconds = [
            measure_floor_startup(kind, key, tmp / f"floor-startup-{kind}-{workers}.log", workers)
            for _ in range(starts)
        ]
        run.floor_startups += [results.FloorStartup(workers, kind, s) for s in seconds]
        medians.append(statistics.median(seconds))
    for start in run.startups:
        if start.workers == workers:
            start.floor_s = max(medians)


def measure_startup(data_dir: Path, log: Path, workers: int, case: str) -> results.Startup:
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
        rss = list(server.rss_mb().values())
    finally:
        server.stop()
    return results.Startup(workers, case, rest_at, grpc_at, all_at, rss)


def startups(run: results.Run, tmp: Path, workers: int, restarts: int) -> None:
    """A first start on an empty data directory, then `restarts` restarts on it."""
    data, log = tmp / f"startup-{workers}", tmp / f"startup-{workers}.log"
    run.startups.append(measure_startup(data, log, workers, "first (empty data dir)"))
    for _ in range(restarts):
        run.startups.append(measure_startup(data, log, workers, "restart"))


def serve_imports() -> str:
    """What `authgate serve` imports before it serves: the module of the `authgate` command
    (its console-script entry point, wherever the CLI lives) and the one that runs the doors."""
    (command,) = metadata.entry_points(group="console_scripts", name="authgate")
    return f"import {command.module}, authgate.process.server"


def import_costs(statement: str) -> list[tuple[str, float]]:
    """Cumulative import time of each big package as `statement` imports it."""
    done = subprocess.run(  # noqa: S603 - ourselves
        [sys.executable, "-X", "importtime", "-c", statement],
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


def import_seconds(statement: str) -> float:
    def best(code: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603 - ourselves
            times.append(time.perf_counter() - start)
        return min(times)

    return best(statement) - best("pass")


def imports(run: results.Run) -> None:
    run.import_statement = serve_imports()
    run.imports_s = import_seconds(run.import_statement)
    run.import_costs = import_costs(run.import_statement)
