"""What every tier shares: the stores a test runs on, and the tier each test belongs to.

Tiers mirror the layers: `unit/` (no sockets, no subprocesses), `doors/` (both doors served
in-process, in the test's own event loop) and `system/` (real `authgate serve` processes,
generated clients, newman, the browser). `make check` runs the first two on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
