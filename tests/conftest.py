"""Fixtures shared by the integration tests: one real server, both doors, real users."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from authgate.core import keys
from authgate.core.tokens import TokenCodec
from authgate.core.users import User
from authgate.store.database import Database
from authgate.store.users import UserStore

from databases import temporary_postgres_database
from doors import GrpcDoor, RestDoor
from servers import ServerProcess

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "change-me-please"  # the README's guide uses it too
# The environment that makes the server create that admin at start.
BOOTSTRAP_ADMIN = {
    "AUTHGATE_BOOTSTRAP_EMAIL": ADMIN_EMAIL,
    "AUTHGATE_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD,
}
PASSWORD = "correct horse battery"
_numbers = itertools.count()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every integration test runs on both stores: '' is SQLite in the data directory."""
    if request.param == "sqlite":
        yield ""
        return
    with temporary_postgres_database() as url:
        yield url


@contextmanager
def own_database(database_url: str) -> Iterator[str]:
    """A store of the same kind as `database_url`, for a server a test module starts itself."""
    if not database_url:
        yield ""
        return
    with temporary_postgres_database() as url:
        yield url


@contextmanager
def running_server(data_dir: Path, **env: str) -> Iterator[ServerProcess]:
    """A server of a test module's own, with the bootstrap admin; it must stop cleanly."""
    process = ServerProcess(
        data_dir,
        BOOTSTRAP_ADMIN | {f"AUTHGATE_{name.upper()}": value for name, value in env.items()},
    ).start()
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("authgate-data")
    process = ServerProcess(
        data_dir,
        {
            "AUTHGATE_DATABASE_URL": database_url,
            **BOOTSTRAP_ADMIN,
            # Every test client is 127.0.0.1: only tests/test_security.py tests this limit.
            "AUTHGATE_LOGIN_LIMIT_PER_ADDRESS": "100000/minute",
        },
    ).start()
    yield process
    assert process.stop() == 0, process.log


@pytest.fixture(scope="session")
def rest_door(server: ServerProcess) -> Iterator[RestDoor]:
    door = RestDoor(server.http_url)
    yield door
    door.close()


@pytest.fixture(scope="session")
def grpc_door(server: ServerProcess) -> Iterator[GrpcDoor]:
    door = GrpcDoor(server.grpc_target)
    yield door
    door.close()


@pytest.fixture(params=["rest", "grpc"])
def door(request: pytest.FixtureRequest, server: ServerProcess) -> RestDoor | GrpcDoor:
    """Each scenario runs once through each front door (and on each store, via `server`)."""
    return request.getfixturevalue(f"{request.param}_door")


def open_door(kind: str, server: ServerProcess) -> RestDoor | GrpcDoor:
    """A door of the given kind onto another server (one a test module starts itself)."""
    return RestDoor(server.http_url) if kind == "rest" else GrpcDoor(server.grpc_target)


async def _with_store(server: ServerProcess, action: Callable[[UserStore], object]) -> object:
    database = Database(server.database_url)
    try:
        return await action(UserStore(database))  # type: ignore[misc]
    finally:
        database.close()


@pytest.fixture
def make_user(server: ServerProcess) -> Callable[..., User]:
    """Create a user straight in the server's store (a fresh email each call)."""

    def make(*, staff: bool = False, active: bool = True, email: str | None = None) -> User:
        email = email or f"user{next(_numbers)}-{id(server)}@example.com"
        return asyncio.run(
            _with_store(
                server,
                lambda store: store.create_user(email, PASSWORD, is_staff=staff, is_active=active),
            )
        )  # type: ignore[return-value]

    return make


@pytest.fixture
def set_active(server: ServerProcess) -> Callable[[str, bool], None]:
    def change(email: str, active: bool) -> None:
        asyncio.run(_with_store(server, lambda store: store.set_active(email, active)))

    return change


@pytest.fixture
def server_codec(server: ServerProcess) -> Callable[..., TokenCodec]:
    """A TokenCodec holding the server's own keys, with any clock: real, validly signed tokens."""

    def codec(clock: Callable[[], float] | None = None, **options: object) -> TokenCodec:
        key_set = keys.read_key_file(server.data_dir / keys.KEY_FILE_NAME)
        kwargs: dict[str, object] = {"issuer": "authgate", **options}
        if clock is not None:
            kwargs["clock"] = clock
        return TokenCodec(key_set, **kwargs)  # type: ignore[arg-type]

    return codec
