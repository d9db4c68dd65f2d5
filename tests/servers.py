"""Start the real `authgate serve` on ephemeral ports and find its addresses in its log."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from accounts import BOOTSTRAP_ADMIN, PASSWORD, with_key_encryption_key
from door_clients import BlockingDoor

if TYPE_CHECKING:
    from in_process import Service

_REST = re.compile(r"rest listening on (http://[\w.:\[\]]+)")
_GRPC = re.compile(r"grpc listening on ([\w.:\[\]]+)")


class ServerProcess:
    """One `authgate serve` process; its stderr is collected for the test to read."""

    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, *, with_stdout: bool = False
    ) -> None:
        self.data_dir = data_dir
        # Its stdout in the collected lines too (a console span exporter writes there).
        self.with_stdout = with_stdout
        self.env = with_key_encryption_key(
            {
                **os.environ,
                "AUTHGATE_DATA_DIR": str(data_dir),
                "AUTHGATE_HTTP_ADDR": "127.0.0.1:0",
                "AUTHGATE_GRPC_ADDR": "127.0.0.1:0",
                **(env or {}),
            }
        )
        self.lines: list[str] = []
        self.http_url = ""
        self.grpc_target = ""
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "authgate", "serve"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if self.with_stdout else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self.with_stdout else subprocess.PIPE,
            text=True,
            # A group of its own: stop() can end workers that outlived their supervisor.
            start_new_session=True,
        )
        self._collector = threading.Thread(target=self._collect, daemon=True)
        self._collector.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"authgate serve exited early:\n{self.log}")
            log = self.log
            rest, grpc = _REST.search(log), _GRPC.search(log)
            if rest and grpc:
                self.http_url, self.grpc_target = rest.group(1), grpc.group(1)
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"authgate serve did not report its addresses:\n{self.log}")

    def _collect(self) -> None:
        assert self.process is not None
        stream = self.process.stdout if self.with_stdout else self.process.stderr
        assert stream is not None
        for line in stream:
            self.lines.append(line)

    @property
    def database_url(self) -> str:
        """The store this server uses (its own SQLite file unless a URL was given)."""
        return self.env.get("AUTHGATE_DATABASE_URL") or (
            f"sqlite:///{self.data_dir / 'authgate.sqlite3'}"
        )

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group()
                self.process.wait()
        self._collector.join(timeout=5)
        if self._collector.is_alive():
            # A worker that outlived its supervisor still holds the stderr pipe, so the
            # collector never reads its end, and closing the pipe under it would block.
            self._kill_group()
            self._collector.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return self.process.returncode

    def _kill_group(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.05,
    report: Callable[[], str] | None = None,
) -> float:
    """Poll until `predicate()` holds; the seconds it took. Fails after `timeout`, saying
    `report()` (or the predicate's docstring) at that moment."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(
                f"not within {timeout} s: {report() if report else predicate.__doc__ or predicate}"
            )
        time.sleep(interval)
    return time.monotonic() - start


def wait_for_lines(server: ServerProcess, text: str, count: int, timeout: float = 20) -> None:
    wait_for(lambda: server.log.count(text) >= count, timeout, report=lambda: server.log)


def logged_fields(line: str, logger: str) -> dict[str, object] | None:
    """The JSON object a line of `logger` carries (access and audit lines), else None."""
    fields = line.partition(f" {logger} ")[2]
    return json.loads(fields) if fields.startswith("{") else None


def start_workers(data_dir: Path, count: int, env: dict[str, str] | None = None) -> ServerProcess:
    """`authgate serve` with `count` workers, returned once every one of them listens."""
    server = ServerProcess(data_dir, {"AUTHGATE_WORKERS": str(count), **(env or {})}).start()
    try:
        wait_for_lines(server, "rest listening on", count)
    except AssertionError:
        server.stop()
        raise
    return server


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()]


def worker_pids(server: ServerProcess) -> list[int]:
    """The serving workers (the spawn context also starts a resource tracker: no sockets)."""
    assert server.process is not None
    return [
        child
        for child in children(server.process.pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


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


def open_door(kind: str, server: ServerProcess) -> BlockingDoor:
    """A door of the given kind onto a server process (one a test module starts itself)."""
    return BlockingDoor(kind, server.http_url, server.grpc_target)


@dataclass(frozen=True)
class Account:
    id: str
    email: str


def cli(server: ServerProcess | Service, *words: str, stdin: str = "") -> str:
    """Run `authgate WORDS...` against the server's store (its environment), the server a
    process or served in-process; its output. The command must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "authgate", *words],
        input=stdin, env=server.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_account(server: ServerProcess, email: str, staff: bool = False) -> Account:
    """`authgate users create` against the server's store, with PASSWORD; the new account."""
    created = cli(
        server, "users", "create", "--email", email, "--password-stdin",
        *(["--staff"] if staff else []), stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    found = re.search(r"created (\S+) \((\w+)\)", created)
    assert found, created
    return Account(id=found.group(2), email=found.group(1))
