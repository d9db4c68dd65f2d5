"""Logging set-up for the CLI and the workers: plain text for people, JSON lines for machines.

The access log (`authgate.access`) and the audit trail (`authgate.audit`) log JSON objects as
their messages (JsonMessage); with AUTHGATE_LOG_FORMAT=json every line is one JSON object,
theirs merged in.

A log call only queues its record: a thread of the process's own (LineWriter) formats and
writes the lines, so the event loop never encodes JSON, renders a traceback or waits for a
slow stderr pipe. The lines are the ones a handler writing on the caller's thread would write.
`stop_logging` writes every queued line; the CLI and each worker call it before they end.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import queue
import sys
from logging.handlers import QueueHandler, QueueListener
from typing import TextIO


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


_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Argument types whose rendering cannot change between the log call and the writing thread's
# format: anything else (a list, an exception, an object) is rendered on the caller's thread.
_IMMUTABLE = (str, int, float, bool, bytes, type(None))


def line_handler(log_format: str, stream: TextIO) -> logging.StreamHandler[TextIO]:
    """The handler that formats records as `log_format` lines (text or json) onto `stream`."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(_TEXT_FORMAT))
    return handler


class _QueueUnformatted(QueueHandler):
    """Queues each record as it was logged, for the writing thread to format.

    The stdlib's prepare() formats the record on the calling thread (and drops exc_info),
    which is the work this queue exists to move. Once the writer stops, records are handed
    to its handler directly, so nothing logged late (at exit) is lost.
    """

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord | None]) -> None:
        super().__init__(records)
        self.stopped_into: logging.Handler | None = None

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if _renders_alike_later(record):
            return record
        # Other handlers in the chain may see the record: change a copy.
        prepared = copy.copy(record)
        prepared.msg, prepared.args = record.getMessage(), None
        return prepared

    def emit(self, record: logging.LogRecord) -> None:
        if self.stopped_into is not None:
            self.stopped_into.handle(record)
        else:
            super().emit(record)


def _renders_alike_later(record: logging.LogRecord) -> bool:
    """Whether the record's message reads the same on another thread later: a str or a
    JsonMessage (its fields a dict its caller built for it and leaves alone) with immutable
    arguments. The traceback (exc_info) is immutable once raised; the writer renders it."""
    if not isinstance(record.msg, str | JsonMessage):
        return False
    args = record.args
    values = args.values() if isinstance(args, dict) else args or ()
    return all(isinstance(value, _IMMUTABLE) for value in values)


class LineWriter:
    """A thread that formats and writes the records its `enqueuer` queues, in their order."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self._records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        self.enqueuer = _QueueUnformatted(self._records)
        self._listener = QueueListener(self._records, handler)

    def start(self) -> None:
        self._listener.start()

    def stop(self) -> None:
        """Write every queued line and end the thread; later records are written at once."""
        self._listener.stop()
        # With the enqueuer's lock held no record is half-way into the queue: those queued
        # while the thread stopped are written here, before any later record of their thread.
        self.enqueuer.acquire()
        try:
            self.enqueuer.stopped_into = self.handler
            while not self._records.empty():
                record = self._records.get_nowait()
                if record is not None:  # the listener's end-of-queue sentinel
                    self.handler.handle(record)
        finally:
            self.enqueuer.release()


_running: LineWriter | None = None


def configure_logging(level: str, log_format: str) -> None:
    """Log `log_format` lines to stderr from a writing thread; `stop_logging` flushes it."""
    global _running
    stop_logging()
    writer = LineWriter(line_handler(log_format, sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [writer.enqueuer]
    root.setLevel(level.upper())
    # Alembic narrates every start at INFO ("Context impl SQLiteImpl"); keep its warnings.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    writer.start()
    _running = writer


def stop_logging() -> None:
    """Write every queued line and stop the writing thread; later lines are written at once."""
    global _running
    writer, _running = _running, None
    if writer is not None:
        writer.stop()


# Registered after logging's own exit handler (logging is imported first), so it runs before
# it: a process that ends without calling stop_logging still writes every queued line.
atexit.register(stop_logging)
