"""Faults a real deployment meets: the database going away, SIGTERM under load, kill -9.

Each test starts its own `authgate serve` process and measures what clients see: bounded
answers with the documented statuses (503 / UNAVAILABLE, never a 500 or a hang), recovery
without a restart, drained in-flight requests, and no lost or corrupted write.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy.engine import make_url

from authgate.grpc.server import DRAIN_SECONDS
from authgate.store.database import Database
from authgate.store.users import UserStore
from authgate.v1 import auth_pb2, auth_pb2_grpc

from databases import temporary_postgres_database
from door_clients import STALENESS_BOUND, BlockingDoor, Outcome, RestDoor
from servers import ServerProcess, logged_fields, open_door, wait_for
from tcp_proxy import CutMode, TcpProxy

RUN = secrets.token_hex(4)
ADMIN_EMAIL = f"faults-admin-{RUN}@example.com"
PASSWORD = "correct horse battery"
BOOTSTRAP = {
    "AUTHGATE_BOOTSTRAP_EMAIL": ADMIN_EMAIL,
    "AUTHGATE_BOOTSTRAP_PASSWORD": PASSWORD,
    "AUTHGATE_LOGIN_LIMIT_PER_ADDRESS": "100000/minute",  # every client here is 127.0.0.1
}
ANSWER_BOUND = 10.0  # seconds: with the database gone, every call answers within this
RECOVERY_BOUND = 15.0  # seconds: with the database back, /readyz says so within this
_numbers = itertools.count()


def fresh_email(kind: str) -> str:
    return f"faults-{kind}{next(_numbers)}-{RUN}@example.com"


async def create_users(database_url: str, emails: list[str]) -> None:
    """Create users straight in the store (as `authgate users create` would)."""
    database = Database(database_url)
    try:
        store = UserStore(database)
        await asyncio.gather(*(store.create_user(email, PASSWORD) for email in emails))
    finally:
        database.close()


def listed_emails(door: BlockingDoor, access: str) -> set[str]:
    listing = door.list_users(access, page_size=1000)
    assert listing.ok, listing
    assert not listing.data["nextPageToken"]
    return {user["email"] for user in listing.data["users"]}


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


# a. PostgreSQL lost while serving


@dataclass(frozen=True)
class Probe:
    """One call made while the database is away: what came back and how long it took."""

    name: str
    seconds: float
    status: int | str  # HTTP status or gRPC code name; an exception's name for no answer
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.status} {self.reason} in {self.seconds:.2f} s"


def probe(name: str, call: Callable[[], Outcome]) -> Probe:
    start = time.monotonic()
    try:
        outcome = call()
    except Exception as error:  # a hang (client timeout), a reset, a malformed answer
        return Probe(name, time.monotonic() - start, type(error).__name__, str(error)[:200])
    return Probe(name, time.monotonic() - start, outcome.status, outcome.reason)


def rest_get(base_url: str, path: str) -> Outcome:
    with httpx.Client(base_url=base_url, timeout=ANSWER_BOUND) as client:
        return RestDoor._outcome(client.get(path))


def with_door(door: BlockingDoor, call: Callable[[Any], Outcome]) -> Callable[[], Outcome]:
    def run() -> Outcome:
        try:
            return call(door)
        finally:
            door.close()

    return run


@dataclass
class ProxiedServer:
    proxy: TcpProxy
    server: ServerProcess
    direct_url: str  # the server's database, reached without the proxy


@dataclass
class Outage:
    proxy: TcpProxy
    server: ServerProcess
    users: list[str]  # created before the outage


@pytest.fixture
def proxied_server(tmp_path: Path) -> Iterator[ProxiedServer]:
    """A server whose PostgreSQL sits behind a proxy the test can cut."""
    with temporary_postgres_database() as direct_url:
        direct = make_url(direct_url)
        with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy:
            via_proxy = direct.set(port=proxy.port).render_as_string(hide_password=False)
            server = ServerProcess(
                tmp_path / "data", {**BOOTSTRAP, "AUTHGATE_DATABASE_URL": via_proxy}
            ).start()
            try:
                yield ProxiedServer(proxy, server, direct_url)
            finally:
                code = server.stop()
            assert code == 0, server.log


@pytest.fixture
async def outage(proxied_server: ProxiedServer) -> Outage:
    """`proxied_server` with a few users, created in its store once it has migrated it."""
    users = [fresh_email("before-outage") for _ in range(3)]
    await create_users(proxied_server.direct_url, users)
    return Outage(proxied_server.proxy, proxied_server.server, users)


CUTS: dict[str, tuple[CutMode, bool]] = {  # how the proxy cuts, and whether it drops the open
    # PostgreSQL down or restarting: open connections reset, new ones refused.
    "refused": ("reset", True),
    # A dead route to a restarted PostgreSQL: open connections reset, connects hang
    # (connect_timeout's case).
    "blackholed-connects": ("blackhole", True),
    # A network partition: pooled connections go silent too, and connects hang.
    "partition": ("blackhole", False),
}


@pytest.mark.parametrize("cut", list(CUTS))
def test_lost_postgres_answers_unavailable_in_bounded_time_and_recovers(
    outage: Outage, cut: str
) -> None:
    server = outage.server
    rest, grpc_ = open_door("rest", server), open_door("grpc", server)
    try:
        admin = rest.issue_token(ADMIN_EMAIL, PASSWORD)
        assert admin.ok, admin
        access, refresh = admin.data["access"], admin.data["refresh"]
        # Several pooled connections, as a serving replica has: all of them go bad at the cut.
        with ThreadPoolExecutor(6) as pool:
            warm = list(pool.map(lambda _: rest_get(server.http_url, "/readyz"), range(6)))
        assert all(outcome.ok for outcome in warm), warm
        assert set(outage.users) <= listed_emails(rest, access)

        mode, drop_existing = CUTS[cut]
        outage.proxy.cut(mode, drop_existing=drop_existing)
        # Within the staleness bound the caches may still answer what the store last said
        # (a verified token's holder); past it every check reads the store, and so fails.
        time.sleep(STALENESS_BOUND)
        calls: dict[str, Callable[[], Outcome]] = {
            "GET /readyz": lambda: rest_get(server.http_url, "/readyz"),
            "POST /api/v1/token/": with_door(
                open_door("rest", server), lambda door: door.issue_token(ADMIN_EMAIL, PASSWORD)
            ),
            "GET /api/v1/users/": with_door(
                open_door("rest", server), lambda door: door.list_users(access)
            ),
            "POST /api/v1/token/refresh/": with_door(
                open_door("rest", server), lambda door: door.refresh_token(refresh)
            ),
            "IssueToken": with_door(
                open_door("grpc", server), lambda door: door.issue_token(ADMIN_EMAIL, PASSWORD)
            ),
            "ListUsers": with_door(open_door("grpc", server), lambda door: door.list_users(access)),
            "VerifyToken": with_door(
                open_door("grpc", server), lambda door: door.verify_token(refresh)
            ),
        }
        with ThreadPoolExecutor(len(calls)) as pool:
            probes = list(pool.map(lambda item: probe(*item), calls.items()))
        healthz = probe("GET /healthz", lambda: rest_get(server.http_url, "/healthz"))

        # RestDoor checks every refusal is application/problem+json; doors give 10 s at most.

        report = "\n".join(map(str, [*probes, healthz]))
        expected = {
            p.name: (503 if "/" in p.name else "UNAVAILABLE", "unavailable") for p in probes
        }
        assert {p.name: (p.status, p.reason) for p in probes} == expected, report
        assert max(p.seconds for p in probes) < ANSWER_BOUND, report
        assert (healthz.status, healthz.seconds < 1) == (200, True), report

        outage.proxy.restore()  # the same server process throughout: no restart
        wait_for(lambda: rest_get(server.http_url, "/readyz").ok, RECOVERY_BOUND)
        again = rest.issue_token(ADMIN_EMAIL, PASSWORD)
        assert again.ok, again
        assert grpc_.issue_token(outage.users[0], PASSWORD).ok
        assert {ADMIN_EMAIL, *outage.users} <= listed_emails(grpc_, again.data["access"])
    finally:
        outage.proxy.restore()  # a failed check must not leave the server's calls hanging
        rest.close()
        grpc_.close()


# b. SIGTERM under sustained load

CLIENTS = 16
# Answers before the signal: counted, not timed, so a slow machine is as loaded as a fast one.
SUSTAINED = 300


@dataclass(frozen=True)
class Call:
    started: float
    sent: float | None  # when the request was on the wire (REST), if it got that far
    finished: float
    result: int | str  # HTTP status or gRPC code name, or the exception's name


class Load:
    """CLIENTS threads, each with its own connection, calling in a loop until told to stop."""

    def __init__(self, call: Callable[[int], tuple[int | str, float | None]]) -> None:
        self.call = call
        self.calls: list[Call] = []
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, n: int) -> None:
        while not self.done.is_set():
            started = time.monotonic()
            try:
                result, sent = self.call(n)
            except Exception as error:
                result, sent = type(error).__name__, None
            with self._lock:
                self.calls.append(Call(started, sent, time.monotonic(), result))
            if isinstance(result, str) and result not in ("OK",):
                time.sleep(0.02)  # refused: do not spin

    def count(self, result: int | str) -> int:
        with self._lock:
            return sum(call.result == result for call in self.calls)


def sustain_then_sigterm(server: ServerProcess, load: Load, ok: int | str) -> tuple[float, int]:
    """Let the load answer SUSTAINED times, SIGTERM the server, wait for its exit; (time, code)."""
    # Sustained: the signal lands on a busy server, not a warming one.
    wait_for(lambda: load.count(ok) >= SUSTAINED, 60)
    signalled = time.monotonic()
    code = server.stop(signal.SIGTERM, timeout=30)  # and every line it logged has been read
    time.sleep(0.3)  # every client tries again against the stopped server
    return signalled, code


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", BOOTSTRAP).start()
    yield server
    server.stop()  # a no-op once the test has stopped it


def test_sigterm_under_rest_load_drains_accepted_requests(sqlite_server: ServerProcess) -> None:
    server = sqlite_server
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        pair = client.post("/api/v1/token/", json={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert pair.status_code == 200, pair.text
    token = pair.json()["access"]
    clients = [httpx.Client(base_url=server.http_url, timeout=15) for _ in range(CLIENTS)]

    def verify(n: int) -> tuple[int | str, float | None]:
        sent: list[float] = []

        def trace(event: str, _info: object) -> None:
            if event == "http11.send_request_body.complete":
                sent.append(time.monotonic())

        try:
            response = clients[n].post(
                "/api/v1/token/verify/", json={"token": token}, extensions={"trace": trace}
            )
        except httpx.HTTPError as error:
            return type(error).__name__, sent[0] if sent else None
        return response.status_code, sent[0] if sent else None

    try:
        with Load(verify) as load:
            signalled, code = sustain_then_sigterm(server, load, 200)
    finally:
        for client in clients:
            client.close()

    calls = load.calls
    statuses = {call.result for call in calls if isinstance(call.result, int)}
    accepted = [call for call in calls if call.sent is not None and call.sent < signalled]
    failed_accepted = [call for call in accepted if call.result != 200]
    after = {call.result for call in calls if call.sent is None or call.sent >= signalled}
    assert code == 0, server.log
    assert statuses == {200}, f"HTTP statuses other than 200: {statuses}"
    assert not failed_accepted, f"requests sent before SIGTERM that failed: {failed_accepted}"
    # Requests that reached a closing server: answered, or turned away at the connection.
    assert after <= {200, "ConnectError", "RemoteProtocolError", "ReadError", "WriteError"}, after
    assert any(c.finished > signalled and c.result == 200 for c in accepted), "nothing drained"
    assert load.count("ConnectError") > 0, "no client tried the stopped server"
    assert refuses_connections(port_of(httpx.URL(server.http_url).netloc.decode()))
    assert refuses_connections(port_of(server.grpc_target))


def answered_calls(server: ServerProcess, operations: set[str]) -> list[tuple[str, bool]]:
    """Each access line for `operations`, in order: (outcome, logged after shutdown began)."""
    answered = []
    stopping = False
    for line in server.lines:
        stopping = stopping or "shutting down: draining" in line
        entry = logged_fields(line, "authgate.access")
        if entry is not None and entry["operation"] in operations:
            answered.append((str(entry["outcome"]), stopping))
    return answered


def test_sigterm_under_grpc_load_drains_accepted_calls(sqlite_server: ServerProcess) -> None:
    server = sqlite_server
    channels = [grpc.insecure_channel(server.grpc_target) for _ in range(CLIENTS)]
    stubs = [auth_pb2_grpc.AuthServiceStub(channel) for channel in channels]
    try:
        login = auth_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=PASSWORD)
        token = stubs[0].IssueToken(login, timeout=10).access
        request = auth_pb2.VerifyTokenRequest(token=token)

        def call(n: int) -> tuple[int | str, float | None]:
            # One client logs in again and again: its argon2 verify keeps a call inside a
            # handler for most of its round trip, so some call is in flight at the signal.
            try:
                if n == 0:
                    stubs[n].IssueToken(login, timeout=15)
                else:
                    stubs[n].VerifyToken(request, timeout=15)
            except grpc.RpcError as error:
                return error.code().name, None  # type: ignore[attr-defined]
            return "OK", None

        with Load(call) as load:
            signalled, code = sustain_then_sigterm(server, load, "OK")
    finally:
        for channel in channels:
            channel.close()

    # gRPC has no "request sent" hook, so what was accepted is read from the server's side:
    # its access lines, and the line it logs as it begins to drain.
    answered = answered_calls(server, {"IssueToken", "VerifyToken"})
    # Refused at a closed port is UNAVAILABLE (retryable); never CANCELLED, INTERNAL, UNKNOWN
    # or DEADLINE_EXCEEDED, which no client retries.
    # One exception, grpc core's own: a call that reaches the server in the instant
    # server.stop() begins (after the drain window, DRAIN_SECONDS) is CANCELLED by the core
    # before any handler sees it.
    stopping_from = signalled + DRAIN_SECONDS - 0.05
    stray = [
        f"{call.result} (started {1000 * (call.started - signalled):+.0f} ms, "
        f"ended {1000 * (call.finished - signalled):+.0f} ms from SIGTERM)"
        for call in load.calls
        if call.result not in ("OK", "UNAVAILABLE")
        and not (call.result == "CANCELLED" and call.started >= stopping_from)
    ]
    assert code == 0, server.log
    assert not stray, f"{len(stray)} calls answered neither OK nor UNAVAILABLE: {stray}"
    # The server refused nothing before the signal and failed nothing it took: every call a
    # handler ran ended OK, and calls arriving while it drained were refused UNAVAILABLE.
    assert {outcome for outcome, stopping in answered if not stopping} == {"OK"}
    assert {outcome for outcome, _ in answered} <= {"OK", "UNAVAILABLE"}
    assert any(outcome == "OK" and stopping for outcome, stopping in answered), "nothing drained"
    # No answer was lost on the way out: every OK the server gave, a client received (the
    # one login before the load included).
    assert sum(outcome == "OK" for outcome, _ in answered) == load.count("OK") + 1
    assert load.count("UNAVAILABLE") > 0, "no client tried the stopped server"
    assert refuses_connections(port_of(server.grpc_target))


# c. kill -9 during writes on SQLite


@dataclass
class Writes:
    """What the server (or the CLI) acknowledged before the kill."""

    live: list[str] = field(default_factory=list)  # refresh tokens from 200 logins
    revoked: list[str] = field(default_factory=list)  # refresh tokens revoked with a 200
    created: list[str] = field(default_factory=list)  # emails `authgate users create` made
    interrupted: int = 0  # clients whose request the kill cut short
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def write_logins(base_url: str, emails: list[str], writes: Writes, stop: threading.Event) -> None:
    """Log in (writes last_login and a refresh-token row); revoke every other pair (a write)."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for n in itertools.count():
            if stop.is_set():
                return
            try:
                pair = client.post(
                    "/api/v1/token/", json={"email": emails[n % len(emails)], "password": PASSWORD}
                )
                if pair.status_code != 200:
                    with writes.lock:
                        writes.errors.append(f"login {pair.status_code} {pair.text}")
                    continue
                refresh = pair.json()["refresh"]
                if n % 2:
                    with writes.lock:
                        writes.live.append(refresh)
                    continue
                revoked = client.post("/api/v1/token/blacklist/", json={"refresh": refresh})
                with writes.lock:
                    if revoked.status_code == 200:
                        writes.revoked.append(refresh)
                    else:
                        writes.errors.append(f"revoke {revoked.status_code} {revoked.text}")
            except httpx.TransportError:
                with writes.lock:
                    writes.interrupted += 1
                return  # the server is gone


def create_with_cli(data_dir: Path, writes: Writes, stop: threading.Event) -> None:
    """Another process writing the same SQLite file: `authgate users create` in a loop."""
    env = {**os.environ, "AUTHGATE_DATA_DIR": str(data_dir)}
    while not stop.is_set():
        email = fresh_email("cli")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "authgate",
                "users",
                "create",
                "--email",
                email,
                "--password-stdin",
            ],
            input=PASSWORD + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            with writes.lock:
                writes.errors.append(f"cli {result.returncode} {result.stderr}")
            return
        with writes.lock:
            writes.created.append(email)


@pytest.fixture
async def writer_emails(sqlite_server: ServerProcess) -> list[str]:
    """Four users in `sqlite_server`'s store, created once it has migrated it."""
    emails = [fresh_email("writer") for _ in range(4)]
    await create_users(sqlite_server.database_url, emails)
    return emails


def test_kill_9_during_writes_loses_no_acknowledged_write(
    sqlite_server: ServerProcess, writer_emails: list[str]
) -> None:
    server, emails = sqlite_server, writer_emails
    data_dir = server.data_dir
    writes, stop = Writes(), threading.Event()
    writers = [
        threading.Thread(target=write_logins, args=(server.http_url, emails, writes, stop))
        for _ in range(8)
    ]
    writers.append(threading.Thread(target=create_with_cli, args=(data_dir, writes, stop)))
    for writer in writers:
        writer.start()
    try:

        def enough() -> bool:
            """12 logins and 6 revocations acknowledged"""
            with writes.lock:
                return len(writes.live) >= 12 and len(writes.revoked) >= 6

        wait_for(enough, 30)
        killed = server.stop(signal.SIGKILL)  # mid-write: eight clients are still writing
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
    assert killed == -signal.SIGKILL

    again = ServerProcess(data_dir).start()
    try:
        with contextlib.closing(sqlite3.connect(data_dir / "authgate.sqlite3")) as db:
            integrity = db.execute("PRAGMA integrity_check").fetchall()
            foreign_keys = db.execute("PRAGMA foreign_key_check").fetchall()
        rest = open_door("rest", again)
        try:
            refreshed = [rest.refresh_token(token) for token in writes.live]
            refused = [rest.refresh_token(token) for token in writes.revoked]
            admin = rest.issue_token(ADMIN_EMAIL, PASSWORD)
            assert admin.ok, admin
            users = listed_emails(rest, admin.data["access"])
        finally:
            rest.close()
    finally:
        code = again.stop()

    assert integrity == [("ok",)]
    assert foreign_keys == []
    assert not writes.errors, writes.errors
    assert writes.interrupted > 0, "the kill cut no request short: nothing was mid-write"
    assert [outcome.status for outcome in refreshed] == [200] * len(writes.live)
    assert {outcome.reason for outcome in refused} == {"token_not_valid"}
    assert {ADMIN_EMAIL, *emails, *writes.created} <= users
    assert code == 0, again.log
