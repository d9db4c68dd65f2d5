"""Logging set-up for the CLI and the workers: plain text for people, JSON lines for machines.

The access log (`authgate.access`) and the audit trail (`authgate.audit`) log JSON objects as
their messages (JsonMessage); with AUTHGATE_LOG_FORMAT=json every line is one JSON object,
theirs merged in.

A log call only keeps its record: a thread of the process's own (LineWriter) formats and
writes the lines in batches, so the event loop never encodes JSON, renders a traceback or
waits for a slow stderr pipe. The lines are the ones a handler writing on the caller's thread
would write. `stop_logging` writes every pending line; the CLI and each worker call it before
they end.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import sys
import threading
import time
from collections import deque
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


class _Pending(logging.Handler):
    """Keeps each record as it was logged, for the writing thread to format.

    Formatting here is the work the writing thread exists to take off the event loop. A
    record only wakes the writer when none is pending: waking it for every record cost more
    than writing on the loop (gRPC RefreshToken, 1 worker: 638 CPU µs a call with a wake-up
    per record, 477 writing on the loop). Once the writer stops, records are handed to its
    handler directly, so nothing logged late (at exit) is lost.
    """

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self.records: deque[logging.LogRecord] = deque()
        self.stopped_into: logging.Handler | None = None
        self._wake = wake

    def emit(self, record: logging.LogRecord) -> None:
        if self.stopped_into is not None:
            self.stopped_into.handle(record)
            return
        if not _renders_alike_later(record):
            # Other handlers in the chain may see the record: change a copy.
            rendered = copy.copy(record)
            rendered.msg, rendered.args = record.getMessage(), None
            record = rendered
        self.records.append(record)
        if not self._wake.is_set():  # the writer clears it before it takes the records
            self._wake.set()


def _renders_alike_later(record: logging.LogRecord) -> bool:
    """Whether the record's message reads the same on another thread later: a str or a
    JsonMessage (its fields a dict its caller built for it and leaves alone) with immutable
    arguments. The traceback (exc_info) is immutable once raised; the writer renders it."""
    if not isinstance(record.msg, str | JsonMessage):
        return False
    args = record.args
    values = args.values() if isinstance(args, dict) else args or ()
    return all(isinstance(value, _IMMUTABLE) for value in values)


# How long the writer lets records gather once one is pending: a line reaches stderr at most
# this much later, and under load one wake-up and one write() carry a hundred lines or more.
# Each batch holds the GIL while it is formatted, and fewer, larger batches stall the event
# loop less often: REST refresh at 1 worker, p99 over six 4 s rounds, median of the rounds
# 85 ms gathering 10 ms (and 2 ms), 35 to 40 ms gathering 50 ms; the floor's 33 to 45 ms.
GATHER_SECONDS = 0.05


class LineWriter:
    """A thread that formats and writes the records its `enqueuer` keeps, in their order, a
    batch at a time: the lines its handler would write, byte for byte."""

    def __init__(self, handler: logging.StreamHandler[TextIO]) -> None:
        self.handler = handler
        self._wake = threading.Event()
        self.enqueuer = _Pending(self._wake)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="authgate-log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write every pending line and end the thread; later records are written at once."""
        if self._thread.is_alive():
            self._stopping = True
            self._wake.set()
            self._thread.join()
        # With the enqueuer's lock held no record is half-way in: those kept while the thread
        # stopped are written here, before any later record of their thread.
        self.enqueuer.acquire()
        try:
            self.enqueuer.stopped_into = self.handler
            self._write_pending()
        finally:
            self.enqueuer.release()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            if not self._stopping:
                time.sleep(GATHER_SECONDS)
            self._wake.clear()
            self._write_pending()

    def _write_pending(self) -> None:
        handler, records = self.handler, self.enqueuer.records
        lines: list[str] = []
        record = None
        while records:
            record = records.popleft()
            if not handler.filter(record):
                continue
            try:
                lines.append(handler.format(record) + handler.terminator)
            except Exception:  # as StreamHandler.emit: reported on stderr, the rest written
                handler.handleError(record)
        if not lines or record is None:
            return
        handler.acquire()
        try:
            handler.stream.write("".join(lines))
            handler.flush()
        except Exception:
            handler.handleError(record)
        finally:
            handler.release()


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
