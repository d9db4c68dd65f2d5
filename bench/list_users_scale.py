"""ListUsers latency by store size: 1k, 100k and 1M users, first page and a page deep in the table.

On SQLite and, when reachable, PostgreSQL (throwaway databases, dropped afterwards). One store
and one 1-worker server per size, filled by fill_store.py; then every size and page is
measured once per round, round-robin, at 1 connection, with the staff user's token.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import fill_store
import load
import results
from load import LoadResult
from sqlalchemy.engine import make_url
from staff import authgate_env, login

from authgate.core.paging import encode_page_token

import servers


@dataclass(frozen=True)
class ScaleStore:
    """One store of one size, and the server over it."""

    server: servers.Server
    fill: Callable[[int, int], None]  # (first filler number, how many)
    middle: Callable[[], tuple[str, int, str]]  # (a middle user id, users, query plan)


@dataclass(frozen=True)
class ScaleTarget:
    server: servers.Server
    users: int
    page: str
    url: str
    script: Path
    plan: str


def scale_series(
    run: results.Run, args: argparse.Namespace, tmp: Path, backend: str, stores: list[ScaleStore]
) -> None:
    """ListUsers on a store of each size (one per size, each with its own server), measured
    round-robin rather than one size after another: each point's seconds are split over
    `--rounds`, every size and page measured once per round, so noise on the shared machine
    hits every size alike."""
    targets: list[ScaleTarget] = []
    for size, store in zip(args.sizes, stores, strict=True):
        started = time.monotonic()
        store.fill(1, size - 1)  # the staff user is the first
        middle_id, total, plan = store.middle()
        print(
            f"  {backend}: {total:,} users ({time.monotonic() - started:.0f} s to fill)",
            file=sys.stderr,
        )
        headers = {"Authorization": f"Bearer {login(store.server).access}"}
        first = f"{store.server.http_url}/api/v1/users/?pageSize=50"
        for page, url in (
            ("first", first),
            ("deep", f"{first}&pageToken={encode_page_token(middle_id)}"),
        ):
            body = load.check_rest(url, "GET", None, headers)
            assert '"nextPageToken": ""' not in body, f"{backend} {page} page is the last"
            script = load.wrk_script(
                tmp / f"scale-{backend}-{size}-{page}.lua", "GET", None, headers
            )
            load.wrk(url, script, connections=1, duration=1)  # warm-up
            shown = plan if page == "deep" and size == args.sizes[-1] else ""
            targets.append(ScaleTarget(store.server, total, page, url, script, shown))
    rounds: list[list[LoadResult]] = [[] for _ in targets]
    for _ in range(args.rounds):
        for target, measured in zip(targets, rounds, strict=True):
            result = load.wrk(
                target.url,
                target.script,
                connections=1,
                duration=max(1, round(args.scale_duration / args.rounds)),  # wrk: whole s
            )
            target.server.check_alive()
            if result.failed:
                raise RuntimeError(f"{backend} ListUsers {target.page}: {result.note}")
            measured.append(result)
    for target, measured in zip(targets, rounds, strict=True):
        merged = LoadResult(
            requests=sum(r.requests for r in measured),
            seconds=sum(r.seconds for r in measured),
            p50_ms=results.p50(measured),
            p99_ms=results.p99(measured),
            failed=0,
        )
        point = results.ScalePoint(backend, target.users, target.page, merged, target.plan)
        run.scale.append(point)


def scale_sqlite(run: results.Run, args: argparse.Namespace, tmp: Path) -> None:
    stores: list[ScaleStore] = []
    try:
        for size in args.sizes:
            data = tmp / f"scale-sqlite-{size}"
            server = servers.authgate(data, tmp / f"scale-sqlite-{size}.log", 1, authgate_env())
            stores.append(_sqlite_store(server, data / "authgate.sqlite3"))
            server.start(rest=True, grpc=True)
        scale_series(run, args, tmp, "SQLite", stores)
    finally:
        for store in stores:
            store.server.stop()


def _sqlite_store(server: servers.Server, database: Path) -> ScaleStore:
    return ScaleStore(
        server,
        lambda start, count: fill_store.insert_sqlite(database, start, count),
        lambda: fill_store.middle_id_sqlite(database),
    )


def scale_postgres(run: results.Run, args: argparse.Namespace, tmp: Path) -> None:
    names = [f"authgate_bench_{os.getpid()}_{size}" for size in args.sizes]
    created: list[str] = []
    stores: list[ScaleStore] = []
    try:
        for name, size in zip(names, args.sizes, strict=True):
            try:
                fill_store.create_database(args.postgres, name)
            except Exception as error:
                run.notes.append(f"PostgreSQL skipped: {args.postgres} unreachable ({error})")
                return
            created.append(name)
            url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
            env = {**authgate_env(), "AUTHGATE_DATABASE_URL": url}
            server = servers.authgate(
                tmp / f"scale-pg-{size}", tmp / f"scale-pg-{size}.log", 1, env
            )
            stores.append(_postgres_store(server, url))
            server.start(rest=True, grpc=True)
        scale_series(run, args, tmp, "PostgreSQL", stores)
    finally:
        for store in stores:
            store.server.stop()
        for name in created:
            fill_store.drop_database(args.postgres, name)


def _postgres_store(server: servers.Server, url: str) -> ScaleStore:
    return ScaleStore(
        server,
        lambda start, count: fill_store.insert_postgres(url, start, count),
        lambda: fill_store.middle_id_postgres(url),
    )
