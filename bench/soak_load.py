"""The soak's traffic: a weighted mix of REST operations, sent at a fixed rate by asyncio.

Open loop: request i is due at start + i / rate whatever the server does, and its latency
counts from when it was due, so a server that falls behind shows in the percentiles instead
of slowing the sender down (a closed-loop generator such as wrk would send less and hide it).
Python keeps this light: on 127.0.0.1 a request costs the client about 0.1 ms of CPU, a few
per cent of one core at the rates 2 cores allow. `max_rate` is the same mix, closed loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from connections import HttpConnection

import servers


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    access: str
    refresh: str


@dataclass(frozen=True)
class Operation:
    name: str
    weight: int  # per cent of the requests
    send: Callable[[HttpConnection, Account], Awaitable[tuple[int, bytes]]]


MIX = (
    Operation(
        "login",
        5,
        lambda c, a: c.request(
            "POST", "/api/v1/token/", body={"email": a.email, "password": a.password}
        ),
    ),
    Operation(
        "refresh",
        20,
        lambda c, a: c.request("POST", "/api/v1/token/refresh/", body={"refresh": a.refresh}),
    ),
    Operation(
        "list", 25, lambda c, a: c.request("GET", "/api/v1/users/?pageSize=50", bearer=a.access)
    ),
    Operation(
        "verify",
        50,
        lambda c, a: c.request("POST", "/api/v1/token/verify/", body={"token": a.access}),
    ),
)


@dataclass
class Minute:
    """What the requests due in one minute got."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # "200", "503", "socket error"...
    by_operation: Counter[str] = field(default_factory=Counter)
    operation_latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # the first few, for the report

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("5"))

    @property
    def other_failures(self) -> int:
        """Answers that are neither 2xx nor 5xx, and requests without an answer."""
        return sum(n for status, n in self.statuses.items() if not status.startswith(("2", "5")))


class Recorder:
    def __init__(self, started: float) -> None:
        self.started = started
        self.minutes: list[Minute] = []

    def minute(self, due: float) -> Minute:
        index = int((due - self.started) // 60)
        while len(self.minutes) <= index:
            self.minutes.append(Minute())
        return self.minutes[index]

    def record(self, due: float, operation: str, status: str, detail: str = "") -> None:
        minute = self.minute(due)
        latency_ms = (time.perf_counter() - due) * 1000
        minute.latencies_ms.append(latency_ms)
        minute.operation_latencies_ms.setdefault(operation, []).append(latency_ms)
        minute.statuses[status] += 1
        minute.by_operation[operation] += 1
        if not status.startswith("2") and len(minute.errors) < 5:
            minute.errors.append(f"{operation}: {status} {detail}"[:300])


# uvicorn closes a keep-alive connection idle for 5 s. A request sent on one just as it does
# fails (the soak at 14:43 lost 10 that way, all 5.0 to 5.2 s after the last answer), so a
# connection idle this long is replaced first, as HTTP clients' pools expire theirs.
IDLE_EXPIRY_S = 4.0


class Sender:
    """One keep-alive connection, reopened when the server closed it or it idled too long."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.connection: HttpConnection | None = None

    def _expired(self) -> bool:
        connection = self.connection
        return (
            connection is None
            or connection.reader.at_eof()
            or time.perf_counter() - connection.answered_at > IDLE_EXPIRY_S
        )

    async def send(self, operation: Operation, account: Account) -> tuple[str, str]:
        try:
            connection = self.connection
            if connection is None or self._expired():
                await self.close()
                connection = self.connection = await HttpConnection.open(self.base_url)
            status, body = await asyncio.wait_for(operation.send(connection, account), 30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
            if self.connection is not None:
                await self.connection.close()
            self.connection = None
            return "socket error", repr(error)
        return str(status), "" if status < 300 else body[:200].decode(errors="replace")

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


def _chooser(rng: random.Random) -> Callable[[], Operation]:
    weights = [op.weight for op in MIX]
    return lambda: rng.choices(MIX, weights)[0]


class SenderPool:
    """Keep-alive connections for an open loop: an idle one if there is one, else a new one.

    Independent clients do not wait for each other's answers. With a fixed set of connections
    shared by the whole mix, requests due while every connection waits (say, on logins queued
    for argon2) wait in the generator: a queue of its own making that every operation then
    reads, even one the server would answer at once. So a request due while all are busy gets
    a connection of its own, up to `most` open at once (beyond that it waits for one)."""

    def __init__(self, base_url: str, most: int) -> None:
        self.base_url = base_url
        self.idle: list[Sender] = []
        self.opened = 0
        self.peak_busy = 0
        self._free = asyncio.Semaphore(most)

    @contextlib.asynccontextmanager
    async def sender(self) -> AsyncIterator[Sender]:
        async with self._free:
            if self.idle:
                sender = self.idle.pop()
            else:
                sender = Sender(self.base_url)
                self.opened += 1
            self.peak_busy = max(self.peak_busy, self.opened - len(self.idle))
            try:
                yield sender
            finally:
                self.idle.append(sender)

    async def close(self) -> None:
        for sender in self.idle:
            await sender.close()


async def fixed_rate(
    accounts: list[Account],
    rate: float,
    seconds: float,
    recorder: Recorder,
    pool: SenderPool,
    seed: int = 1,
) -> None:
    """Send the mix at `rate` requests/s for `seconds`, each request on a connection of the
    pool's when it is due."""
    rng = random.Random(seed)  # noqa: S311 - a load mix, not a secret
    pick = _chooser(rng)
    in_flight: set[asyncio.Task[None]] = set()

    async def send(due: float, operation: Operation) -> None:
        async with pool.sender() as sender:
            status, detail = await sender.send(operation, rng.choice(accounts))
        recorder.record(due, operation.name, status, detail)

    total, sent = int(rate * seconds), 0
    while sent < total:
        delay = recorder.started + sent / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.perf_counter()
        while sent < total and recorder.started + sent / rate <= now:
            task = asyncio.create_task(send(recorder.started + sent / rate, pick()))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            sent += 1
    await asyncio.gather(*in_flight)
    await pool.close()


async def max_rate(
    server: servers.Server, accounts: list[Account], seconds: float, connections: int
) -> tuple[float, Minute]:
    """The mix closed loop (each connection sends as soon as it has its answer): requests/s."""
    rng = random.Random(2)  # noqa: S311 - a load mix, not a secret
    pick = _chooser(rng)
    started = time.perf_counter()
    recorder = Recorder(started)

    async def work(sender: Sender) -> None:
        while time.perf_counter() < started + seconds:
            due, operation = time.perf_counter(), pick()
            status, detail = await sender.send(operation, rng.choice(accounts))
            recorder.record(due, operation.name, status, detail)
        await sender.close()

    await asyncio.gather(*(work(Sender(server.http_url)) for _ in range(connections)))
    merged = Minute()
    for minute in recorder.minutes:
        merged.latencies_ms += minute.latencies_ms
        merged.statuses.update(minute.statuses)
        merged.errors += minute.errors
    return len(merged.latencies_ms) / (time.perf_counter() - started), merged
