"""The event loop that serves both doors: uvloop by default, asyncio's own on request.

uvloop runs the same asyncio code on libuv, with less CPU per request than asyncio's
selector loop (the figures, measured on this project's 2-core machine, are in
docs/benchmarks-history.md). grpc.aio serves on either loop. AUTHGATE_EVENT_LOOP=asyncio
keeps the standard library's loop, to rule uvloop out when something misbehaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")


def run_on(event_loop: str, main: Coroutine[Any, Any, Result]) -> Result:
    """`asyncio.run(main)` on a new loop of the kind `event_loop` names (Settings.event_loop)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if event_loop == "uvloop":
        # Imported here: only the serving processes run on it.
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def loop_kind(loop: asyncio.AbstractEventLoop) -> str:
    """'uvloop' or 'asyncio': the package the loop's class comes from."""
    return type(loop).__module__.partition(".")[0]
