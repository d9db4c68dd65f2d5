"""argon2's 19 MiB work areas are reused during a burst and go back to the kernel after it.

Growth is compared with one work area (4,865 pages): with glibc's defaults every hashing thread
keeps a freed area in its own arena for good (a burst grows a process by 19 MiB per pool
thread); with the mmap threshold pinned low, every hash faults in a fresh area (60 % more CPU
per verify).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD, BOOTSTRAP_ADMIN
from servers import ServerProcess, running_server, start_workers, wait_for, worker_pids

# Well under one argon2 block (19 MiB): what a burst may add once the blocks are given back.
GROWTH_LIMIT_MB = 10
# How long a test waits for the memory to come back: the pool releases it after
# passwords.IDLE_RELEASE_SECONDS (1 s) without hashing.
RELEASE_WAIT_SECONDS = 15
# A serving process's idle heap is about 15 MB; holding one work area, about 34.
IDLE_HEAP_LIMIT_MB = 25

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the retention this guards against is glibc's"
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def heap_mb(pid: int) -> float:
    """Resident size of the process's brk heap, where glibc's main arena keeps work areas."""
    lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    starts = [n for n, line in enumerate(lines) if line.endswith("[heap]")]
    if not starts:
        return 0.0
    rss = next(line for line in lines[starts[0] :] if line.startswith("Rss:"))
    return int(rss.split()[1]) / 1024


def start_two_workers(data_dir: Path) -> ServerProcess:
    return start_workers(data_dir, 2, BOOTSTRAP_ADMIN)


def serving_pids(server: ServerProcess) -> list[int]:
    """The server itself, or its workers (spawned children) when it supervises."""
    assert server.process is not None
    return worker_pids(server) or [server.process.pid]


def login_burst(server: ServerProcess, logins: int = 32, clients: int = 4) -> None:
    """Concurrent logins, each on a new connection (so a pool spreads them over its workers)."""

    def login(_: int) -> None:
        with httpx.Client(base_url=server.http_url, timeout=30) as client:
            reply = client.post(
                "/api/v1/token/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert reply.status_code == 200, reply.text

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(login, range(logins)))


def wait_for_small_heaps(server: ServerProcess) -> None:
    """Wait until no serving process holds a work area (the start-up hash's, when just ready)."""
    for pid in serving_pids(server):
        wait_for(
            lambda pid=pid: heap_mb(pid) < IDLE_HEAP_LIMIT_MB,
            RELEASE_WAIT_SECONDS,
            report=lambda pid=pid: f"heap of {pid}: {heap_mb(pid):.1f} MB",
        )


def growth_after_burst(server: ServerProcess) -> dict[int, float]:
    """How much each serving process has grown once the burst's memory has come back."""
    # A baseline that still held the start-up area would let the burst keep one for good.
    wait_for_small_heaps(server)
    before = {pid: rss_mb(pid) for pid in serving_pids(server)}
    login_burst(server)
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while True:
        growth = {pid: rss_mb(pid) - mb for pid, mb in before.items()}
        if max(growth.values()) < GROWTH_LIMIT_MB or time.monotonic() > deadline:
            return growth
        time.sleep(0.1)


@glibc_only
def test_a_hashing_burst_reuses_the_work_areas_and_gives_them_back_after() -> None:
    probe = textwrap.dedent(
        f"""
        import asyncio
        import json
        import resource
        import time
        from pathlib import Path

        from authgate.core import memory, passwords

        def rss_mb():
            status = Path("/proc/self/status").read_text()
            return int(status.split("VmRSS:")[1].split()[0]) / 1024

        async def burst():
            hashes = await asyncio.gather(*(passwords.hash_password("pw") for _ in range(8)))
            for _ in range(4):
                await asyncio.gather(*(passwords.verify_password(h, "pw") for h in hashes))

        async def main():
            assert memory.configure_allocator()
            # Four hashing threads, more than the default room (64 MiB) holds: the pool must
            # make room for its areas when it grows, or every hash faults its area in again.
            passwords._POOL.resize(4)
            before = rss_mb()
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            await burst()
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            deadline = time.monotonic() + {RELEASE_WAIT_SECONDS}
            while rss_mb() - before >= {GROWTH_LIMIT_MB} and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            print(json.dumps({{"growth": rss_mb() - before, "faults_per_hash": faults / 40}}))

        asyncio.run(main())
        """
    )
    result = json.loads(subprocess.check_output([sys.executable, "-c", probe], text=True))

    # A fresh work area is 4,865 pages; reused areas are faulted in once per thread.
    assert result["faults_per_hash"] < 1_500, result
    assert result["growth"] < GROWTH_LIMIT_MB, result


@glibc_only
def test_a_login_burst_leaves_the_server_memory_where_it_was(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        growth = growth_after_burst(server)

    assert all(mb < GROWTH_LIMIT_MB for mb in growth.values()), growth


@glibc_only
def test_a_login_burst_leaves_every_worker_memory_where_it_was(tmp_path: Path) -> None:
    server = start_two_workers(tmp_path)
    try:
        growth = growth_after_burst(server)
    finally:
        assert server.stop() == 0, server.log

    assert len(growth) == 2
    assert all(mb < GROWTH_LIMIT_MB for mb in growth.values()), growth


@glibc_only
def test_the_supervisor_gives_back_the_work_area_of_its_start_up_hash(tmp_path: Path) -> None:
    # It hashes (the dummy password) on an event loop that closes before the pool's idle
    # release could run: without its own release it would keep a 19 MiB area for good.
    assert start_two_workers(tmp_path).stop() == 0  # a restart next: nothing else to hash
    server = start_two_workers(tmp_path)
    try:
        assert server.process is not None
        heap = heap_mb(server.process.pid)
    finally:
        assert server.stop() == 0, server.log

    # The rest of its heap is about 6 MB; with the area kept, 25.
    assert heap < 15, heap
