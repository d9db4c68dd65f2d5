"""The REST floor: a minimal Connexion AsyncApp doing AuthGate's JWT work and nothing else.

Same framework stack as AuthGate's REST door (Connexion 3 AsyncApp under uvicorn, started the
way authgate.process.server starts it: its socket, stdlib asyncio loop, no access log), same
request schemas and bearer security (floor_openapi.yaml), but the handlers only decode and
encode JWTs (floor_work.py) and return a fixed page: no database, no core. AuthGate's
throughput as a fraction of this is what our own code costs.

    .venv/bin/python bench/floor_rest.py --key-file KEY.pem [--workers N] [--port 0]
        [--login EMAIL PASSWORD]

Prints `rest listening on http://127.0.0.1:PORT` on stderr once every worker listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import floor_work
import uvicorn
from connexion import AsyncApp

from authgate.process.server import bind_socket

SPEC = Path(__file__).with_name("floor_openapi.yaml")
JSON = {"Content-Type": "application/json"}
Reply = tuple[dict[str, Any], int, dict[str, str]]
_PAGE: dict[str, Any] = {}


def _unauthorized(detail: str) -> Reply:
    return {"detail": detail, "code": "token_not_valid"}, 401, JSON


async def bearer_info(token: str) -> dict[str, Any] | None:
    try:
        claims = floor_work.decode(token, "access")
    except floor_work.InvalidToken:
        return None  # Connexion answers 401
    return {"sub": claims["sub"]}


async def issue_token(body: dict[str, Any]) -> Reply:
    try:
        refresh, access = await floor_work.login(body["email"], body["password"])
    except floor_work.WrongCredentials as error:
        return {"detail": str(error), "code": "no_active_account"}, 401, JSON
    return {"refresh": refresh, "access": access}, 200, JSON


async def refresh_token(body: dict[str, Any]) -> Reply:
    try:
        claims = floor_work.decode(body["refresh"], "refresh")
    except floor_work.InvalidToken as error:
        return _unauthorized(str(error))
    return {"access": floor_work.encode(claims["sub"], "access")}, 200, JSON


async def verify_token(body: dict[str, Any]) -> Reply:
    try:
        floor_work.decode(body["token"], None)
    except floor_work.InvalidToken as error:
        return _unauthorized(str(error))
    return {}, 200, JSON


async def list_users(token_info: dict[str, Any], pageSize: int = 0, pageToken: str = "") -> Reply:
    if not _PAGE:
        _PAGE.update(floor_work.fixed_page_json())
    return _PAGE, 200, JSON


async def readyz() -> Reply:
    return {"status": "ok"}, 200, JSON


class _Server(uvicorn.Server):
    # As authgate.process.server: signals are ours, so the workers stop after the server.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(sock: socket.socket, on_ready: Any) -> None:
    app = AsyncApp("floor")
    app.add_api(SPEC)
    server = _Server(
        uvicorn.Config(app, lifespan="on", log_config=None, access_log=False, server_header=False)
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, setattr, server, "should_exit", True)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.01)
    on_ready(sock.getsockname()[1])
    await task


def main() -> None:
    args = floor_work.parse_args(__doc__.split("\n\n")[0])
    floor_work.load_args(args)
    sock = bind_socket(f"127.0.0.1:{args.port}", reuse_port=args.child or args.workers > 1)
    if args.child:
        asyncio.run(serve(sock, lambda _port: floor_work.announce_child_ready()))
        return
    # The first process binds (port 0 becomes concrete), then starts the others on its port.
    children = floor_work.start_siblings(__file__, args, sock.getsockname()[1])
    try:

        def ready(port: int) -> None:
            print(f"rest listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)

        asyncio.run(serve(sock, ready))
    finally:
        floor_work.stop_siblings(children)


if __name__ == "__main__":
    main()
