"""Log lines: a JsonMessage prints as the JSON string it replaced, in both formats."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from authgate.observability.line_formats import JsonLines, JsonMessage, line_handler
from authgate.observability.logs import LineWriter, configure_logging, log_fields, stop_logging

FIELDS: dict[str, object] = {
    "door": "rest",
    "operation": "refresh_token",
    "outcome": "200",
    "duration_ms": 1.25,
    "client": "127.0.0.1",
    "note": 'quotes " and ünïcode',
}
TEXT = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")


def record(message: object) -> logging.LogRecord:
    made = logging.LogRecord("authgate.access", logging.INFO, __file__, 1, message, None, None)
    # Both records print the same time: asctime reads created, its milliseconds read msecs,
    # and LogRecord set both from the clock.
    made.created = 1_750_000_000.123456
    made.msecs = 123.0
    return made


@pytest.mark.parametrize("formatter", [JsonLines(), TEXT], ids=["json", "text"])
def test_json_message_prints_as_its_json_string_did(formatter: logging.Formatter) -> None:
    as_string = json.dumps(FIELDS, separators=(",", ":"))

    assert formatter.format(record(JsonMessage(FIELDS))) == formatter.format(record(as_string))


def test_json_lines_merge_the_fields_of_a_json_message() -> None:
    line = json.loads(JsonLines().format(record(JsonMessage(FIELDS))))

    assert line == {"ts": 1_750_000_000.123, "level": "INFO", "logger": "authgate.access", **FIELDS}


def test_json_lines_keep_a_plain_message_as_message() -> None:
    line = json.loads(JsonLines().format(record("Application startup complete.")))

    assert line["message"] == "Application startup complete."


# The lines written through the queue, by the writing thread, are the lines a handler writing
# on the caller's thread writes: byte for byte, in both formats.

PINNED_CREATED = 1_750_000_000.123456


class PinTheClock(logging.Filter):
    """Both paths print the same time: asctime reads created, its milliseconds read msecs."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.created, record.msecs = PINNED_CREATED, 123.0
        return True


@contextlib.contextmanager
def logging_to(handler: logging.Handler, name: str) -> Iterator[logging.Logger]:
    """`name`'s logger writing to `handler` alone, at INFO, at the pinned time."""
    log = logging.getLogger(name)
    saved = (log.propagate, log.level)
    pin = PinTheClock()
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addFilter(pin)
    log.addHandler(handler)
    try:
        yield log
    finally:
        log.removeHandler(handler)
        log.removeFilter(pin)
        log.propagate, log.level = saved


def log_every_kind(handler: logging.Handler) -> None:
    """What AuthGate logs: an access record, an audit record, messages with arguments, and an
    exception with its traceback."""
    with logging_to(handler, "authgate.access") as access:
        access.info(JsonMessage(FIELDS))
    with logging_to(handler, "authgate.audit") as audit:
        audit.info(JsonMessage({"ts": 1_750_000_000.123, "event": "login_failed", "user_id": ""}))
    with logging_to(handler, "authgate") as log:
        log.info("store migrated; %d user(s) at %.1f%% of %s", 3, 42.5, "the limit")
        log.info("%(worker)s has %(count)d", {"worker": "w1", "count": 2})
        log.info("stopped (worker exit codes %s)", [0, 0])
        try:
            raise ValueError("a bad value: ünïcode")
        except ValueError:
            log.exception("the handler failed on %s", "/api/v1/users/")


def written_directly(log_format: str) -> str:
    """As configure_logging wrote before the writing thread: a StreamHandler formatting on the
    caller's thread."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines() if log_format == "json" else TEXT)
    log_every_kind(handler)
    return stream.getvalue()


def written_through_the_writer(log_format: str) -> str:
    stream = io.StringIO()
    writer = LineWriter(line_handler(log_format, stream))
    writer.start()
    log_every_kind(writer.enqueuer)
    writer.stop()
    return stream.getvalue()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_writer_writes_the_lines_a_direct_handler_writes(log_format: str) -> None:
    direct = written_directly(log_format)

    assert written_through_the_writer(log_format) == direct
    assert len(direct.splitlines()) >= 6  # one line a record; the traceback spans more in text
    assert "Traceback" in direct and "a bad value" in direct and "login_failed" in direct


# log_fields: the access and audit lines, kept as fields and the time while the writer is all
# they reach, are the lines logger.info(JsonMessage(fields)) writes.

# Every millisecond digit LogRecord's rounding can get wrong: .999 999 999 s is 999 ms.
CLOCKS_NS = [1_750_000_000_123_456_789, 1_750_000_000_999_999_999, 1_750_000_001_000_000_000]


@contextlib.contextmanager
def reaching_only(handler: logging.Handler, name: str) -> Iterator[logging.Logger]:
    """`name`'s logger at INFO, its records reaching `handler` alone, no filter on the way."""
    log = logging.getLogger(name)
    saved = (log.propagate, log.level)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield log
    finally:
        log.removeHandler(handler)
        log.propagate, log.level = saved


def pin_clock(monkeypatch: pytest.MonkeyPatch, now_ns: int) -> None:
    """Both LogRecord and log_fields read the time from the time module (seconds or ns)."""
    monkeypatch.setattr(time, "time_ns", lambda: now_ns)
    monkeypatch.setattr(time, "time", lambda: now_ns / 1e9)


def interleaved(handler: logging.Handler, fast: bool) -> None:
    """An access line, a plain message, an audit line: by log_fields, or by logger.info."""
    audit = {"ts": 1_750_000_000.123, "event": "login_failed", "user_id": "", "client": "::1"}
    with reaching_only(handler, "authgate.access") as access:
        log_fields(access, FIELDS) if fast else access.info(JsonMessage(FIELDS))
        access.info("%d user(s)", 3)
    with reaching_only(handler, "authgate.audit") as log:
        log_fields(log, audit) if fast else log.info(JsonMessage(audit))


@pytest.mark.parametrize("now_ns", CLOCKS_NS)
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_fields_are_written_as_the_line_a_direct_handler_writes(
    monkeypatch: pytest.MonkeyPatch, log_format: str, now_ns: int
) -> None:
    pin_clock(monkeypatch, now_ns)
    direct = io.StringIO()
    interleaved(line_handler(log_format, direct), fast=False)
    through = io.StringIO()
    writer = LineWriter(line_handler(log_format, through))
    interleaved(writer.enqueuer, fast=True)
    kept = list(writer.enqueuer.records)
    writer.start()
    writer.stop()

    assert through.getvalue() == direct.getvalue()
    assert [type(entry).__name__ for entry in kept] == ["FieldsLine", "LogRecord", "FieldsLine"]


def test_fields_go_by_a_log_record_where_a_filter_or_another_handler_would_see_it() -> None:
    stream, seen = io.StringIO(), io.StringIO()
    writer = LineWriter(line_handler("text", stream))
    also = logging.StreamHandler(seen)
    with reaching_only(writer.enqueuer, "authgate.access") as access:
        access.addHandler(also)  # as pytest's caplog adds its handler
        log_fields(access, FIELDS)
        access.removeHandler(also)
        access.addFilter(drop_notes := logging.Filter("authgate.elsewhere"))
        log_fields(access, FIELDS)  # filtered out
        access.removeFilter(drop_notes)
        access.setLevel(logging.WARNING)
        log_fields(access, FIELDS)  # below the level
    kept = list(writer.enqueuer.records)
    writer.start()
    writer.stop()

    assert [type(entry).__name__ for entry in kept] == ["LogRecord"]
    assert stream.getvalue().count("\n") == 1
    assert json.loads(seen.getvalue()) == FIELDS


def test_fields_logged_after_the_writer_stopped_are_written_at_once() -> None:
    stream = io.StringIO()
    writer = LineWriter(line_handler("json", stream))
    writer.start()
    writer.stop()
    with reaching_only(writer.enqueuer, "authgate.access") as access:
        log_fields(access, FIELDS)

    assert json.loads(stream.getvalue())["note"] == FIELDS["note"]


class ThreadNoting(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(message)s")
        self.threads: set[int] = set()

    def format(self, record: logging.LogRecord) -> str:
        self.threads.add(threading.get_ident())
        return super().format(record)


def test_records_are_formatted_on_the_writing_thread_not_the_callers() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter := ThreadNoting())
    writer = LineWriter(handler)
    writer.start()
    with logging_to(writer.enqueuer, "authgate") as log:
        log.info(JsonMessage(FIELDS))
        log.info("%d user(s)", 3)
    writer.stop()

    assert stream.getvalue().splitlines()[1] == "3 user(s)"
    assert formatter.threads and threading.get_ident() not in formatter.threads


def test_a_mutable_argument_prints_as_it_was_when_logged() -> None:
    stream = io.StringIO()
    writer = LineWriter(line_handler("text", stream))
    codes = [0]
    with logging_to(writer.enqueuer, "authgate") as log:
        log.info("exit codes %s", codes)  # queued while the writer has not started
        codes.append(1)
    writer.start()
    writer.stop()

    assert stream.getvalue().endswith(" INFO authgate exit codes [0]\n")


def test_stopping_writes_every_queued_line_and_later_lines_at_once() -> None:
    stream = io.StringIO()
    writer = LineWriter(line_handler("text", stream))
    writer.start()
    with logging_to(writer.enqueuer, "authgate") as log:
        for number in range(500):
            log.info("line %d", number)
        writer.stop()
        log.info("stopped")

    lines = stream.getvalue().splitlines()
    assert [line.rpartition(" authgate ")[2] for line in lines] == [
        *(f"line {number}" for number in range(500)),
        "stopped",
    ]


class CountingWrites(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_a_burst_of_lines_is_written_in_a_few_writes_not_one_a_line() -> None:
    # One wake-up of the writer per record cost more than formatting on the loop itself.
    stream = CountingWrites()
    writer = LineWriter(line_handler("text", stream))
    writer.start()
    with logging_to(writer.enqueuer, "authgate") as log:
        for number in range(1000):
            log.info("line %d", number)
        deadline = time.monotonic() + 5
        while stream.getvalue().count("\n") < 1000 and time.monotonic() < deadline:
            time.sleep(0.005)  # written by the thread, without a stop
        writer.stop()

    assert stream.getvalue().count("\n") == 1000
    assert stream.writes <= 100


def test_configured_logging_reaches_stderr_once_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    saved = root.handlers[:], root.level, alembic.level
    try:
        configure_logging("info", "json")
        logging.getLogger("authgate").info("rest listening on %s", "http://127.0.0.1:8000")
        logging.getLogger("authgate").debug("below the level")
        stop_logging()
        logging.getLogger("authgate").info("stopped")
    finally:
        stop_logging()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        alembic.setLevel(saved[2])

    lines = [json.loads(line) for line in stderr.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "rest listening on http://127.0.0.1:8000",
        "stopped",
    ]
