"""`authgate serve --workers N`: N processes share both ports; a supervisor stops them together."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD, BOOTSTRAP_ADMIN
from servers import ServerProcess, open_door, start_workers, wait_for, wait_for_lines, worker_pids


def open_files(pid: int) -> set[Path]:
    return {fd.readlink() for fd in Path(f"/proc/{pid}/fd").iterdir()}


def processes_serving(data_dir: Path) -> list[int]:
    """Every live process started with this data directory (a supervisor and its workers)."""
    marker = f"AUTHGATE_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # exited meanwhile, or not ours to read
            continue
    return found


@pytest.fixture
def pool(tmp_path):
    process = start_workers(tmp_path, 2, BOOTSTRAP_ADMIN)
    yield process
    process.stop()


def test_workers_share_both_ports_and_serve_both_doors(pool):
    assert len(worker_pids(pool)) == 2
    assert pool.log.count("rest listening on") == 2  # both workers bound the same addresses
    assert pool.log.count("serving on the uvloop event loop") == 2  # each worker's own loop
    for kind in ("rest", "grpc"):
        for _ in range(10):  # new connections land on either worker
            door = open_door(kind, pool)
            try:
                assert door.issue_token(ADMIN_EMAIL, ADMIN_PASSWORD).ok
            finally:
                door.close()


def test_sigterm_stops_every_worker_and_exits_zero(pool):
    workers = worker_pids(pool)
    assert pool.stop(signal.SIGTERM) == 0, pool.log
    assert "worker exit codes [0, 0]" in pool.log
    # Each worker wrote its queued lines before it exited; the supervisor's are last.
    assert pool.lines[-1].endswith(" INFO authgate stopped (worker exit codes [0, 0])\n")
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()  # exited and reaped by the supervisor


def test_a_dead_worker_stops_the_pool_with_an_error(pool):
    victim, *_ = worker_pids(pool)
    os.kill(victim, signal.SIGKILL)
    assert pool.process.wait(timeout=20) == 1
    assert "a worker exited" in pool.log


def test_metrics_add_up_across_workers(pool):
    logins = 0
    for _ in range(12):  # fresh connections: the kernel spreads them over both workers
        door = open_door("rest", pool)
        try:
            logins += door.issue_token(ADMIN_EMAIL, ADMIN_PASSWORD).ok
        finally:
            door.close()
    with httpx.Client(base_url=pool.http_url, timeout=10) as client:
        totals = set()
        for _ in range(6):  # whichever worker answers, it reports the pool's sum
            match = re.search(
                r"^authgate_tokens_issued_total (\S+)$", client.get("/metrics").text, re.M
            )
            totals.add(float(match.group(1)))
    assert totals == {float(logins)}


def test_a_worker_held_off_its_core_shows_in_the_pools_loop_lag(pool):
    """SIGSTOP takes the core away from a worker as a saturated machine would: its timers
    run late by the hold, and /metrics (the pool's sum) counts one tick over 0.5 s."""

    def lag_over_half_a_second(metrics: str) -> float:
        total = re.search(r"^authgate_event_loop_lag_seconds_count (\S+)$", metrics, re.M)
        under = re.search(
            r'^authgate_event_loop_lag_seconds_bucket\{le="0.5"\} (\S+)$', metrics, re.M
        )
        assert total and under, "the pool reports its event-loop lag"
        return float(total.group(1)) - float(under.group(1))

    with httpx.Client(base_url=pool.http_url, timeout=10) as client:
        before = lag_over_half_a_second(client.get("/metrics").text)
        victim, *_ = worker_pids(pool)
        os.kill(victim, signal.SIGSTOP)
        time.sleep(0.8)
        os.kill(victim, signal.SIGCONT)
        time.sleep(0.3)  # its late tick runs, and the next one
        metrics = client.get("/metrics").text
    assert lag_over_half_a_second(metrics) >= before + 1
    assert re.search(r'^authgate_gc_pause_seconds_count\{generation="0"\} [1-9]', metrics, re.M)


@dataclass
class PreparingPool:
    """A pool held in the supervisor's preparation of the store."""

    server: ServerProcess
    started: Future[ServerProcess]  # resolves once the pool serves
    lock: sqlite3.Connection

    def release(self) -> None:
        self.lock.close()
        assert self.server.process is not None
        self.server.process.send_signal(signal.SIGCONT)


def workers_running(server: ServerProcess) -> int:
    """Workers that have what the supervisor sends a spawned child.

    The supervisor writes a spawned worker's start-up data into a pipe after the child is
    exec'd: a supervisor frozen in between leaves that worker waiting for it forever (seen
    once in a CI run: one worker never logged). A worker that has the data runs `_worker`,
    whose first act starts its log-writing thread, so from then on it has two threads.
    """
    running = 0
    for pid in worker_pids(server):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:  # it exited meanwhile
            continue
        threads = re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE)
        running += threads is not None and int(threads.group(1)) >= 2
    return running


@pytest.fixture
def preparing_pool(tmp_path: Path) -> Iterator[PreparingPool]:
    """The SQLite file is locked, so the supervisor cannot finish migrating it; and the
    supervisor is frozen (SIGSTOP) as soon as its workers run, so SQLite's 5 s busy timeout
    does not run out however long the workers take to import."""
    lock = sqlite3.connect(tmp_path / "authgate.sqlite3", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    server = ServerProcess(tmp_path, {"AUTHGATE_WORKERS": "2", **BOOTSTRAP_ADMIN})
    with ThreadPoolExecutor(1) as background:
        started = background.submit(server.start)
        wait_for(
            lambda: server.process is not None and workers_running(server) >= 2,
            20,
            interval=0.01,
            report=lambda: server.log,
        )
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        preparing = PreparingPool(server, started, lock)
        try:
            wait_for_lines(server, "waiting for the store to be prepared", 2)
            yield preparing
        finally:
            preparing.release()
            server.stop()


def test_workers_import_while_the_store_is_prepared_and_open_it_only_after(preparing_pool):
    pool = preparing_pool.server
    workers = worker_pids(pool)
    database = pool.data_dir / "authgate.sqlite3"

    assert len(workers) == 2
    assert "rest listening on" not in pool.log
    assert all(database not in open_files(pid) for pid in workers)
    preparing_pool.release()
    preparing_pool.started.result(timeout=30)
    door = open_door("rest", pool)
    try:
        assert door.issue_token(ADMIN_EMAIL, ADMIN_PASSWORD).ok
    finally:
        door.close()


def test_sigterm_while_the_store_is_prepared_stops_the_workers_and_exits_zero(preparing_pool):
    pool = preparing_pool.server
    workers = worker_pids(pool)
    pool.process.send_signal(signal.SIGTERM)
    preparing_pool.release()  # the migration in progress finishes; nothing serves after it

    assert pool.process.wait(timeout=20) == 0, pool.log
    assert "worker exit codes [0, 0]" in pool.log
    # Each worker wrote its queued lines before it exited; the supervisor's are last.
    assert pool.lines[-1].endswith(" INFO authgate stopped (worker exit codes [0, 0])\n")
    assert "rest listening on" not in pool.log
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_a_worker_killed_while_the_store_is_prepared_stops_the_pool_with_an_error(
    preparing_pool,
):
    pool = preparing_pool.server
    victim, *_ = worker_pids(pool)
    os.kill(victim, signal.SIGKILL)
    preparing_pool.release()

    assert pool.process.wait(timeout=20) == 1, pool.log
    assert "a worker exited" in pool.log


def test_a_failed_preparation_stops_the_workers_and_exits_one(tmp_path):
    unreachable = "postgresql://authgate@127.0.0.1:1/authgate"  # port 1: connection refused
    env = ServerProcess(
        tmp_path, {"AUTHGATE_WORKERS": "2", "AUTHGATE_DATABASE_URL": unreachable}
    ).env
    finished = subprocess.run(
        [sys.executable, "-m", "authgate", "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 1, finished.stderr
    assert processes_serving(tmp_path) == []
