"""The soak's report (bench/soak_report.py): a minute over the p99 bound is named with what
the cores did in it, a burst included, not only its median."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from cpu_sampler import GROUPS, Sample  # bench/ is not a package: on sys.path
from soak_report import slow_minutes
from soak_run import SoakRun


def _second(at_s: float, canary_ms: float, steal: float = 0.0) -> Sample:
    cores = dict.fromkeys(GROUPS, 0.0) | {"steal": steal}
    return Sample(at_s=at_s, cores=cores, canary_ms=canary_ms)


def test_a_minute_over_the_bound_names_its_slow_seconds_and_steal() -> None:
    run = SoakRun(argparse.Namespace(minutes=3), "soak")
    steady = [_second(t, 2.0) for t in range(1, 121)]
    # Minute 3: the median second at normal speed, but a burst of 5 slow seconds and steal.
    burst = [_second(120 + t, 12.0 if t <= 5 else 2.0, steal=0.3) for t in range(1, 61)]
    run.cpu = steady + burst
    named = slow_minutes(run, [100.0, 110.0, 900.0])
    assert named == (
        "; over it: minute 3 (fixed work 1.00 x the run's median, 5 of 60 seconds over 1.5 x,"
        " the slowest 6.0 x; steal 0.30 cores)"
    )


def test_no_minute_over_the_bound_names_none() -> None:
    run = SoakRun(argparse.Namespace(minutes=2), "soak")
    run.cpu = [_second(t, 2.0) for t in range(1, 121)]
    assert slow_minutes(run, [100.0, 120.0]) == ""
