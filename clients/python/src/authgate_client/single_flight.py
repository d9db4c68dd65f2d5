"""One renewal in flight, awaited by threads and by coroutines of any event loop alike.

A `threading.Lock` or an `asyncio.Lock` alone serves only one side: one AuthGateAuth may be
shared by an `httpx.Client`, an `httpx.AsyncClient`, gRPC's call-credential threads and
`grpc.aio` channels, and they must all wait for the same single renewal (with refresh
rotation, a second concurrent refresh would present a spent token and revoke the family).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Flight(Generic[T]):
    """The outcome of one renewal, once landed: a value, a failure, or neither (abandoned,
    as when the coroutine flying it was cancelled; a waiter then starts another)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop  # the event loop of the coroutine flying it, None for a thread
        self._lock = threading.Lock()
        self._landed = threading.Event()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._value: T | None = None
        self._failure: Exception | None = None

    def land(self, value: T | None = None, failure: Exception | None = None) -> None:
        with self._lock:
            self._value, self._failure = value, failure
            self._landed.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
                loop.call_soon_threadsafe(_wake, future)

    def wait(self) -> T | None:
        """Block this thread until landed; the value, or raise the failure."""
        if self.loop is not None and self.loop is _running_loop():
            raise RuntimeError(
                "a blocking call waited for a token renewal that a coroutine of its own event "
                "loop is making: use the async API (httpx.AsyncClient, grpc.aio) in async code"
            )
        self._landed.wait()
        return self._outcome()

    async def wait_async(self) -> T | None:
        """Await, in any event loop, until landed; the value, or raise the failure."""
        with self._lock:
            if not self._landed.is_set():
                future = asyncio.get_running_loop().create_future()
                self._waiters.append((asyncio.get_running_loop(), future))
            else:
                future = None
        if future is not None:
            await future
        return self._outcome()

    def _outcome(self) -> T | None:
        if self._failure is not None:
            raise self._failure
        return self._value


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # a waiter cancelled meanwhile has a done future
        future.set_result(None)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
