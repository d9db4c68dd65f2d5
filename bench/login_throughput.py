"""Logins at 32 connections against what argon2id alone allows on this machine.

Each door's login run goes to the AuthGate a throughput.Bench started, between two
measurements of argon2id verify in this process at AuthGate's parameters: one thread, and one
thread per core at once. The allowance is the second, what argon2 alone does with every core,
since AuthGate's argon2 runs in threads that release the GIL: every core can verify, whatever
the worker count. The one-thread rate times nproc is reported beside it: argon2 does not reach
it (both cores at once verify 0.87 to 1.00 times that here; they share caches and memory).
(login_timing.py is another benchmark: equal answers for the three failed logins.)
"""

from __future__ import annotations

import sys
import threading
import time

import results
from argon2 import PasswordHasher, Type
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


def logins(bench: Bench, nproc: int) -> None:
    """Logins at 32 connections, each run between two in-process argon2 measurements."""
    a = bench.args
    rest = bench.rest_runner(
        RestOp("login", "POST", "/api/v1/token/", lambda t: LOGIN_BODY, False),
        bench.authgate.http_url,
        bench.tokens,
        "rest-login",
    )
    request = auth_pb2.IssueTokenRequest(email=STAFF_EMAIL, password=STAFF_PASSWORD)
    # One login in flight per connection on both doors (32 argon2 hashes queued is plenty).
    grpc_ = bench.grpc_runner(
        "IssueToken", request, None, bench.authgate.grpc_target, "grpc-login", streams=1
    )
    # At ~100 logins/s a run's first answers take a third of a second: at least 4 s.
    seconds = max(a.duration, 4)
    for door, runner in (("REST", rest), ("gRPC", grpc_)):
        bench.check(runner(a.warmup), f"{door} login warm-up", measured=False)
        wait_until_quiet(bench.authgate)
        before = measure_argon2(results.ARGON2_SECONDS, nproc)
        cpu = bench.authgate.cpu_seconds()
        result = bench.check(runner(seconds), f"{door} login")
        cpu_ms = (bench.authgate.cpu_seconds() - cpu) / result.requests * 1000
        wait_until_quiet(bench.authgate)
        after = measure_argon2(results.ARGON2_SECONDS, nproc)
        per_core, parallel = ((x + y) / 2 for x, y in zip(before, after, strict=True))
        bench.run.argon2_samples.append((per_core, parallel))
        login = results.Login(door, bench.workers, result, parallel, per_core * nproc, cpu_ms)
        bench.run.logins.append(login)
        print(
            f"  {door} login x{bench.workers}: {result.rps:.1f}/s "
            f"(allowance {login.allowance:.1f}/s)",
            file=sys.stderr,
        )
