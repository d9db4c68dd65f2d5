"""What a soak run measured (soak.py): the load's minutes, the churn, and the machine."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import machine
import worker_metrics
from cpu_sampler import Sample
from soak_load import Minute, Recorder, SenderPool


@dataclass(frozen=True)
class Churn:
    at_s: float
    refusal_ms: float  # from the deactivation's return to every worker's refusal arriving
    # The same to every worker deciding a refusal: by its access line or the answer's arrival,
    # whichever came first (decision_times.py), what the bound is about.
    refusal_decided_ms: float
    reacceptance_ms: float
    backslides: int
    round_ms: float  # every probe answering once, at once, just before: no lag reads below it


@dataclass
class SoakRun:
    args: argparse.Namespace
    command: str
    started: float = 0.0
    max_rps: float = 0.0
    max_run: Minute = field(default_factory=Minute)
    max_busy: float = 0.0  # the cores' busy share during the maximum-rate run
    rate: float = 0.0
    recorder: Recorder | None = None
    churns: list[Churn] = field(default_factory=list)
    rss: list[tuple[float, dict[int, float]]] = field(default_factory=list)  # (s, pid -> MB)
    cpu: list[Sample] = field(default_factory=list)  # who used the cores, every second
    # (s, ms) each time the benchmark's own event loop was held (soak.watch_loop)
    loop_held: list[tuple[float, float]] = field(default_factory=list)
    # The workers' /metrics at the start and at the end of each minute.
    worker_readings: list[worker_metrics.Reading] = field(default_factory=list)
    senders: SenderPool | None = None  # the open loop's connections
    unexpected: list[str] = field(default_factory=list)
    pids_at_start: list[int] = field(default_factory=list)
    pids_at_end: list[int] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    generator_cpu_s: float = 0.0  # this process's CPU time during the soak (load, probes)

    @property
    def nproc(self) -> int:
        return machine.nproc()

    @property
    def seconds(self) -> float:
        return float(self.args.minutes) * 60

    @property
    def minutes(self) -> list[Minute]:
        return self.recorder.minutes if self.recorder else []

    @property
    def rss_baseline_minute(self) -> int:
        """Minute 2, or minute 1 in a run shorter than 3 minutes (nothing after minute 2)."""
        return 2 if self.args.minutes >= 3 else 1

    def cpu_in(self, minute: int) -> list[Sample]:
        """The seconds sampled in `minute` (1-based)."""
        return [s for s in self.cpu if (minute - 1) * 60 < s.at_s <= minute * 60]

    def rss_peak(self, minute: int) -> dict[int, float]:
        """pid -> the largest RSS sampled in `minute` (1-based). The peak, not one sample: a
        worker hands argon2's 19 MiB work area back a second after hashing pauses, so single
        samples swing by about 20 MB with the logins of the mix."""
        peaks: dict[int, float] = {}
        last = minute * 60 >= self.seconds  # its window takes the reading made at the end too
        for t, sizes in self.rss:
            if (minute - 1) * 60 <= t < minute * 60 or (last and t >= self.seconds):
                for pid, mb in sizes.items():
                    peaks[pid] = max(mb, peaks.get(pid, 0.0))
        return peaks

    def rss_growth(self) -> dict[int, tuple[float, float]]:
        """pid -> (peak MB in the baseline minute, peak MB in the last minute)."""
        base = self.rss_peak(self.rss_baseline_minute)
        end = self.rss_peak(len(self.minutes))
        return {pid: (base[pid], end[pid]) for pid in base if pid in end}
