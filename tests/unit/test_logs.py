"""Log lines: a JsonMessage prints as the JSON string it replaced, in both formats."""

from __future__ import annotations

import json
import logging

import pytest

from authgate.observability.logs import JsonLines, JsonMessage

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
