"""Logins at 32 connections against what argon2id alone allows on this machine.

Each door's login run goes to the AuthGate a throughput.Bench started, between two
measurements of argon2id verify in this process at AuthGate's parameters: one thread, and one
thread per core at once. The allowance is the second, what argon2 alone does with every core,
since AuthGate's argon2 runs in threads that release the GIL: every core can verify, whatever
the worker count. The one-thread rate times nproc is reported beside it: argon2 does not reach
it (both cores at once verify 0.87 to 1.00 times that here; they share caches and memory).
The floors' login (floor_work.login: the framework, one argon2id verify, two tokens, no store)
runs right after AuthGate's, on floors started for it (the throughput floors' memory stays free
of argon2's work areas); argon2 alone is measured before, between and after the two runs, and
the allowance of both is the mean of the three.
(login_timing.py is another benchmark: equal answers for the three failed logins.)
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import results
from argon2 import PasswordHasher, Type
from load import LoadResult
from staff import LOGIN_BODY, STAFF_EMAIL, STAFF_PASSWORD
from throughput import Bench, RestOp

from authgate.v1 import auth_pb2

import servers

QUIET_WINDOW_S = 0.2  # CPU time is counted in 10 ms ticks: 5 % of 0.2 s is one tick


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


def wait_until_quiet(server: servers.Server, timeout: float = 10.0) -> None:
    """Wait until `server` uses under 5 % of a core, so that argon2 is measured alone.

    When wrk stops, uvicorn goes on with the logins whose clients have gone (an ASGI app is
    not cancelled on a disconnect): up to 32 hashes, both cores busy for 0.3 s, measured. A
    measurement of argon2 taken then read low, and flattered REST's ratio by several per cent;
    gRPC cancels a call whose stream is gone, so its runs left almost nothing behind.
    """
    deadline = time.monotonic() + timeout
    used = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(QUIET_WINDOW_S)
        now = server.cpu_seconds()
        if now - used < QUIET_WINDOW_S * 0.05:
            return
        used = now
    raise servers.ServerError(f"{server.name} still busy {timeout:g} s after a login run")


Runner = Callable[[float], LoadResult]


def runners(bench: Bench, http_url: str, grpc_target: str, system: str) -> dict[str, Runner]:
    """A login runner per door against one system (AuthGate or a floor)."""
    rest = bench.rest_runner(
        RestOp("login", "POST", "/api/v1/token/", lambda t: LOGIN_BODY, False),
        http_url,
        bench.tokens,
        f"rest-login-{system}",
    )
    request = auth_pb2.IssueTokenRequest(email=STAFF_EMAIL, password=STAFF_PASSWORD)
    # One login in flight per connection on both doors (32 argon2 hashes queued is plenty).
    grpc_ = bench.grpc_runner(
        "IssueToken", request, None, grpc_target, f"grpc-login-{system}", streams=1
    )
    return {"REST": rest, "gRPC": grpc_}


def timed(
    bench: Bench, server: servers.Server, runner: Runner, what: str
) -> tuple[LoadResult, float]:
    """A measured login run, and the server's CPU ms per login in it."""
    seconds = max(bench.args.duration, 4)  # the first answers take a third of a second
    cpu = server.cpu_seconds()
    result = bench.check(runner(seconds), what)
    cpu_ms = (server.cpu_seconds() - cpu) / result.requests * 1000
    wait_until_quiet(server)
    return result, cpu_ms


def logins(bench: Bench, nproc: int) -> None:
    """Logins at 32 connections on each door, AuthGate's then the floor's, with argon2 alone
    measured in this process before, between and after them."""
    floors = {
        door: servers.floor(
            kind,
            bench.tmp / "floor-key.pem",
            bench.tmp / f"floor-login-{kind}.log",
            bench.workers,
            login=(STAFF_EMAIL, STAFF_PASSWORD),
        )
        for door, kind in (("REST", "rest"), ("gRPC", "grpc"))
    }
    try:
        floors["REST"].start(rest=True, grpc=False)
        floors["gRPC"].start(rest=False, grpc=True)
        ours = runners(bench, bench.authgate.http_url, bench.authgate.grpc_target, "authgate")
        theirs = runners(bench, floors["REST"].http_url, floors["gRPC"].grpc_target, "floor")
        for door in ("REST", "gRPC"):
            _door(bench, nproc, door, ours[door], floors[door], theirs[door])
    finally:
        for floor in floors.values():
            floor.stop()


def _door(
    bench: Bench, nproc: int, door: str, ours: Runner, floor: servers.Server, theirs: Runner
) -> None:
    warmup = bench.args.warmup
    bench.check(ours(warmup), f"{door} login warm-up", measured=False)
    bench.check(theirs(warmup), f"{door} floor login warm-up", measured=False)
    wait_until_quiet(bench.authgate)
    wait_until_quiet(floor)
    # argon2 alone before, between and after the two runs: on this shared VM two 2 s
    # measurements minutes apart differed by up to 7 %, as much as the target's margin.
    samples = [measure_argon2(results.ARGON2_SECONDS, nproc)]
    result, cpu_ms = timed(bench, bench.authgate, ours, f"{door} login")
    samples.append(measure_argon2(results.ARGON2_SECONDS, nproc))
    floor_result, floor_cpu_ms = timed(bench, floor, theirs, f"{door} floor login")
    samples.append(measure_argon2(results.ARGON2_SECONDS, nproc))
    per_core, parallel = (sum(column) / len(samples) for column in zip(*samples, strict=True))
    bench.run.argon2_samples.append((per_core, parallel))
    login = results.Login(
        door, bench.workers, result, parallel, per_core * nproc, cpu_ms, floor_result, floor_cpu_ms
    )
    bench.run.logins.append(login)
    print(
        f"  {door} login x{bench.workers}: {result.rps:.1f}/s, floor {floor_result.rps:.1f}/s "
        f"(allowance {login.allowance:.1f}/s)",
        file=sys.stderr,
    )
