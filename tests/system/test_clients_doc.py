"""docs/clients.md stays true: each example of the client library runs, as a reader would run
it, against the live server; the protected services it shows refuse what they must."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import httpx
import pytest

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from servers import ServerProcess, cli
from toolchain import ROOT

DOC = (ROOT / "docs" / "clients.md").read_text()


def block(marker: str) -> str:
    match = re.search(rf"<!-- clients:{re.escape(marker)} -->\n```python\n(.*?)```", DOC, re.S)
    assert match, f"docs/clients.md has no block marked {marker!r}"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def credentials(server: ServerProcess) -> dict[str, str]:
    """A client that may list users and follow the feed, as the examples' environment."""
    created = json.loads(cli(server, "clients", "create", "--name", "docs", "--json",
                             "--scope", "users:read", "--scope", "revocations:watch"))  # fmt: skip
    return {"CLIENT_ID": created["client_id"], "CLIENT_SECRET": created["client_secret"]}


def runnable(code: str, server: ServerProcess) -> str:
    return code.replace("http://authgate.example:8000", server.http_url).replace(
        "authgate.example:50051", server.grpc_target
    )


@pytest.mark.parametrize("example", ["call-httpx", "call-grpc", "call-grpc-aio"])
def test_each_call_example_lists_the_users(server, credentials, example):
    result = subprocess.run(
        [sys.executable, "-c", runnable(block(example), server)],
        env={**os.environ, **credentials}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ADMIN_EMAIL in result.stdout


@contextmanager
def running(code: str, credentials: dict[str, str], port: int) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, **credentials},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0]
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the example service did not start"
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def tokens(server: ServerProcess, credentials: dict[str, str]) -> dict[str, str]:
    """A staff user's token (it holds users:read) and a client's that holds only
    revocations:watch."""
    login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    staff = httpx.post(f"{server.http_url}/api/v1/token/", json=login, timeout=30)
    narrow = httpx.post(
        f"{server.http_url}/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "scope": "revocations:watch"},
        auth=(credentials["CLIENT_ID"], credentials["CLIENT_SECRET"]), timeout=30,
    )  # fmt: skip
    return {"staff": staff.json()["access"], "narrow": narrow.json()["access_token"]}


def test_the_protected_starlette_app_refuses_what_it_must(server, credentials, tokens):
    port = free_port()
    code = runnable(block("protect-starlette"), server)
    code += (
        f"\nimport uvicorn\nuvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning')\n"
    )
    with (
        running(code, credentials, port),
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        missing = http.get("/invoices")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
        bad = http.get("/invoices", headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
        narrow = http.get("/invoices", headers={"Authorization": f"Bearer {tokens['narrow']}"})
        assert narrow.status_code == 403
        assert 'error="insufficient_scope"' in narrow.headers["www-authenticate"]
        good = http.get("/invoices", headers={"Authorization": f"Bearer {tokens['staff']}"})
        assert good.status_code == 200 and good.json()["for"]


def test_the_protected_grpc_service_refuses_what_it_must(server, credentials, tokens):
    port = free_port()
    code = runnable(block("protect-grpc-aio"), server).replace("[::]:50061", f"127.0.0.1:{port}")
    with running(code, credentials, port), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        who_am_i = channel.unary_unary("/demo.Demo/WhoAmI")

        def call(token: str | None) -> bytes:
            metadata = [("authorization", f"Bearer {token}")] if token else None
            return who_am_i(b"", metadata=metadata, timeout=10)

        for token, code_expected in (
            (None, grpc.StatusCode.UNAUTHENTICATED),
            ("not-a-token", grpc.StatusCode.UNAUTHENTICATED),
            (tokens["narrow"], grpc.StatusCode.PERMISSION_DENIED),
        ):
            with pytest.raises(grpc.RpcError) as refused:
                call(token)
            assert refused.value.code() == code_expected
        assert call(tokens["staff"])
