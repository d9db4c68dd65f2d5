"""Logging set-up for the CLI and the workers, in the formats of `line_formats`.

A log call only keeps its record: a thread of the process's own (LineWriter) formats and
writes the lines in batches, so the event loop never encodes JSON, renders a traceback or
waits for a slow stderr pipe. The lines are the ones a handler writing on the caller's thread
would write. `stop_logging` writes every pending line; the CLI and each worker call it before
they end.

The access and audit lines, two a refresh, go through `log_fields`: while the writer is all a
record of theirs would reach, it keeps just the fields and the time, and fills in its line
template, the same line without a LogRecord and a formatter call (REST refresh at 1 worker,
side by side: 638 to 568 CPU µs a request; with both lines off, 497 to 546 in other runs).
"""

from __future__ import annotations

import atexit
import copy
import logging
import sys
import threading
import time
from collections import deque
from typing import TextIO

from authgate.observability.line_formats import (
    FieldsLine,
    JsonMessage,
    Template,
    line_handler,
    stamp,
    template_for,
)

# Argument types whose rendering cannot change between the log call and the writing thread's
# format: anything else (a list, an exception, an object) is rendered on the caller's thread.
_IMMUTABLE = (str, int, float, bool, bytes, type(None))


def log_fields(logger: logging.Logger, fields: dict[str, object]) -> None:
    """Log `fields` as one JSON object at INFO: `logger.info(JsonMessage(fields))`, the same
    line, kept without a LogRecord while a LineWriter's handler is all the record would
    reach (see the module's docstring). The caller leaves `fields` alone afterwards."""
    if not logger.isEnabledFor(logging.INFO):
        return
    pending = _only_pending_handler(logger)
    if pending is None or not pending.keep_fields(logger.name, fields):
        logger.info(JsonMessage(fields))


def _only_pending_handler(logger: logging.Logger) -> _Pending | None:
    """The LineWriter's handler when it is the only handler a record of `logger` reaches and
    no logger on the way filters."""
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    return found if isinstance(found, _Pending) else None


class _Pending(logging.Handler):
    """Keeps each record as it was logged, for the writing thread to format.

    Formatting here is the work the writing thread exists to take off the event loop. A
    record only wakes the writer when none is pending: waking it for every record cost more
    than writing on the loop (gRPC RefreshToken, 1 worker: 638 CPU µs a call with a wake-up
    per record, 477 writing on the loop). Once the writer stops, records are handed to its
    handler directly, so nothing logged late (at exit) is lost.
    """

    def __init__(self, wake: threading.Event, template: Template | None) -> None:
        super().__init__()
        self.records: deque[logging.LogRecord | FieldsLine] = deque()
        self.stopped_into: logging.Handler | None = None
        self.template = template
        self._wake = wake

    def keep_fields(self, name: str, fields: dict[str, object]) -> bool:
        """Keep an INFO line of `fields` on `name` for the writer; False where only a
        LogRecord will do (this handler filters, or the writer has stopped)."""
        if self.template is None or self.filters or self.level > logging.INFO:
            return False
        self.acquire()  # as emit's caller holds it: nothing is kept once stop() has drained
        try:
            if self.stopped_into is not None:
                return False
            self.records.append(FieldsLine(name, *stamp(), fields))
        finally:
            self.release()
        if not self._wake.is_set():
            self._wake.set()
        return True

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
        self.enqueuer = _Pending(self._wake, template_for(handler))
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
        handler, records, template = self.handler, self.enqueuer.records, self.enqueuer.template
        lines: list[str] = []
        record = None
        while records:
            entry = records.popleft()
            if isinstance(entry, FieldsLine):
                assert template is not None  # keep_fields keeps none without one
                lines.append(template(entry) + handler.terminator)
                continue
            record = entry
            if not handler.filter(record):
                continue
            try:
                lines.append(handler.format(record) + handler.terminator)
            except Exception:  # as StreamHandler.emit: reported on stderr, the rest written
                handler.handleError(record)
        if not lines:
            return
        handler.acquire()
        try:
            handler.stream.write("".join(lines))
            handler.flush()
        except Exception:
            # As StreamHandler.emit (it prints the record's message; "a log line" otherwise).
            handler.handleError(record or logging.makeLogRecord({"msg": "a log line"}))
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
