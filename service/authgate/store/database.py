"""The database: each store operation runs whole in one trip to a thread owning a connection.

An operation is a plain function over a `Session` (a few SQL statements). Running it whole on
one thread costs one hand-off each way, however many statements it makes; an asyncio driver
hands off every cursor call (SQLite through aiosqlite: five thread hops per lookup).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from authgate.observability import tracing
from authgate.store.connection_threads import ConnectionThreads
from authgate.store.deadlines import Deadlines, Job
from authgate.store.dialects import dialect_for
from authgate.store.session import Session

Params = ParamSpec("Params")
Result = TypeVar("Result")
Operation = Callable[Concatenate[Session, Params], Result]

# How long close() waits for the threads to finish their current jobs, in all.
CLOSE_TIMEOUT = 1.0


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = dialect_for(url)
        self._readers = ConnectionThreads(self.dialect, self.dialect.readers, "reader")
        writers = self.dialect.writers
        self._writers = (
            self._readers if writers is None else ConnectionThreads(self.dialect, writers, "writer")
        )
        self._deadlines = Deadlines()
        # Told the subjects of the change-log rows each write appended, once it has committed,
        # so that this process's caches forget them at once (the others learn by tailing).
        self.on_commit: Callable[[list[str]], None] | None = None

    async def read(
        self, operation: Operation[Params, Result], *args: Params.args, **kwargs: Params.kwargs
    ) -> Result:
        if tracing.TRACER is not None:
            with tracing.store_span(operation, False):
                return await self._run(self._readers, False, operation, *args, **kwargs)
        return await self._run(self._readers, False, operation, *args, **kwargs)

    async def write(
        self, operation: Operation[Params, Result], *args: Params.args, **kwargs: Params.kwargs
    ) -> Result:
        """Run `operation` in one transaction: all of its writes, or none."""
        outcome: tuple[Result, list[str]]
        if tracing.TRACER is not None:
            with tracing.store_span(operation, True):
                outcome = await self._run(
                    self._writers, True, _with_changes, operation, *args, **kwargs
                )
        else:
            outcome = await self._run(
                self._writers, True, _with_changes, operation, *args, **kwargs
            )
        result, changed = outcome
        if changed and self.on_commit is not None:
            self.on_commit(changed)
        return result

    async def _run(
        self,
        threads: ConnectionThreads,
        write: bool,
        operation: Operation[Params, Result],
        *args: Any,
        **kwargs: Any,
    ) -> Result:
        job = Job(asyncio.get_running_loop(), write, lambda s: operation(s, *args, **kwargs))
        threads.submit(job)
        self._deadlines.watch(job)
        try:
            result: Result = await job.outcome
            return result
        finally:
            self._deadlines.forget(job)

    def close(self) -> None:
        self._readers.close(CLOSE_TIMEOUT)
        if self._writers is not self._readers:
            self._writers.close(CLOSE_TIMEOUT)


def _with_changes(
    session: Session, operation: Operation[Params, Result], *args: Any, **kwargs: Any
) -> tuple[Result, list[str]]:
    return operation(session, *args, **kwargs), session.changed_subjects
