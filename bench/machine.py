"""What a benchmark report says about the machine and the software it ran on."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    models = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(models, "unknown")


def nproc() -> int:
    """The CPUs this process may run on (what `nproc` prints)."""
    return len(os.sched_getaffinity(0))


def _cpu_line() -> list[int]:
    """The clock ticks of every CPU since boot, from /proc/stat's first line: user, nice,
    system, idle, iowait, irq, softirq, steal, ..."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def cpu_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every CPU since boot: busy is everything but idle and
    iowait (steal included: another tenant had the core)."""
    fields = _cpu_line()
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def steal_ticks() -> int:
    """Clock ticks of every CPU since boot that the hypervisor gave another tenant."""
    return _cpu_line()[7]


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The cores' busy share (0 to 1) between two `cpu_ticks()` readings."""
    spent = after[1] - before[1]
    return (after[0] - before[0]) / spent if spent else 0.0


def package_versions(packages: Iterable[str]) -> list[str]:
    versions = []
    for package in packages:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return versions


def report_lines(cpus: str, packages: Iterable[str]) -> list[str]:
    """The date, machine (`cpus` says how many), Python and `packages` lines of a report."""
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {cpus}, {cpu_model()}; load average at start {load}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}",
        f"- packages: {', '.join(package_versions(packages))}",
    ]
