"""REST and gRPC throughput and latency at 32 connections, AuthGate against the floor.

For one worker count, `Bench` starts AuthGate and both floors (floor_rest.py, floor_grpc.py:
the same framework and JWT work, no database) and runs refresh, list users and verify on each
door, AuthGate and floor back to back, `--rounds` times; login_throughput.py runs its logins
on the same AuthGate, and `Bench.memory` reads everyone's RSS after the runs (and after
cache_fill.py filled the caches).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fill_store
import floor_work
import load
import results
from load import LoadResult
from staff import Tokens, authgate_env, login

from authgate.v1 import auth_pb2

import servers

SERVICE = "/authgate.v1.AuthService/"
FLOOR_USER = "01FL00R0000000000000000000"


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


class Bench:
    """One worker count: AuthGate and both floors up, every load run in turn."""

    def __init__(self, args: argparse.Namespace, tmp: Path, workers: int, run: results.Run):
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
            access=floor_work.encode(FLOOR_USER, "access"),
            refresh=floor_work.encode(FLOOR_USER, "refresh"),
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
        comparison = results.Comparison(door, op, self.workers)
        for runner in (ours, floor):
            self.check(runner(a.warmup), f"{door} {op} warm-up", measured=False)
        for _ in range(a.rounds):
            for runner, server, measured, cpu in (
                (ours, self.authgate, comparison.authgate, comparison.authgate_cpu),
                (floor, floor_server, comparison.floor, comparison.floor_cpu),
            ):
                before = server.cpu_seconds()
                measured.append(self.check(runner(a.duration), f"{door} {op} {server.name}"))
                cpu.append(server.cpu_seconds() - before)
        self.run.comparisons.append(comparison)
        print(
            f"  {door} {op} x{self.workers}: AuthGate/floor {comparison.ratio:.2f}, "
            f"p99 {comparison.p99_ratio:.2f}",
            file=sys.stderr,
        )

    def _systems(self, floor: servers.Server) -> tuple[tuple[str, servers.Server, Tokens], ...]:
        """(tag, server, its tokens) of AuthGate, then of `floor`."""
        return (("authgate", self.authgate, self.tokens), ("floor", floor, self.floor_tokens))

    def throughput(self) -> None:
        with self._one_core_each():
            self._throughput()

    @contextlib.contextmanager
    def _one_core_each(self) -> Iterator[None]:
        """At 1 worker, the servers on the first core and the load generators on the others.

        Left to the scheduler, wrk shared the server's core in some rounds: REST verify at 1
        worker had a round p99 of about 20 ms or 60 to 126 ms, and pinned apart 18 to 21 ms
        in 5 rounds of 6 (the floor 37 to 71 ms either way). At 2 workers the servers need
        every core; the logins, run next, keep every core for argon2.
        """
        cores = os.sched_getaffinity(0)
        if self.workers != 1 or len(cores) < 2:
            yield
            return
        first = min(cores)
        pids = [server.process.pid for server in self.serving if server.process is not None]
        for pid in pids:
            servers.pin(pid, {first})
        os.sched_setaffinity(0, cores - {first})  # wrk and h2load inherit it
        try:
            yield
        finally:
            os.sched_setaffinity(0, cores)
            for pid in pids:
                servers.pin(pid, cores)

    def _throughput(self) -> None:
        for op in REST_OPS:
            tag = op.name.split()[0]
            ours, floor = (
                self.rest_runner(op, server.http_url, tokens, f"rest-{tag}-{system}")
                for system, server, tokens in self._systems(self.floor_rest)
            )
            self.interleave("REST", op.name, ours, floor, self.floor_rest)
        for gop in GRPC_OPS:
            ours, floor = (
                self.grpc_runner(
                    gop.name,
                    gop.request(tokens),
                    tokens.access if gop.bearer else None,
                    server.grpc_target,
                    f"grpc-{gop.name}-{system}",
                )
                for system, server, tokens in self._systems(self.floor_grpc)
            )
            self.interleave("gRPC", gop.name, ours, floor, self.floor_grpc)

    def memory(self, after: str, *, held_to_floor: bool = False) -> None:
        """RSS of each AuthGate worker, and of the floors' processes, after the runs so far;
        `held_to_floor`: the row is also held to the larger floor's RSS + 25 MB."""
        if self.floor_rest.process and self.floor_rest.process.poll() is None:
            self.run.floor_rss[self.workers] = [
                sum(floor.rss_mb().values()) / self.workers
                for floor in (self.floor_rest, self.floor_grpc)
            ]
        floors = self.run.floor_rss.get(self.workers)
        floor_mb = max(floors) if held_to_floor and floors else None
        sizes = list(self.authgate.rss_mb().values())
        self.run.rss_after_load.append(
            results.MemoryAfterLoad(self.workers, after, sizes, floor_mb)
        )
