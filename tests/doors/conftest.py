"""The doors tier: both doors served in-process, on ports 0, in the test's own event loop.

One service per store for the whole tier (`service`); a test that needs other settings
starts its own with `serving(...)`. Each scenario takes `door` and runs once per door.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from door_clients import GrpcDoor, RestDoor, open_door
from in_process import Service, serving


@pytest_asyncio.fixture(scope="session")
async def service(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> AsyncIterator[Service]:
    async with serving(
        tmp_path_factory.mktemp("doors"),
        database_url,
        # Every test client is 127.0.0.1: only the throttling tests test this limit.
        login_limit_per_address="100000/minute",
    ) as running:
        yield running


@pytest_asyncio.fixture(scope="session")
async def rest_door(service: Service) -> AsyncIterator[RestDoor]:
    door = RestDoor(service.http_url)
    yield door
    await door.close()


@pytest_asyncio.fixture(scope="session")
async def grpc_door(service: Service) -> AsyncIterator[GrpcDoor]:
    door = GrpcDoor(service.grpc_target)
    yield door
    await door.close()


@pytest.fixture(params=["rest", "grpc"])
def door(request: pytest.FixtureRequest, service: Service) -> RestDoor | GrpcDoor:
    """Each scenario runs once through each front door (and on each store, via `service`)."""
    return request.getfixturevalue(f"{request.param}_door")


@pytest_asyncio.fixture
async def doors_onto() -> AsyncIterator[Callable[[str, Service], RestDoor | GrpcDoor]]:
    """Doors onto a service a test started itself; closed after the test."""
    opened: list[RestDoor | GrpcDoor] = []

    def make(kind: str, running: Service) -> RestDoor | GrpcDoor:
        opened.append(open_door(kind, running.http_url, running.grpc_target))
        return opened[-1]

    yield make
    for door in opened:
        await door.close()


@pytest.fixture
def make_user(service: Service) -> Callable[..., Any]:
    """`await make_user(staff=..., active=..., email=...)`: a user in the service's store."""
    return service.make_user


@pytest.fixture
def set_active(service: Service) -> Callable[[str, bool], Any]:
    return service.set_active


@pytest.fixture
def server_codec(service: Service) -> Callable[..., Any]:
    """A TokenCodec holding the service's own keys, with any clock: real, validly signed tokens."""

    def codec(clock: Callable[[], float] | None = None, **options: Any) -> Any:
        if clock is not None:
            options["clock"] = clock
        return service.codec(**options)

    return codec


@pytest.fixture(params=["rest", "grpc"])
def door_kind(request: pytest.FixtureRequest) -> str:
    """Which door a scenario on a service of its own goes through: each, in turn."""
    return request.param  # type: ignore[no-any-return]
