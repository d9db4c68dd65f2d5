"""Local verifier lag: from the return of `authgate users deactivate` to a service's own
Verifier (authgate_client, following AuthGate's revocation feed) refusing that user's token.

Two replicas (two `authgate serve`, each its own data directory) on one throwaway PostgreSQL
database. The CLI writes with the first replica's settings; the Verifier fetches its keys
from, and follows the feed of, the second: the change crosses the database (NOTIFY), the
second replica's tail and its feed, then the verifier's stream. A trial: the token verifies;
the CLI deactivates the user; the verifier is asked every millisecond until it refuses (the
lag, 0 if it refused before the CLI exited); the CLI activates the user again and the token
verifies again (re-acceptance). `--write` puts the section in docs/benchmarks.md.

    .venv/bin/python bench/verifier_lag.py [--trials 20] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import doc_blocks
import fill_store
import httpx
import machine
from authgate_client import InvalidToken, Verifier
from revocation_lag import PROBED_EMAIL, PROBED_PASSWORD, postgres_replicas

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = doc_blocks.markers("verifier_lag.py")
SECTION = "## A local verifier and the revocation feed"
POLL_S = 0.001
GIVE_UP_S = 10.0


def cli(env: dict[str, str], *words: str, stdin: str = "") -> str:
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "authgate", *words],
        env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"authgate {' '.join(words)}: {done.stderr.strip()}")
    return done.stdout


def seconds_until(condition: Callable[[], bool]) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > GIVE_UP_S:
            raise RuntimeError("gave up waiting")
        time.sleep(POLL_S)
    return time.monotonic() - started


def refuses(verifier: Verifier, token: str) -> Callable[[], bool]:
    def refused() -> bool:
        try:
            verifier.verify(token)
        except InvalidToken:
            return True
        return False

    return refused


def measure(env: dict[str, str], follow_url: str, login_url: str, trials: int) -> dict:
    cli(env, "users", "create", "--email", PROBED_EMAIL, "--password-stdin",
        stdin=PROBED_PASSWORD + "\n")  # fmt: skip
    client = json.loads(cli(env, "clients", "create", "--name", "verifier lag", "--json",
                            "--scope", "revocations:watch"))  # fmt: skip
    login = {"email": PROBED_EMAIL, "password": PROBED_PASSWORD}
    token = httpx.post(f"{login_url}/api/v1/token/", json=login, timeout=30).json()["access"]
    lags, reaccepted = [], []
    with Verifier(
        follow_url, client_id=client["client_id"], client_secret=client["client_secret"]
    ) as verifier:
        seconds_until(lambda: not refuses(verifier, token)())  # keys fetched, feed followed
        for _ in range(trials):
            cli(env, "users", "deactivate", "--email", PROBED_EMAIL)
            lags.append(seconds_until(refuses(verifier, token)))
            cli(env, "users", "activate", "--email", PROBED_EMAIL)
            reaccepted.append(seconds_until(lambda: not refuses(verifier, token)()))
    return {"lags": lags, "reaccepted": reaccepted}


def render(figures: dict, command: str) -> str:
    def row(name: str, values: list[float]) -> str:
        ms = sorted(v * 1000 for v in values)
        p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
        return f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {p99:.1f} | {ms[-1]:.1f} |"

    lines = [
        BEGIN,
        "",
        f"Command: `{command}`",
        "",
        *machine.report_lines(f"nproc {machine.nproc()}", ("grpcio", "uvicorn", "psycopg")),
        "",
        "| from the CLI's return to the verifier | trials | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        row("refusing the token (`users deactivate`)", figures["lags"]),
        row("accepting it again (`users activate`)", figures["reaccepted"]),
        "",
        f"Target: p99 of the refusal ≤ 1000 ms: "
        f"**{'pass' if max(figures['lags']) <= 1.0 else 'FAIL'}**.",
        "",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--write", action="store_true", help="put the section in --output")
    args = parser.parse_args(argv)
    name = f"authgate_verifier_lag_{os.getpid()}"
    fill_store.create_database(args.postgres, name)  # postgres_replicas drops it
    with (
        tempfile.TemporaryDirectory(prefix="authgate-verifier-lag-") as tmp,
        postgres_replicas(Path(tmp), args.postgres, name) as setup,
    ):
        first, second = setup.servers
        figures = measure(setup.cli_env, second.http_url, first.http_url, args.trials)
    command = "python bench/verifier_lag.py " + " ".join(sys.argv[1:] if argv is None else argv)
    block = render(figures, command.strip())
    print(block)
    if args.write:
        doc_blocks.replace_block(args.output, "verifier_lag.py", block, SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
