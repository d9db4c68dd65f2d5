"""What every tier shares: the stores a test runs on, and the tier each test belongs to.

Tiers mirror the layers: `unit/` (no sockets, no subprocesses), `doors/` (both doors served
in-process, in the test's own event loop) and `system/` (real `authgate serve` processes,
generated clients, newman, the browser). `make check` runs the first two on SQLite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping

import pytest
import uvloop

from databases import temporary_postgres_database

STORES = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
]


@pytest.fixture(scope="session", params=STORES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test that talks to a server runs on both stores: '' is SQLite in the data dir."""
    if request.param == "sqlite":
        yield ""
        return
    with temporary_postgres_database() as url:
        yield url


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The session's loop is uvloop, as `authgate serve`'s is by default: the doors tier serves
    grpc.aio and uvicorn on the loop production serves them on."""
    return {"uvloop": uvloop.new_event_loop}
