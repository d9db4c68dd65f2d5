"""How a log line looks: plain text for people, one JSON object for machines.

The access log (`authgate.access`) and the audit trail (`authgate.audit`) log JSON objects as
their messages (JsonMessage); with AUTHGATE_LOG_FORMAT=json every line is one JSON object,
theirs merged in. A FieldsLine is such a line kept without its LogRecord, and `template_for`
prints it as the handler's formatter prints the record.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import NamedTuple, TextIO


class JsonMessage:
    """A log message that is one JSON object, encoded only when a handler formats it.

    JsonLines merges its fields as they are; any other formatter prints it as compact JSON.
    (Logged as a string, JsonLines had to parse it back and encode it again.)
    """

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, object]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return compact(self.fields)


# json.dumps with separators builds an encoder per call: 5.3 against 3.7 µs for an access line.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def compact(value: object) -> str:
    """`json.dumps(value, separators=(",", ":"))`, with one encoder made once."""
    return _COMPACT.encode(value)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = json_head(record.created, record.levelname, record.name)
        if isinstance(record.msg, JsonMessage):
            line.update(record.msg.fields)
        else:
            message = record.getMessage()
            payload = json.loads(message) if message.startswith("{") else None
            if isinstance(payload, dict):
                line.update(payload)
            else:
                line["message"] = message
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return compact(line)


def json_head(created: float, level: str, name: str) -> dict[str, object]:
    return {"ts": round(created, 3), "level": level, "logger": name}


class TextLines(logging.Formatter):
    """Time, level, logger and message: the text lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")


def line_handler(log_format: str, stream: TextIO) -> logging.StreamHandler[TextIO]:
    """The handler that formats records as `log_format` lines (text or json) onto `stream`."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines() if log_format == "json" else TextLines())
    return handler


class FieldsLine(NamedTuple):
    """An INFO line of JSON fields on logger `name`: what a LogRecord of it would hold that
    its line prints (`created` and `msecs` for the time)."""

    name: str
    created: float
    msecs: float
    fields: dict[str, object]


Template = Callable[[FieldsLine], str]


def template_for(handler: logging.Handler) -> Template | None:
    """How `handler` prints a FieldsLine: byte for byte as its formatter prints the line's
    LogRecord. None unless it is a plain handler of this module's formats (no filter, no
    level above INFO)."""
    if handler.filters or handler.level > logging.INFO:
        return None
    formatter = handler.formatter
    if type(formatter) is JsonLines:
        return lambda f: compact({**json_head(f.created, "INFO", f.name), **f.fields})
    if type(formatter) is TextLines:
        datefmt = formatter.datefmt
        return lambda f: (
            # formatTime reads only `created` and `msecs`.
            f"{formatter.formatTime(f, datefmt)} INFO {f.name} {compact(f.fields)}"  # type: ignore[arg-type]
        )
    return None


if sys.version_info >= (3, 13):

    def stamp() -> tuple[float, float]:
        """`created` and `msecs`, as LogRecord sets them (from integer nanoseconds since 3.13)."""
        now = time.time_ns()
        created, msecs = now / 1e9, (now % 1_000_000_000) // 1_000_000 + 0.0
        if msecs == 999.0 and int(created) != now // 1_000_000_000:
            msecs = 0.0  # the division rounded up to the next second
        return created, msecs

else:

    def stamp() -> tuple[float, float]:
        """`created` and `msecs`, as LogRecord sets them."""
        now = time.time()
        return now, int((now - int(now)) * 1000) + 0.0
