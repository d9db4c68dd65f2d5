"""The unit tier: no sockets and no subprocesses. A test that opens either fails here."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from authgate.core.admin import Administration
from authgate.core.operations import AuthCore
from authgate.store.users import UserStore

from unit_fixtures import open_core, open_store


class TierViolation(AssertionError):
    """A unit test reached for the network or another process: it belongs in doors/ or system/."""


def _refuse(what: str):  # type: ignore[no-untyped-def]
    def refuse(*args: object, **kwargs: object) -> None:
        raise TierViolation(f"unit tests may not {what}")

    return refuse


@pytest.fixture(autouse=True)
def no_sockets_or_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "bind", _refuse("bind a socket"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a subprocess"))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[UserStore]:
    """A migrated UserStore on a SQLite file of the test's own."""
    async with open_store(tmp_path) as store:
        yield store


@pytest.fixture
async def core_and_admin(tmp_path: Path) -> AsyncIterator[tuple[AuthCore, Administration]]:
    async with open_core(tmp_path) as core_and_admin:
        yield core_and_admin


@pytest.fixture
def core(core_and_admin: tuple[AuthCore, Administration]) -> AuthCore:
    """An AuthCore over a store of the test's own (see unit_fixtures.open_core)."""
    return core_and_admin[0]


@pytest.fixture
def admin(core_and_admin: tuple[AuthCore, Administration]) -> Administration:
    """The operator's actions on the same store as `core`."""
    return core_and_admin[1]
