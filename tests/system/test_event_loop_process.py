"""`authgate serve` runs on uvloop unless AUTHGATE_EVENT_LOOP=asyncio; it says which at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts import BOOTSTRAP_ADMIN
from door_clients import blocking_login
from servers import ServerProcess, open_door


@pytest.mark.parametrize(
    ("environ", "kind"),
    [({}, "uvloop"), ({"AUTHGATE_EVENT_LOOP": "uvloop"}, "uvloop"),
     ({"AUTHGATE_EVENT_LOOP": "asyncio"}, "asyncio")],
    ids=["default", "uvloop", "asyncio"],
)  # fmt: skip
def test_the_server_says_which_loop_serves_and_answers_both_doors(
    tmp_path: Path, environ: dict[str, str], kind: str
) -> None:
    server = ServerProcess(tmp_path, BOOTSTRAP_ADMIN | environ)
    if not environ:  # the default, whatever the test run's own environment says
        server.env.pop("AUTHGATE_EVENT_LOOP", None)
    server.start()
    try:
        for door_kind in ("rest", "grpc"):
            door = open_door(door_kind, server)
            try:
                pair = blocking_login(door)
                assert door.list_users(pair["access"]).ok
            finally:
                door.close()
    finally:
        assert server.stop() == 0, server.log

    assert f"serving on the {kind} event loop" in server.log, server.log
    assert server.log.count("event loop") == 1, server.log


def test_an_unknown_loop_is_a_one_line_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "authgate", "serve"],
        env={**os.environ, "AUTHGATE_DATA_DIR": str(tmp_path), "AUTHGATE_EVENT_LOOP": "tokio"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr == "authgate: error: event_loop must be one of uvloop, asyncio\n"
