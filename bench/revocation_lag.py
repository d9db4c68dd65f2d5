"""Revocation lag: from the return of the command that deactivates a user to every worker and
every replica refusing that user's access token.

Two setups: `authgate serve --workers 2` on SQLite, and two replicas (two `authgate serve`, each
its own data directory, one PostgreSQL database). Two writers: the CLI (`authgate users
deactivate --email`, a process of its own; the lag counts from its exit) and the API
(UpdateUser, `PATCH /api/v1/users/{id}` with `updateMask=isActive` and a staff token; from its
response). The probes, on keep-alive connections pinned to each serving process
(connections.py): REST `GET /api/v1/users/` with the user's token, gRPC `VerifyToken` of it,
and gRPC `ListUsers` with it as bearer.

A trial: every probe answers once in the current state (the token accepted, so any cache is
warm); every probe then asks every PROBE_WHILE_WRITING_S while the writer runs and every
PROBE_AFTER_RETURN_S once it returned, until it answers in the new state (401 or
UNAUTHENTICATED); the lag is the last probe's first such answer minus the return (0 when all
saw it before). Each probe then asks twice more: an answer in the old state is a backslide.
Activation follows (the same token is good again) and its lag is kept as re-acceptance.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import fill_store
import grpc
import results
from connections import GrpcConnection, HttpConnection, cover
from decision_times import DecisionTimes
from sqlalchemy.engine import make_url
from staff import authgate_env, login

from authgate.v1 import auth_pb2, auth_pb2_grpc

import servers

# A probe asks every 2 ms once the writer returned: the resolution is 2 ms plus one answer.
# All six probes answering at once took 4 to 20 ms on the shared 2-core machine (the table's
# probe round column), well under the 100 ms bound. While a CLI writer runs (0.3 s here) every
# 20 ms is enough to keep a cache warm without loading the 2 cores.
PROBE_WHILE_WRITING_S = 0.020
PROBE_AFTER_RETURN_S = 0.002
GIVE_UP_S = 10.0
PROBED_EMAIL = "revoked@example.com"
PROBED_PASSWORD = "revoked-user-password"  # noqa: S105 - a throwaway benchmark user


@dataclass
class Probe:
    name: str
    pid: int
    # True: token accepted; False: refused; else raises. The argument goes as the request's
    # x-request-id, which the access line of the serving process logs.
    accepted: Callable[[str | None], Awaitable[bool]]


@dataclass
class Setup:
    name: str
    servers: list[servers.Server]
    cli_env: dict[str, str]  # how the CLI reaches the same store


def rest_probe(connection: HttpConnection, pid: int, token: str) -> Probe:
    async def accepted(request_id: str | None = None) -> bool:
        status, body = await connection.request(
            "GET", "/api/v1/users/", bearer=token, request_id=request_id
        )
        if status not in (200, 401):
            raise RuntimeError(f"REST list users answered {status}: {body[:200]!r}")
        return status == 200

    return Probe("REST GET /api/v1/users/", pid, accepted)


def grpc_probe(connection: GrpcConnection, pid: int, token: str, method: str) -> Probe:
    stub = auth_pb2_grpc.AuthServiceStub(connection.channel)

    async def accepted(request_id: str | None = None) -> bool:
        metadata: tuple[tuple[str, str], ...] = (
            (("x-request-id", request_id),) if request_id else ()
        )
        try:
            if method == "VerifyToken":
                request = auth_pb2.VerifyTokenRequest(token=token)
                await stub.VerifyToken(request, metadata=metadata, timeout=5)
            else:
                metadata += (("authorization", f"Bearer {token}"),)
                await stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=metadata, timeout=5)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                return False
            raise
        return True

    return Probe(f"gRPC {method}", pid, accepted)


async def open_probes(
    setup: Setup, token: str
) -> tuple[list[Probe], list[HttpConnection | GrpcConnection]]:
    """One connection per probe kind on each serving process of each server."""
    probes: list[Probe] = []
    opened: list[HttpConnection | GrpcConnection] = []
    for server in setup.servers:
        pids = server.serving_pids()
        http_port = int(server.http_url.rpartition(":")[2])
        grpc_port = int(server.grpc_target.rpartition(":")[2])
        for method in ("VerifyToken", "ListUsers"):
            channels = await cover(
                partial(GrpcConnection.open, server.grpc_target), grpc_port, pids
            )
            for pid, (channel,) in channels.items():
                probes.append(grpc_probe(channel, pid, token, method))
                opened.append(channel)
        # REST last: uvicorn closes a keep-alive connection idle for 5 s, and finding the gRPC
        # connections' workers takes seconds on busy cores.
        rest = await cover(partial(HttpConnection.open, server.http_url), http_port, pids)
        for pid, (connection,) in rest.items():
            probes.append(rest_probe(connection, pid, token))
            opened.append(connection)
    return probes, opened


# Every probe's x-request-id starts so (decision_times.py looks for these access lines).
REQUEST_ID_PREFIX = "lag-"


def _request_ids(prefix: str) -> Iterator[str]:
    """prefix-0, prefix-1, ...: one x-request-id per request a watcher sends."""
    return (f"{prefix}-{k}" for k in itertools.count())


@dataclass(frozen=True)
class Answer:
    at: float  # perf_counter() when the answer arrived
    request_id: str


async def first_answer_in(
    probe: Probe, accepted: bool, returned: asyncio.Event, request_ids: Iterator[str], delay: float
) -> Answer:
    """The probe's first answer in the wanted state, asking from `delay` seconds on, for at
    most GIVE_UP_S after the write returned (a write queued on saturated cores may itself take
    seconds)."""
    await asyncio.sleep(delay)
    deadline = math.inf
    while time.perf_counter() < deadline:
        request_id = next(request_ids)
        if await probe.accepted(request_id) == accepted:
            return Answer(time.perf_counter(), request_id)
        if returned.is_set():
            deadline = min(deadline, time.perf_counter() + GIVE_UP_S)
            await asyncio.sleep(PROBE_AFTER_RETURN_S)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(returned.wait(), PROBE_WHILE_WRITING_S)
    state = "accepting" if not accepted else "refusing"
    raise RuntimeError(
        f"{probe.name} on pid {probe.pid} still {state} {GIVE_UP_S} s after the write returned"
    )


@dataclass(frozen=True)
class Trial:
    lag_ms: float  # from the write's return to the last probe's first answer in the new state
    backslides: int  # answers in the old state after a probe first saw the new one
    round_ms: float  # every probe asking once, at once, just before: the resolution
    last: str  # the probe that saw the new state last
    # The same, to each process's decision of its first answer in the new state: by its access
    # line or the answer's arrival, whichever came first (None: not asked for).
    decided_ms: float | None = None


async def trial(
    probes: list[Probe],
    write: Callable[[bool], Awaitable[None]],
    active: bool,
    decisions: DecisionTimes | None = None,
) -> Trial:
    """Set is_active to `active` and time the probes' view of it.

    Probes with the same name and pid (connections of their own to one serving process) ask in
    turn, spread over one answer's time, and the earliest of them counts for that process.
    """
    started = time.perf_counter()
    before = await asyncio.gather(*(probe.accepted(None) for probe in probes))
    round_ms = (time.perf_counter() - started) * 1000
    for probe, answer in zip(probes, before, strict=True):
        if answer == active:
            raise RuntimeError(f"{probe.name} on pid {probe.pid}: not in the state before")
    groups: dict[tuple[str, int], list[int]] = {}
    for n, probe in enumerate(probes):
        groups.setdefault((probe.name, probe.pid), []).append(n)
    returned = asyncio.Event()
    watchers: dict[int, asyncio.Task[Answer]] = {}  # by the probe's index in `probes`
    for members in groups.values():
        for turn, n in enumerate(members):
            ids = _request_ids(f"{REQUEST_ID_PREFIX}{os.getpid()}-{id(returned):x}-{n}")
            delay = round_ms / 1000 * turn / len(members)
            watchers[n] = asyncio.create_task(
                first_answer_in(probes[n], active, returned, ids, delay)
            )
    try:
        await write(active)
        returned_at, returned_wall = time.perf_counter(), time.time()
        returned.set()
        await asyncio.gather(*watchers.values())
        seen = {n: watcher.result() for n, watcher in watchers.items()}
    finally:
        for watcher in watchers.values():
            watcher.cancel()
    backslides = sum(await asyncio.gather(*(_backslides(probe, active) for probe in probes)))
    # Each process: its earliest answer in the new state; the trial: the latest process.
    firsts = [min(members, key=lambda n: seen[n].at) for members in groups.values()]
    last = max(firsts, key=lambda n: seen[n].at)
    lag_ms = max(0.0, (seen[last].at - returned_at) * 1000)
    decided_ms = None
    if decisions is not None:
        logged = await decisions.of(answer.request_id for answer in seen.values())

        def decided_by(n: int) -> float:
            """Seconds from the return by which process n decided: its access line, or the
            answer's arrival if that came first (the line is written after the answer)."""
            answer = seen[n]
            return min(logged[answer.request_id] - returned_wall, answer.at - returned_at)

        earliest = [min(decided_by(n) for n in group) for group in groups.values()]
        decided_ms = max(0.0, max(earliest) * 1000)
    where = f"{probes[last].name} (pid {probes[last].pid})"
    return Trial(lag_ms, backslides, round_ms, where, decided_ms)


async def _backslides(probe: Probe, active: bool) -> int:
    """Answers in the old state when `probe` asks twice more. The probes ask at once: one
    after the other, under load, the last could wait out uvicorn's 5 s keep-alive."""
    return sum([await probe.accepted(None) != active for _ in range(2)])


def cli_writer(env: dict[str, str]) -> Callable[[bool], Awaitable[None]]:
    async def write(active: bool) -> None:
        command = "activate" if active else "deactivate"
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "authgate", "users", command, "--email", PROBED_EMAIL),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, err = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"authgate users {command}: exit {process.returncode}: {err!r}")

    return write


def api_writer(base_url: str, staff: str, user_id: str) -> Callable[[bool], Awaitable[None]]:
    held: list[HttpConnection] = []

    async def write(active: bool) -> None:
        # uvicorn closes a keep-alive connection idle for 5 s (a CLI series is longer).
        if not held or held[0].reader.at_eof():
            held[:] = [await HttpConnection.open(base_url)]
        body = {"isActive": active, "updateMask": "isActive"}
        status, text = await held[0].request(
            "PATCH", f"/api/v1/users/{user_id}", bearer=staff, body=body
        )
        if status != 200:
            raise RuntimeError(f"UpdateUser answered {status}: {text[:200]!r}")

    return write


async def measure_setup(setup: Setup, trials: int) -> list[results.RevocationSeries]:
    first = setup.servers[0]
    staff = login(first).access
    admin = await HttpConnection.open(first.http_url)
    credentials = {"email": PROBED_EMAIL, "password": PROBED_PASSWORD}
    status, body = await admin.request("POST", "/api/v1/users/", bearer=staff, body=credentials)
    assert status == 200, f"CreateUser answered {status}: {body[:200]!r}"
    user_id = json.loads(body)["user"]["id"]
    status, body = await admin.request("POST", "/api/v1/token/", body=credentials)
    assert status == 200, f"login of {PROBED_EMAIL} answered {status}"
    token = json.loads(body)["access"]
    await admin.close()
    probes, opened = await open_probes(setup, token)
    writers = (
        ("CLI `users deactivate`", cli_writer(setup.cli_env)),
        ("API UpdateUser (REST PATCH)", api_writer(first.http_url, staff, user_id)),
    )
    measured = []
    try:
        for writer_name, write in writers:
            series = results.RevocationSeries(
                setup.name, writer_name, f"{len(probes)} on {len({p.pid for p in probes})} pids"
            )
            for _ in range(trials):
                off = await trial(probes, write, active=False)
                series.add_refusal(off.lag_ms, off.round_ms, off.last)
                on = await trial(probes, write, active=True)
                series.reacceptance_ms.append(on.lag_ms)
                series.backslides += off.backslides + on.backslides
            for server in setup.servers:
                server.check_alive()
            measured.append(series)
            print(f"  {setup.name}, {writer_name}: {series.summary}", file=sys.stderr)
    finally:
        for connection in opened:
            await connection.close()
    return measured


@contextlib.contextmanager
def sqlite_workers(tmp: Path) -> Iterator[Setup]:
    data = tmp / "revocation-sqlite"
    env = authgate_env()
    server = servers.authgate(data, tmp / "revocation-sqlite.log", 2, env)
    try:
        server.start(rest=True, grpc=True, count=2)
        # The CLI opens the keys as the server does: with the same key-encryption key.
        env = {**os.environ, **env, "AUTHGATE_DATA_DIR": str(data)}
        yield Setup("SQLite, `--workers 2`", [server], env)
    finally:
        server.stop()


@contextlib.contextmanager
def postgres_replicas(tmp: Path, admin_url: str, name: str) -> Iterator[Setup]:
    """Two replicas on the database `name`, already created; dropped at the end."""
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    env = {**authgate_env(), "AUTHGATE_DATABASE_URL": url}
    replicas = [
        servers.authgate(tmp / f"replica-{n}", tmp / f"replica-{n}.log", 1, env) for n in (1, 2)
    ]
    try:
        replicas[0].start(rest=True, grpc=True)  # migrates, and makes the first signing key
        replicas[1].start(rest=True, grpc=True)
        cli_env = {**os.environ, **env, "AUTHGATE_DATA_DIR": str(tmp / "replica-1")}
        yield Setup("PostgreSQL, 2 replicas", replicas, {**cli_env, "AUTHGATE_DATABASE_URL": url})
    finally:
        for replica in replicas:
            replica.stop()
        fill_store.drop_database(admin_url, name)


def measure(run: results.Run, args: argparse.Namespace, tmp: Path) -> None:
    with sqlite_workers(tmp) as setup:
        run.revocation += asyncio.run(measure_setup(setup, args.revocation_trials))
    if args.postgres == "off":
        run.notes.append("Revocation lag with PostgreSQL replicas: skipped (`--postgres off`)")
        return
    name = f"authgate_revocation_{os.getpid()}"
    try:
        fill_store.create_database(args.postgres, name)
    except Exception as error:
        run.notes.append(f"Revocation lag with replicas skipped: {args.postgres} ({error})")
        return
    with postgres_replicas(tmp, args.postgres, name) as setup:
        run.revocation += asyncio.run(measure_setup(setup, args.revocation_trials))
