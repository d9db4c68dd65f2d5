"""Who used the machine's cores, second by second: AuthGate, PostgreSQL, the benchmark itself,
everything else, and the hypervisor (steal: another tenant had the core).

The soak runs an open loop on 2 shared cores: when they are all busy, a queue builds and
every operation's latency jumps together. This tells whose work filled them, and whether the
cores themselves ran slower: each second the sampler times a fixed piece of work in CPU time,
which a core shared with another tenant (its hyperthread sibling) or clocked down takes longer
to do, while steal shows nothing. It also reads each worker's event-loop thread (its main
thread): a loop can use one core at most, so a worker whose loop nears it queues its requests
while the other may idle (the kernel spreads connections over the workers, not requests).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import machine

import servers

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
GROUPS = ("AuthGate", "PostgreSQL", "benchmark", "other", "steal")
CANARY_LOOPS = 20_000  # about 1 ms of CPU on the benchmark VM


@dataclass(frozen=True)
class Sample:
    at_s: float  # seconds since the sampler's zero
    cores: dict[str, float]  # group -> cores used over the second before (steal included)
    canary_ms: float  # CPU time of the fixed piece of work (_canary)
    loops: tuple[float, ...] = ()  # cores each worker's event-loop thread used, in pid order


def _canary() -> float:
    """Milliseconds of this thread's CPU time to do the same arithmetic as always."""
    started = time.thread_time()
    total = 0
    for i in range(CANARY_LOOPS):
        total += i * i % 7
    return (time.thread_time() - started) * 1000


def _reading() -> tuple[dict[int, servers.ProcessStat], int, float]:
    return servers.process_table(), machine.steal_ticks(), time.perf_counter()


def _main_thread_ticks(pid: int) -> int:
    """CPU ticks of `pid`'s main thread (a worker's event loop); 0 once it is gone."""
    try:
        return servers.parse_stat(Path(f"/proc/{pid}/task/{pid}/stat").read_text()).cpu_ticks
    except OSError:
        return 0


class CpuSampler:
    """A thread that samples every `every_s` seconds until `stop()`."""

    def __init__(
        self, authgate_pid: int, zero: float, workers: list[int], every_s: float = 1.0
    ) -> None:
        self.authgate_pid = authgate_pid
        self.workers = sorted(workers)
        self.zero = zero  # time.perf_counter() at the soak's start
        self.every_s = every_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        before, steal, at = _reading()
        loops = [_main_thread_ticks(pid) for pid in self.workers]
        while not self._stop.wait(self.every_s):
            now, now_steal, now_at = _reading()
            now_loops = [_main_thread_ticks(pid) for pid in self.workers]
            used = dict.fromkeys(GROUPS, 0.0)
            group_of = self._grouper(now)
            for pid, stat in now.items():
                # A process new since the last sample counts from zero.
                spent = stat.cpu_ticks - (before[pid].cpu_ticks if pid in before else 0)
                used[group_of(pid, stat.name)] += spent * TICK_S
            used["steal"] = (now_steal - steal) * TICK_S
            seconds = now_at - at
            loop_cores = tuple(
                (b - a) * TICK_S / seconds for a, b in zip(loops, now_loops, strict=True)
            )
            cores = {g: s / seconds for g, s in used.items()}
            self.samples.append(Sample(now_at - self.zero, cores, _canary(), loop_cores))
            before, steal, at, loops = now, now_steal, now_at, now_loops

    def _grouper(self, table: dict[int, servers.ProcessStat]) -> Callable[[int, str], str]:
        authgate = {self.authgate_pid, *servers.descendants(self.authgate_pid, table)}
        # This process and what it runs besides AuthGate (ss, a CLI writer).
        me = os.getpid()
        benchmark = {me, *servers.descendants(me, table)} - authgate

        def group_of(pid: int, name: str) -> str:
            if pid in authgate:
                return "AuthGate"
            if name == "postgres":
                return "PostgreSQL"
            if pid in benchmark:
                return "benchmark"
            return "other"

        return group_of
