"""`authgate serve --workers N`: N processes share both ports; a supervisor stops them together."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, open_door
from servers import ServerProcess


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()]


def worker_pids(server: ServerProcess) -> list[int]:
    """The serving workers (the spawn context also starts a resource tracker: no sockets)."""
    workers = []
    for child in children(server.process.pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            workers.append(child)
    return workers


@pytest.fixture
def pool(tmp_path):
    process = ServerProcess(
        tmp_path,
        {
            "AUTHGATE_WORKERS": "2",
            "AUTHGATE_BOOTSTRAP_EMAIL": ADMIN_EMAIL,
            "AUTHGATE_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD,
        },
    ).start()
    deadline = time.monotonic() + 20
    while process.log.count("rest listening on") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield process
    process.stop()


def test_workers_share_both_ports_and_serve_both_doors(pool):
    assert len(worker_pids(pool)) == 2
    assert pool.log.count("rest listening on") == 2  # both workers bound the same addresses
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
