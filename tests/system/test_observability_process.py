"""`authgate serve --log-format json`: every line on stderr is one JSON object, no secret.

What the access and audit records carry, read in-process: tests/doors/test_observability.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from servers import ServerProcess, open_door, running_server, wait_for_lines


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("observed"), log_format="json") as process:
        yield process


def guide_flow(server: ServerProcess) -> dict[str, str]:
    for kind in ("rest", "grpc"):
        door = open_door(kind, server)
        try:
            pair = door.issue_token(ADMIN_EMAIL, ADMIN_PASSWORD).data
            assert door.list_users(pair["access"]).ok
            access = door.refresh_token(pair["refresh"]).data["access"]
            assert door.list_users(access).ok
            assert not door.issue_token(ADMIN_EMAIL, "wrong password").ok
        finally:
            door.close()
    return pair


def test_every_request_logs_one_json_line_without_secrets(observed: ServerProcess) -> None:
    pair = guide_flow(observed)
    response = httpx.get(
        f"{observed.http_url}/healthz", headers={"x-request-id": "trace-42"}, timeout=10
    )
    assert response.headers["x-request-id"] == "trace-42"
    # The access line is written once the response has gone out: wait for it, do not race it.
    wait_for_lines(observed, '"request_id":"trace-42"', 1)
    lines = [json.loads(line) for line in observed.lines if line.startswith("{")]
    assert len(lines) == len(observed.lines), "every line is one JSON object"
    access = [line for line in lines if line["logger"] == "authgate.access"]
    assert {"door", "operation", "outcome", "duration_ms", "request_id"} <= set(access[-1])
    assert any(line.get("request_id") == "trace-42" for line in access)
    text = "".join(observed.lines)
    assert (
        pair["access"] not in text and ADMIN_PASSWORD not in text and "wrong password" not in text
    )
