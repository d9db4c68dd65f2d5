"""The unit tier: no sockets and no subprocesses. A test that opens either fails here."""

from __future__ import annotations

import socket
import subprocess

import pytest


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
