"""Login timing: equal answers for unknown email, wrong password and inactive user.

A benchmark, not a test: it starts the real `authgate serve` on ephemeral ports with a
temporary data directory, creates an active and an inactive user with the real CLI, then
times POST /api/v1/token/ (keep-alive httpx client) and gRPC IssueToken (one channel) for
the three failure cases, interleaved round-robin so machine noise hits them alike.

It checks that the three failures answer identically (REST status, body, headers minus
Date; gRPC code, details and trailing metadata) and that their medians are within
--threshold of each other, and exits non-zero otherwise. A successful login is timed too,
for reference only (it does more work: last_login write, token signing, registry insert).

    .venv/bin/python bench/login_timing.py [--rounds N] [--warmup N] [--threshold 0.05]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import machine

from authgate.v1 import auth_pb2, auth_pb2_grpc

import servers

ACTIVE_EMAIL = "bench-active@example.com"
INACTIVE_EMAIL = "bench-inactive@example.com"
UNKNOWN_EMAIL = "bench-nobody@example.com"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - a throwaway benchmark user
WRONG_PASSWORD = "wrong-horse-battery-staple!"  # noqa: S105

# name -> (email, password); the three must be indistinguishable.
FAILURES: dict[str, tuple[str, str]] = {
    "unknown email": (UNKNOWN_EMAIL, PASSWORD),
    "wrong password": (ACTIVE_EMAIL, WRONG_PASSWORD),
    "inactive user": (INACTIVE_EMAIL, PASSWORD),
}
SUCCESS = ("successful login", (ACTIVE_EMAIL, PASSWORD))

PACKAGES = ("grpcio", "connexion", "argon2-cffi", "argon2-cffi-bindings", "uvicorn", "httpx")


# --------------------------------------------------------------------------- server


def authgate_server(data_dir: Path) -> servers.Server:
    """`authgate serve` over `data_dir` on ports 0, not started; the CLI runs in its env."""
    settings = {
        # Throttling must not interfere with a few thousand deliberate failures.
        "AUTHGATE_LOGIN_LIMIT_PER_ACCOUNT": "1000000/minute",
        "AUTHGATE_LOGIN_LIMIT_PER_ADDRESS": "1000000/minute",
        # One line per request would be the same for every case; keep stderr small.
        "AUTHGATE_LOG_LEVEL": os.environ.get("AUTHGATE_LOG_LEVEL", "INFO"),
    }
    return servers.authgate(data_dir, data_dir.parent / "server.log", 1, settings)


def authgate_cli(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "authgate", *args],
        env=authgate_server(data_dir).env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise SystemExit(f"authgate {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout.strip()


# --------------------------------------------------------------------------- measuring


@dataclass
class Series:
    name: str
    seconds: list[float] = field(default_factory=list)
    answers: set[tuple[Any, ...]] = field(default_factory=set)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.seconds, n=10, method="inclusive")[-1]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.seconds)


Call = Callable[[str, str], tuple[Any, ...]]


def rest_call(client: httpx.Client) -> Call:
    def call(email: str, password: str) -> tuple[Any, ...]:
        response = client.post("/api/v1/token/", json={"email": email, "password": password})
        headers = tuple(
            sorted(
                (k.lower(), v)
                for k, v in response.headers.multi_items()
                if k.lower() not in ("date", "x-request-id")
            )
        )
        return (response.status_code, response.content, headers)

    return call


def grpc_call(stub: auth_pb2_grpc.AuthServiceStub) -> Call:
    def call(email: str, password: str) -> tuple[Any, ...]:
        request = auth_pb2.IssueTokenRequest(email=email, password=password)
        try:
            stub.IssueToken(request, timeout=30)
        except grpc.RpcError as error:
            trailing = tuple(sorted((m.key, m.value) for m in (error.trailing_metadata() or ())))
            return (error.code().name, error.details(), trailing)
        return ("OK", "", ())

    return call


def interleaved(
    call: Call, cases: dict[str, tuple[str, str]], rounds: int, warmup: int
) -> dict[str, Series]:
    """Time each case once per round; the order rotates each round so no case always goes first."""
    names = list(cases)
    series = {name: Series(name) for name in names}
    for index in range(warmup + rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            email, password = cases[name]
            start = time.perf_counter()
            answer = call(email, password)
            elapsed = time.perf_counter() - start
            if index >= warmup:
                series[name].seconds.append(elapsed)
                series[name].answers.add(answer)
    return series


def success_series(call: Call, rounds: int, warmup: int) -> Series:
    name, (email, password) = SUCCESS
    series = Series(name)
    for index in range(warmup + rounds):
        start = time.perf_counter()
        answer = call(email, password)
        elapsed = time.perf_counter() - start
        if answer[0] not in (200, "OK"):
            raise SystemExit(f"the successful login failed: {answer!r}")
        if index >= warmup:
            series.seconds.append(elapsed)
    return series


def spread(series: dict[str, Series]) -> float:
    """Largest relative difference of medians between two cases: (max - min) / min."""
    medians = [s.median for s in series.values()]
    return (max(medians) - min(medians)) / min(medians)


# --------------------------------------------------------------------------- reporting


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(door: str, series: dict[str, Series], reference: Series) -> list[str]:
    fastest = min(s.median for s in series.values())
    rows = [
        "| door | case | n | median ms | p90 ms | mean ms | median vs fastest failure |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    named = [(s.name, s) for s in series.values()] + [
        (f"*{reference.name} (reference)*", reference)
    ]
    for name, s in named:
        rows.append(
            f"| {door} | {name} | {len(s.seconds)} | {ms(s.median)} | {ms(s.p90)} "
            f"| {ms(s.mean)} | {(s.median - fastest) / fastest:+.1%} "
            f"({(s.median - fastest) * 1000:+.1f} ms) |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="timed rounds per case (300)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed rounds first (10)")
    parser.add_argument(
        "--success-rounds", type=int, default=50, help="timed successful logins per door (50)"
    )
    parser.add_argument(
        "--threshold", type=float, default=0.05, help="allowed relative median spread (0.05)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 10:
        parser.error("--rounds must be at least 10")

    env_lines = machine.report_lines(f"{os.cpu_count()} CPUs (nproc {machine.nproc()})", PACKAGES)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="authgate-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        for email in (ACTIVE_EMAIL, INACTIVE_EMAIL):
            create = ("users", "create", "--email", email, "--password-stdin")
            authgate_cli(data_dir, *create, stdin=PASSWORD + "\n")
        authgate_cli(data_dir, "users", "deactivate", "--email", INACTIVE_EMAIL)
        server = authgate_server(data_dir).start(rest=True, grpc=True)
        try:
            with httpx.Client(base_url=server.http_url, timeout=30) as client:
                rest = rest_call(client)
                rest_failures = interleaved(rest, FAILURES, args.rounds, args.warmup)
                rest_success = success_series(rest, args.success_rounds, 5)
            with grpc.insecure_channel(server.grpc_target) as channel:
                grpc.channel_ready_future(channel).result(timeout=30)
                call = grpc_call(auth_pb2_grpc.AuthServiceStub(channel))
                grpc_failures = interleaved(call, FAILURES, args.rounds, args.warmup)
                grpc_success = success_series(call, args.success_rounds, 5)
        except BaseException:
            if "shutting down" in server.log:
                print(
                    "authgate serve was stopped from outside during the run (a SIGTERM/SIGINT "
                    "not sent by this script); run again.",
                    file=sys.stderr,
                )
            code = server.process.poll() if server.process else None
            print(f"server exit code: {code}; end of its log:", file=sys.stderr)
            print(server.log[-2000:], file=sys.stderr)
            raise
        finally:
            server.stop()
    elapsed = time.monotonic() - started

    problems: list[str] = []
    for door, series in (("REST", rest_failures), ("gRPC", grpc_failures)):
        answers = {name: s.answers for name, s in series.items()}
        for name, seen in answers.items():
            if len(seen) != 1:
                problems.append(f"{door}: {name} answered {len(seen)} different ways: {seen!r}")
        distinct = {answer for seen in answers.values() for answer in seen}
        if len(distinct) != 1:
            detail = "\n".join(f"  {name}: {sorted(seen)!r}" for name, seen in answers.items())
            problems.append(f"{door}: the three failures are distinguishable:\n{detail}")
        if door == "REST" and distinct and next(iter(distinct))[0] != 401:
            problems.append(f"REST: expected 401, got {distinct!r}")
        if door == "gRPC" and distinct and next(iter(distinct))[0] != "UNAUTHENTICATED":
            problems.append(f"gRPC: expected UNAUTHENTICATED, got {distinct!r}")
        if spread(series) > args.threshold:
            problems.append(
                f"{door}: medians differ by {spread(series):.1%} (> {args.threshold:.0%})"
            )

    rest_answer = next(iter(next(iter(rest_failures.values())).answers))
    grpc_answer = next(iter(next(iter(grpc_failures.values())).answers))
    lines = [
        f"Command: `.venv/bin/python bench/login_timing.py --rounds {args.rounds} "
        f"--warmup {args.warmup}` ({elapsed:.0f} s)",
        "",
        *env_lines,
        "",
        *table("REST", rest_failures, rest_success),
        *table("gRPC", grpc_failures, grpc_success)[2:],
        "",
        f"- max relative difference of failure medians: REST {spread(rest_failures):.1%}, "
        f"gRPC {spread(grpc_failures):.1%} (limit {args.threshold:.0%})",
        f"- REST answers identical (status, body, headers minus Date): "
        f"{'yes' if not any(p.startswith('REST: the') for p in problems) else 'NO'} "
        f"(status {rest_answer[0]}, body {rest_answer[1].decode()!s})",
        f"- gRPC answers identical (code, details, trailing metadata): "
        f"{'yes' if not any(p.startswith('gRPC: the') for p in problems) else 'NO'} "
        f"({grpc_answer[0]}, {grpc_answer[1]!r})",
    ]
    print("\n".join(lines))
    if problems:
        print("\nFAILED:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
