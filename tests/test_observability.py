"""Metrics and request logs: /metrics after the guide's flow, one line per request."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, open_door, running_server
from servers import wait_for_lines


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("observed"), log_format="json") as process:
        yield process


def guide_flow(server) -> dict[str, str]:
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


def sample(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{name}{{{wanted}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, metrics, re.M)
    assert match, f"no {name}{{{wanted}}} in /metrics"
    return float(match.group(1))


def test_metrics_count_the_guide_flow_on_both_doors(observed):
    guide_flow(observed)
    metrics = httpx.get(f"{observed.http_url}/metrics", timeout=10).text
    expected = [
        ("rest", "issue_token", "200", "401"),
        ("grpc", "IssueToken", "OK", "UNAUTHENTICATED"),
    ]
    for door, issue, ok, unauthorized in expected:
        assert (
            sample(metrics, "authgate_requests_total", door=door, operation=issue, outcome=ok) >= 1
        )
        assert (
            sample(
                metrics, "authgate_requests_total", door=door, operation=issue, outcome=unauthorized
            )
            >= 1
        )
    assert sample(metrics, "authgate_logins_failed_total", reason="credentials") >= 2
    assert sample(metrics, "authgate_tokens_issued_total") >= 2
    assert sample(metrics, "authgate_tokens_refreshed_total") >= 2
    assert sample(metrics, "authgate_store_errors_total") == 0
    assert "authgate_request_duration_seconds_bucket" in metrics


def test_every_request_logs_one_json_line_without_secrets(observed):
    pair = guide_flow(observed)
    response = httpx.get(f"{observed.http_url}/healthz", headers={"x-request-id": "trace-42"})
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


def test_random_paths_do_not_grow_the_metric_labels(observed):
    for n in range(5):
        httpx.get(f"{observed.http_url}/scan/{n}", timeout=10)
    metrics = httpx.get(f"{observed.http_url}/metrics", timeout=10).text
    assert "/scan/" not in metrics
    assert (
        sample(metrics, "authgate_requests_total", door="rest", operation="other", outcome="404")
        >= 5
    )
