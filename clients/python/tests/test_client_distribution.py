"""The library is a distribution of its own, versioned with the server."""

from __future__ import annotations

import tomllib
from pathlib import Path

import authgate_client

ROOT = Path(__file__).resolve().parents[3]


def test_the_library_is_versioned_with_the_server():
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    library = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())["project"]
    assert library["version"] == server == authgate_client.__version__
