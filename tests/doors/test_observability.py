"""Metrics and request logs: /metrics after the guide's flow, one access record per request.

The doors share the test process's metrics registry with every service the session serves,
so each test reads what its own requests added. The JSON lines `authgate serve` writes to
stderr: tests/system/test_observability_process.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from door_clients import GrpcDoor, RestDoor, open_door
from in_process import Service, serving


@pytest_asyncio.fixture(scope="module")
async def observed(tmp_path_factory) -> AsyncIterator[Service]:
    """A service of this module's own: the guide flow's wrong passwords count towards the
    admin's login throttle, which the tier's `service` leaves to the other tests."""
    async with serving(tmp_path_factory.mktemp("observed")) as running:
        yield running


@pytest_asyncio.fixture(scope="module")
async def observed_doors(observed) -> AsyncIterator[tuple[RestDoor, GrpcDoor]]:
    rest = open_door("rest", observed.http_url, observed.grpc_target)
    grpc = open_door("grpc", observed.http_url, observed.grpc_target)
    yield rest, grpc
    await rest.close()
    await grpc.close()


async def guide_flow(doors: tuple[RestDoor, GrpcDoor]) -> dict[str, str]:
    for door in doors:
        pair = (await door.issue_token(ADMIN_EMAIL, ADMIN_PASSWORD)).data
        assert (await door.list_users(pair["access"])).ok
        access = (await door.refresh_token(pair["refresh"])).data["access"]
        assert (await door.list_users(access)).ok
        assert not (await door.issue_token(ADMIN_EMAIL, "wrong password")).ok
    return pair


def sample(metrics: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{name}{{{wanted}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, metrics, re.M)
    return float(match.group(1)) if match else None


def added(before: str, after: str, name: str, **labels: str) -> float:
    """How much a sample grew from `before` to `after` (it must be in `after`)."""
    now = sample(after, name, **labels)
    assert now is not None, f"no {name}{labels} in /metrics"
    return now - (sample(before, name, **labels) or 0.0)


async def scrape(rest: RestDoor) -> str:
    response = await rest.client.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_metrics_count_the_guide_flow_on_both_doors(observed_doors):
    rest = observed_doors[0]
    before = await scrape(rest)
    await guide_flow(observed_doors)
    metrics = await scrape(rest)
    expected = [
        ("rest", "issue_token", "200", "401"),
        ("grpc", "IssueToken", "OK", "UNAUTHENTICATED"),
    ]
    requests = "authgate_requests_total"
    for door, issue, ok, unauthorized in expected:
        assert added(before, metrics, requests, door=door, operation=issue, outcome=ok) >= 1
        assert (
            added(before, metrics, requests, door=door, operation=issue, outcome=unauthorized) >= 1
        )
    assert added(before, metrics, "authgate_logins_failed_total", reason="credentials") >= 2
    assert added(before, metrics, "authgate_tokens_issued_total") >= 2
    assert added(before, metrics, "authgate_tokens_refreshed_total") >= 2
    assert added(before, metrics, "authgate_store_errors_total") == 0
    assert "authgate_request_duration_seconds_bucket" in metrics


async def logged(caplog, logger: str, until) -> list[dict]:
    """The fields of `logger`'s records, once `until(fields)` holds for one of them.

    The REST door logs a request once its response has gone out: wait for it, do not race it.
    """
    records: list[dict] = []
    try:
        async with asyncio.timeout(10):
            while True:
                records = [json.loads(r.getMessage()) for r in caplog.records if r.name == logger]
                if any(until(fields) for fields in records):
                    return records
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"no such {logger} record within 10 s: {records}")


async def test_every_request_logs_one_access_record_without_secrets(observed_doors, caplog):
    # Every logger at INFO, as `authgate serve` logs: no record may carry a secret.
    caplog.set_level(logging.INFO)
    pair = await guide_flow(observed_doors)
    response = await observed_doors[0].client.get("/healthz", headers={"x-request-id": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    access = await logged(caplog, "authgate.access", lambda line: line["request_id"] == "trace-42")
    assert {line["door"] for line in access} == {"rest", "grpc"}
    for line in access:
        assert {"door", "operation", "outcome", "duration_ms", "request_id"} <= set(line)
    assert len([line for line in access if line["request_id"] == "trace-42"]) == 1
    text = "".join([caplog.text, *(record.getMessage() for record in caplog.records)])
    assert (
        pair["access"] not in text and ADMIN_PASSWORD not in text and "wrong password" not in text
    )


async def test_random_paths_do_not_grow_the_metric_labels(observed_doors):
    rest = observed_doors[0]
    before = await scrape(rest)
    for n in range(5):
        await rest.client.get(f"/scan/{n}")
    # Each 404 is counted once its response has gone out: wait for the fifth.
    other = {"door": "rest", "operation": "other", "outcome": "404"}
    deadline = time.monotonic() + 10
    while True:
        metrics = await scrape(rest)
        counted = (sample(metrics, "authgate_requests_total", **other) or 0.0) - (
            sample(before, "authgate_requests_total", **other) or 0.0
        )
        if counted >= 5 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    assert "/scan/" not in metrics
    assert added(before, metrics, "authgate_requests_total", **other) >= 5
