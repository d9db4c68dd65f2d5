"""The generated stubs and the proto itself: committed stubs are fresh, buf lint is clean."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "service" / "authgate" / "v1"
BUF = ROOT / "node_modules" / ".bin" / "buf"


def test_committed_stubs_equal_a_fresh_generation(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate_stubs.py"), str(tmp_path)], check=True
    )
    fresh = tmp_path / "authgate" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.is_file())
    assert names == sorted(
        p.name for p in STUBS.iterdir() if p.is_file() and p.suffix in (".py", ".pyi")
    )
    _, mismatch, errors = filecmp.cmpfiles(fresh, STUBS, names, shallow=False)
    assert not mismatch and not errors, f"stale stubs {mismatch + errors}: run `make stubs`"


def _buf() -> str:
    if BUF.exists():
        return str(BUF)
    found = shutil.which("buf")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("buf is not installed: `make test` installs it with npm ci")
        pytest.skip("buf not installed (run `make test`, which installs it)")
    return found


@pytest.mark.parametrize(
    "command",
    [["lint"], ["format", "--diff", "--exit-code"]],
    ids=["lint", "format"],
)
def test_buf_is_clean(command):
    subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate_stubs.py"), "--include-only"], check=True
    )
    result = subprocess.run(
        [_buf(), *command, "--path", "proto/authgate"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
