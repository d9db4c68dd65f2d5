"""argon2's 19 MiB work areas go back to the kernel after each hash, in every serving process.

RSS growth is compared with one argon2 block: with glibc's default (dynamic) mmap threshold,
every hashing thread keeps a freed block in its arena, so a burst grows a process by about
19 MiB per pool thread.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from servers import ServerProcess

# Well under one argon2 block (19 MiB): what a burst may add once the blocks are given back.
GROWTH_LIMIT_MB = 10

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the retention this guards against is glibc's"
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def serving_pids(server: ServerProcess) -> list[int]:
    """The server itself, or its workers (spawned children) when it supervises."""
    assert server.process is not None
    pid = server.process.pid
    children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return workers or [pid]


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


def growth_after_burst(server: ServerProcess) -> dict[int, float]:
    before = {pid: rss_mb(pid) for pid in serving_pids(server)}
    login_burst(server)
    return {pid: rss_mb(pid) - rss_mb_before for pid, rss_mb_before in before.items()}


@glibc_only
def test_hashing_in_every_pool_thread_gives_the_memory_back() -> None:
    probe = textwrap.dedent(
        """
        import asyncio
        from pathlib import Path

        from authgate import memory, passwords

        def rss_kb():
            status = Path("/proc/self/status").read_text()
            return int(status.split("VmRSS:")[1].split()[0])

        async def burst():
            hashes = await asyncio.gather(*(passwords.hash_password("pw") for _ in range(8)))
            await asyncio.gather(*(passwords.verify_password(h, "pw") for h in hashes))

        assert memory.pin_mmap_threshold()
        before = rss_kb()
        asyncio.run(burst())
        print((rss_kb() - before) / 1024)
        """
    )
    growth = float(subprocess.check_output([sys.executable, "-c", probe], text=True))

    assert growth < GROWTH_LIMIT_MB


@glibc_only
def test_a_login_burst_leaves_the_server_memory_where_it_was(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path,
        {"AUTHGATE_BOOTSTRAP_EMAIL": ADMIN_EMAIL, "AUTHGATE_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD},
    ).start()
    try:
        growth = growth_after_burst(server)
    finally:
        assert server.stop() == 0, server.log

    assert all(mb < GROWTH_LIMIT_MB for mb in growth.values()), growth


@glibc_only
def test_a_login_burst_leaves_every_worker_memory_where_it_was(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path,
        {
            "AUTHGATE_WORKERS": "2",
            "AUTHGATE_BOOTSTRAP_EMAIL": ADMIN_EMAIL,
            "AUTHGATE_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD,
        },
    ).start()
    try:
        deadline = time.monotonic() + 20
        while server.log.count("rest listening on") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        growth = growth_after_burst(server)
    finally:
        assert server.stop() == 0, server.log

    assert len(growth) == 2
    assert all(mb < GROWTH_LIMIT_MB for mb in growth.values()), growth
