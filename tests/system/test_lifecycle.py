"""`authgate serve` as a real process: announcing its doors, file modes, signals, restarts."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from authgate.process.key_setup import KEK_FILE_NAME
from authgate.v1 import auth_pb2, auth_pb2_grpc

from servers import ServerProcess

EMAIL = "root@example.com"
PASSWORD = "correct horse battery"
BOOTSTRAP = {"AUTHGATE_BOOTSTRAP_EMAIL": EMAIL, "AUTHGATE_BOOTSTRAP_PASSWORD": PASSWORD}
IN_FLIGHT = 10


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"  # absent: the server creates it


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir, BOOTSTRAP).start()
    yield process
    process.stop()  # a no-op when the test stopped it already


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the checks that only look at it."""
    process = ServerProcess(tmp_path_factory.mktemp("lifecycle") / "data", BOOTSTRAP).start()
    yield process
    assert process.stop() == 0, process.log


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def ports(server: ServerProcess) -> dict[str, int]:
    return {
        "rest": port_of(httpx.URL(server.http_url).netloc.decode()),
        "grpc": port_of(server.grpc_target),
    }


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


def login(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        response = client.post("/api/v1/token/", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access"])


def serve_once(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`authgate serve` expected to fail at start; a deadline in case it serves instead."""
    return subprocess.run(
        [sys.executable, "-m", "authgate", "serve"],
        env={
            **os.environ,
            "AUTHGATE_DATA_DIR": str(data_dir),
            "AUTHGATE_HTTP_ADDR": "127.0.0.1:0",
            "AUTHGATE_GRPC_ADDR": "127.0.0.1:0",
            **env,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# starting


def test_log_announces_both_doors_on_real_ports(running: ServerProcess) -> None:
    rest = re.search(r"rest listening on http://127\.0\.0\.1:(\d+)$", running.log, re.M)
    grpc_ = re.search(r"grpc listening on 127\.0\.0\.1:(\d+)$", running.log, re.M)

    assert rest and grpc_, running.log
    rest_port, grpc_port = int(rest.group(1)), int(grpc_.group(1))
    assert 0 not in (rest_port, grpc_port)
    assert rest_port != grpc_port
    assert accepts(rest_port) and accepts(grpc_port)


def test_a_server_that_migrated_its_new_store_does_not_keep_alembic(
    running: ServerProcess,
) -> None:
    # `running` started on an empty data directory, so it migrated. SQLAlchemy (which Alembic
    # runs on) maps its compiled extensions into any process that imports it.
    assert running.process is not None
    assert (running.data_dir / "authgate.sqlite3").exists()
    maps = Path(f"/proc/{running.process.pid}/maps").read_text()

    assert "sqlalchemy" not in maps


def test_the_generated_key_encryption_key_is_readable_by_the_owner_only(
    running: ServerProcess,
) -> None:
    mode = stat.S_IMODE((running.data_dir / KEK_FILE_NAME).stat().st_mode)

    assert mode == 0o600, oct(mode)
    assert not (running.data_dir / "keys.json").exists()  # the signing keys are in the store


def test_data_dir_is_closed_to_other_users(running: ServerProcess) -> None:
    mode = stat.S_IMODE(running.data_dir.stat().st_mode)

    assert mode & 0o007 == 0, oct(mode)


@pytest.mark.parametrize("variable", ["AUTHGATE_HTTP_ADDR", "AUTHGATE_GRPC_ADDR"])
def test_port_in_use_fails_with_one_line_error(data_dir: Path, variable: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = serve_once(data_dir, {variable: f"127.0.0.1:{port}"})

    assert result.returncode not in (0, None), result.stderr
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("authgate: error:")]
    assert len(errors) == 1, result.stderr


# stopping


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_with_exit_0(server: ServerProcess, sig: int) -> None:
    assert server.stop(sig) == 0, server.log
    assert "stopped" in server.log
    # Written by the logging thread: every queued line reaches stderr before the process ends.
    assert server.lines[-1].endswith(" INFO authgate stopped\n"), server.log


def test_stopped_server_refuses_new_connections_on_both_ports(server: ServerProcess) -> None:
    bound = ports(server)
    assert server.stop() == 0, server.log

    assert {door: accepts(port) for door, port in bound.items()} == {"rest": False, "grpc": False}


class InFlight:
    """Calls started on worker threads; each records its outcome and when it finished."""

    def __init__(self) -> None:
        self.outcomes: list[Any] = []
        self.finished: list[float] = []
        self.sent = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, call: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                outcome = call()
            except Exception as error:  # the test reports it, whatever it is
                outcome = error
            with self._lock:
                self.outcomes.append(outcome)
                self.finished.append(time.monotonic())

        thread = threading.Thread(target=run)
        thread.start()
        self._threads.append(thread)

    def wait_sent(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        for _ in range(count):
            assert self.sent.acquire(timeout=max(0.0, deadline - time.monotonic()))

    def join(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def test_sigterm_lets_accepted_rest_logins_finish(server: ServerProcess) -> None:
    # Connections opened (and accepted) beforehand, so every login below is accepted work.
    clients = [httpx.Client(base_url=server.http_url, timeout=20) for _ in range(IN_FLIGHT)]
    calls = InFlight()

    def trace(event: str, _info: object) -> None:
        if event == "http11.send_request_body.complete":
            calls.sent.release()

    try:
        for client in clients:
            assert client.get("/healthz").status_code == 200
        for client in clients:
            calls.start(
                lambda client=client: (
                    client.post(
                        "/api/v1/token/",
                        json={"email": EMAIL, "password": PASSWORD},
                        extensions={"trace": trace},
                    ).status_code
                )
            )
        calls.wait_sent(IN_FLIGHT)
        signalled = time.monotonic()
        code = server.stop(signal.SIGTERM)
        calls.join()
    finally:
        for client in clients:
            client.close()

    assert calls.outcomes == [200] * IN_FLIGHT
    assert code == 0, server.log
    assert max(calls.finished) > signalled, "every login ended before SIGTERM: nothing tested"


def test_sigterm_lets_accepted_grpc_logins_finish(server: ServerProcess) -> None:
    finished: list[float] = []
    with grpc.insecure_channel(server.grpc_target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        request = auth_pb2.IssueTokenRequest(email=EMAIL, password=PASSWORD)
        futures = [stub.IssueToken.future(request, timeout=20) for _ in range(IN_FLIGHT)]
        for future in futures:
            future.add_done_callback(lambda _done: finished.append(time.monotonic()))
        # gRPC has no "request sent" hook; a moment for the calls to reach the server, far
        # shorter than the ~0.5 s the batch of argon2 verifications takes. (Nothing else runs
        # here meanwhile: a thread per call, started first, once took longer than the batch
        # on a loaded machine, and SIGTERM came after every login had ended.)
        time.sleep(0.05)
        signalled = time.monotonic()
        code = server.stop(signal.SIGTERM)
        outcomes = [bool(future.result().access) for future in futures]

    assert outcomes == [True] * IN_FLIGHT
    assert code == 0, server.log
    assert max(finished) > signalled, "every login ended before SIGTERM: nothing tested"


# restarting


def test_restart_keeps_users_and_signing_key(data_dir: Path, server: ServerProcess) -> None:
    access = login(server.http_url)
    assert server.stop() == 0, server.log

    again = ServerProcess(data_dir).start()
    try:
        with httpx.Client(base_url=again.http_url, timeout=10) as client:
            response = client.get("/api/v1/users/", headers={"Authorization": f"Bearer {access}"})
    finally:
        assert again.stop() == 0, again.log

    assert response.status_code == 200, response.text
    assert [user["email"] for user in response.json()["users"]] == [EMAIL]
