"""What a benchmark report says about the machine and the software it ran on."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    models = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(models, "unknown")


def package_versions(packages: Iterable[str]) -> list[str]:
    versions = []
    for package in packages:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return versions
