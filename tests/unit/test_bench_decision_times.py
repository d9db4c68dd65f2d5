"""The soak's decision times (bench/decision_times.py): a probe's access line, read back.

The lines are written by the service's own formatters, text and JSON, so a change to the
access line's shape that the benchmark cannot read fails here, not in a ten-minute soak.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import time
from pathlib import Path

import pytest

from authgate.observability.line_formats import JsonMessage, line_handler

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import decision_times  # bench/ is not a package: on sys.path above

PREFIX = "lag-"


def access_line(log_format: str, request_id: str, created: float) -> str:
    """One access line as a serving process writes it."""
    stream = io.StringIO()
    handler = line_handler(log_format, stream)
    fields = {"door": "rest", "operation": "ListUsers", "outcome": "ok", "request_id": request_id}
    record = logging.makeLogRecord(
        {"name": "authgate.access", "levelno": logging.INFO, "levelname": "INFO"}
    )
    record.msg, record.created, record.msecs = JsonMessage(fields), created, created % 1 * 1000
    handler.emit(record)
    return stream.getvalue()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_probes_line_is_read_back_with_its_time(tmp_path: Path, log_format: str) -> None:
    log = tmp_path / "server.log"
    log.write_text(access_line(log_format, f"{PREFIX}before", time.time()))  # not ours: earlier
    times = decision_times.DecisionTimes([log], PREFIX)
    decided = time.time()
    with log.open("a") as out:
        for n in range(1000):  # the load's own lines, between the probes'
            out.write(access_line(log_format, f"load-{n}", decided))
        out.write(access_line(log_format, f"{PREFIX}1-0", decided))
        out.write(access_line(log_format, "load-last", decided))
    found = asyncio.run(times.of([f"{PREFIX}1-0"]))
    assert found.keys() == {f"{PREFIX}1-0"}
    # Logged to the millisecond; the decision came at most that much before the line's time.
    assert decided <= found[f"{PREFIX}1-0"] <= decided + 2 * decision_times.RESOLUTION_S


def test_only_the_probes_lines_are_parsed(tmp_path: Path) -> None:
    """The load's lines are skipped unread: one that no parser could read does no harm."""
    log = tmp_path / "server.log"
    log.write_text("")
    times = decision_times.DecisionTimes([log], PREFIX)
    now = time.time()
    with log.open("a") as out:
        out.write('2026-12-07 10:00:00,000 INFO authgate.access {"request_id":"load-1", not json\n')
        out.write(access_line("text", f"{PREFIX}2-0", now))
    assert set(asyncio.run(times.of([f"{PREFIX}2-0"]))) == {f"{PREFIX}2-0"}


def test_a_line_still_being_written_waits_for_its_end(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("")
    times = decision_times.DecisionTimes([log], PREFIX)
    line = access_line("json", f"{PREFIX}3-0", time.time())
    log.write_text(line[:40])  # the writer has flushed part of the line

    async def finish_the_line_later() -> dict[str, float]:
        asking = asyncio.create_task(times.of([f"{PREFIX}3-0"]))
        await asyncio.sleep(0.2)
        assert not asking.done()
        log.write_text(line)
        return await asking

    assert set(asyncio.run(finish_the_line_later())) == {f"{PREFIX}3-0"}


def test_lines_holding_finds_every_line_with_the_marker() -> None:
    chunk = b"a x1\nb\nc x2 x3\nd\nx4\n"
    assert list(decision_times.lines_holding(chunk, b"x")) == [b"a x1", b"c x2 x3", b"x4"]
    assert list(decision_times.lines_holding(b"nothing\n", b"x")) == []
