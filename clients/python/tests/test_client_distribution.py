"""The library is a distribution of its own, versioned with the server, installed without it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import authgate_client

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = ROOT / "clients/python"
# The server and what it needs must not come with the library, nor grpcio (the `grpc` extra).
UNWANTED = {"authgate", "connexion", "argon2-cffi", "sqlalchemy", "uvicorn", "psycopg", "grpcio"}


def test_the_library_is_versioned_with_the_server():
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    library = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
    assert library["version"] == server == authgate_client.__version__


def test_importing_the_library_imports_no_grpc():
    imported = "import sys, authgate_client; print(sorted(m for m in sys.modules if 'grpc' in m))"
    done = subprocess.run([sys.executable, "-c", imported], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_library_installs_alone_in_a_fresh_environment(tmp_path):
    """pip install into a new venv (about 30 s): httpx and PyJWT come, nothing of the server."""
    # A copy, as pip builds a local directory in place and would write into the repository.
    source = tmp_path / "authgate-client"
    shutil.copytree(LIBRARY, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "tests"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = str(venv / "bin" / "python")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}

    def run(*words: str) -> str:
        done = subprocess.run(
            [python, *words], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("-m", "pip", "install", "--quiet", str(source))
    installed = {
        entry["name"].lower() for entry in json.loads(run("-m", "pip", "list", "--format=json"))
    }
    assert {"authgate-client", "httpx", "pyjwt", "cryptography"} <= installed
    assert installed.isdisjoint(UNWANTED)
    run("-c", "from authgate_client import AuthGateAuth, TokenKeeper, InvalidCredentials")
