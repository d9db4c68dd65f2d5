"""The README stays true: its guide runs against a live server, its settings table is complete."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from authgate.process.settings import Settings

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from readme_blocks import README, block_after


def test_readme_guide_uses_the_test_credentials():
    assert ADMIN_EMAIL in block_after("guide:curl") and ADMIN_PASSWORD in block_after("guide:curl")


def test_readme_curl_guide_works_against_the_live_server(server, tmp_path):
    script = block_after("guide:curl").replace("http://127.0.0.1:8000", server.http_url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    listings = [line for line in result.stdout.splitlines() if line.startswith('{"users"')]
    assert len(listings) == 2 and all(ADMIN_EMAIL in line for line in listings), result.stdout


def test_readme_service_account_guide_works_against_the_live_server(server, tmp_path):
    # The block's CLI call runs in the repository, as a reader would, on the server's store.
    script = (
        block_after("guide:clients")
        .replace("http://127.0.0.1:8000", server.http_url)
        .replace(".venv/bin/authgate", f"{sys.executable} -m authgate")
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    listing, introspected = [json.loads(line) for line in result.stdout.splitlines()]
    assert ADMIN_EMAIL in {user["email"] for user in listing["users"]}
    assert introspected["active"] is True and introspected["scope"] == "users:read"
    assert introspected["sub"] == introspected["client_id"]


def test_readme_grpc_snippet_works_against_the_live_server(server):
    code = block_after("guide:grpc").replace("127.0.0.1:50051", server.grpc_target)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(ADMIN_EMAIL) == 2, result.stdout


def test_readme_settings_table_lists_every_setting_with_its_default():
    table = README.split("<!-- settings table")[1].split("-->\n", 1)[1].split("\n\n")[0]
    rows = {
        cells[0].strip("` "): cells[1].strip()
        for line in table.splitlines()[2:]
        if (cells := [c.strip() for c in line.strip("|").split("|")])
    }
    fields = {f.metadata["env"]: f.default for f in dataclasses.fields(Settings)}
    assert set(rows) == set(fields)
    for variable, default in fields.items():
        if default == "":
            assert "`" not in rows[variable] or "SQLite" in rows[variable], variable
        else:
            assert rows[variable] == f"`{default}`", variable
