"""Logging set-up for the CLI and the workers: plain text for people, JSON lines for machines.

The access log (`authgate.access`) and the audit trail (`authgate.audit`) log JSON objects as
their messages (JsonMessage); with AUTHGATE_LOG_FORMAT=json every line is one JSON object,
theirs merged in.
"""

from __future__ import annotations

import json
import logging
import sys


class JsonMessage:
    """A log message that is one JSON object, encoded only when a handler formats it.

    JsonLines merges its fields as they are; any other formatter prints it as compact JSON.
    (Logged as a string, JsonLines had to parse it back and encode it again.)
    """

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, object]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return json.dumps(self.fields, separators=(",", ":"))


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
        }
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
        return json.dumps(line, separators=(",", ":"))


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic narrates every start at INFO ("Context impl SQLiteImpl"); keep its warnings.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
