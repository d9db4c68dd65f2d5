"""The client library's tests run against the real `authgate serve`, started here on ports 0
(the repository's test helpers in tests/ start it and read its addresses)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from servers import ServerProcess, running_server

StartServer = Callable[..., ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """`start_server(access_token_lifetime="2", ...)`: a server of the test's own, with the
    bootstrap admin (accounts.ADMIN_EMAIL, accounts.ADMIN_PASSWORD), stopped after the test."""
    stack: list[Iterator[ServerProcess]] = []

    def start(**settings: str) -> ServerProcess:
        started = running_server(tmp_path / f"server-{len(stack)}", **settings)
        stack.append(started)
        return started.__enter__()

    yield start
    for started in reversed(stack):
        started.__exit__(None, None, None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a module's tests that need nothing special of it."""
    with running_server(
        tmp_path_factory.mktemp("client-library"), login_limit_per_address="100000/minute"
    ) as process:
        yield process
