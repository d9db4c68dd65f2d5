"""The revocation benchmark's trial (bench/revocation_lag.py), with probes that switch on cue.

The benchmark's figures are only as good as the way a trial reads its probes' answers: with
several connections per probe and worker (the soak asks over four), each worker's lag is its
earliest refusal, and the trial's lag is the latest worker's.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import revocation_lag  # bench/ is not a package: on sys.path above

SLOW_S = 0.08  # how long after the write's return the slow worker starts refusing


class Switchboard:
    """When each worker starts refusing: at the write's return, or SLOW_S after it."""

    def __init__(self, slow_pid: int) -> None:
        self.slow_pid = slow_pid
        self.returned_at: float | None = None
        self.asked: list[str] = []

    def refusing(self, pid: int) -> bool:
        if self.returned_at is None:
            return False
        delay = SLOW_S if pid == self.slow_pid else 0.0
        return time.perf_counter() >= self.returned_at + delay

    def probe(self, name: str, pid: int) -> revocation_lag.Probe:
        async def accepted(request_id: str | None) -> bool:
            await asyncio.sleep(0.001)
            if request_id:
                self.asked.append(request_id)
            return not self.refusing(pid)

        return revocation_lag.Probe(name, pid, accepted)

    async def write(self, active: bool) -> None:
        assert not active
        self.returned_at = time.perf_counter()


class LoggedNow:
    """Every request was decided the moment it was asked (as an access line would say)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    async def of(self, request_ids: Iterable[str]) -> dict[str, float]:
        return {rid: self.at.setdefault(rid, time.time()) for rid in request_ids}


async def test_each_worker_counts_its_earliest_refusal_and_the_trial_its_latest_worker():
    board = Switchboard(slow_pid=2)
    # Four connections per probe kind and worker, in the order open_probes makes them: one
    # set covering every worker, then the next.
    probes = [
        board.probe(name, pid) for _ in range(4) for name in ("REST", "gRPC") for pid in (1, 2)
    ]
    trial = await revocation_lag.trial(probes, board.write, active=False, decisions=LoggedNow())
    assert SLOW_S * 1000 <= trial.lag_ms < SLOW_S * 1000 + 60
    assert "(pid 2)" in trial.last
    assert trial.decided_ms is not None and trial.decided_ms <= trial.lag_ms
    assert trial.backslides == 0
    assert len(set(board.asked)) == len(board.asked)  # every request id is new


async def test_a_worker_that_refuses_at_once_reads_no_lag():
    board = Switchboard(slow_pid=0)  # nobody is slow
    probes = [board.probe("REST", pid) for _ in range(4) for pid in (1, 2)]
    trial = await revocation_lag.trial(probes, board.write, active=False)
    assert trial.lag_ms < 30
    assert trial.decided_ms is None
