"""The system tier: real `authgate serve` processes on ports 0, real users in their stores.

`server` is one process per store for the tier; a test that needs other settings starts its
own with `running_server(...)`. The doors here are blocking clients (door_clients.BlockingDoor).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from accounts import BOOTSTRAP_ADMIN
from door_clients import BlockingDoor
from servers import Account, ServerProcess, create_account, open_door

_numbers = itertools.count()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("authgate-data")
    process = ServerProcess(
        data_dir,
        {
            "AUTHGATE_DATABASE_URL": database_url,
            **BOOTSTRAP_ADMIN,
            # Every test client is 127.0.0.1: only tests/doors/test_security.py tests this limit.
            "AUTHGATE_LOGIN_LIMIT_PER_ADDRESS": "100000/minute",
        },
    ).start()
    yield process
    assert process.stop() == 0, process.log


@pytest.fixture(scope="session")
def rest_door(server: ServerProcess) -> Iterator[BlockingDoor]:
    door = open_door("rest", server)
    yield door
    door.close()


@pytest.fixture(scope="session")
def grpc_door(server: ServerProcess) -> Iterator[BlockingDoor]:
    door = open_door("grpc", server)
    yield door
    door.close()


@pytest.fixture(params=["rest", "grpc"])
def door(request: pytest.FixtureRequest, server: ServerProcess) -> BlockingDoor:
    """Each scenario runs once through each front door (and on each store, via `server`)."""
    return request.getfixturevalue(f"{request.param}_door")


@pytest.fixture
def make_user(server: ServerProcess) -> Callable[..., Account]:
    """Create a user in the server's store the operator's way (`authgate users create`)."""

    def make(*, staff: bool = False) -> Account:
        return create_account(server, f"user{next(_numbers)}-{id(server)}@example.com", staff)

    return make
