"""Logging set-up for the CLI and the workers: plain text for people, JSON lines for machines.

The access log (`authgate.access`) and the audit trail (`authgate.audit`) log JSON objects as
their messages; with AUTHGATE_LOG_FORMAT=json every line is one JSON object, theirs merged in.
"""

from __future__ import annotations

import json
import logging
import sys


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
        }
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
