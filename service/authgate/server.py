"""One process, one event loop, both doors: grpc.aio and Connexion's AsyncApp under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import uvicorn

from . import passwords
from .core import AuthCore
from .grpc_api import start_grpc_door
from .rest_app import create_rest_app
from .runtime import open_runtime
from .settings import Settings, split_address

log = logging.getLogger("authgate")


class _RestServer(uvicorn.Server):
    # serve() installs its own handlers and re-raises the signal after shutdown, which would
    # kill the process before the gRPC door drains; serve_forever() handles signals instead.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(address: str, *, reuse_port: bool = False) -> socket.socket:
    host, port = split_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
    # with proto 0, a response body written after its headers waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _display(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve_forever(settings: Settings, *, prepare: bool = True) -> None:
    """Serve both doors until SIGTERM or SIGINT, then drain in-flight calls and return."""
    # Handlers first: a signal during start-up (migrations, binding) also stops cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Workers share the machine's cores: each hashes on its share of them.
    passwords.share_cores(settings.workers)
    try:
        async with open_runtime(settings, prepare=prepare, serving=True) as runtime:
            if not stop.is_set():
                await _serve_doors(runtime.core, settings, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")


async def _serve_doors(core: AuthCore, settings: Settings, stop: asyncio.Event) -> None:
    try:
        rest_socket = bind_socket(settings.http_addr, reuse_port=settings.workers > 1)
    except OSError as error:
        raise OSError(f"cannot bind the REST door to {settings.http_addr}: {error}") from error
    with rest_socket:
        rest_host, rest_port = rest_socket.getsockname()[:2]
        rest_server = _RestServer(
            uvicorn.Config(
                create_rest_app(core, max_body_bytes=settings.max_body_bytes),
                lifespan="on",
                log_config=None,
                access_log=False,
                server_header=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            )
        )
        grpc_door = await start_grpc_door(core, settings.grpc_addr)
        rest_task = asyncio.create_task(rest_server.serve(sockets=[rest_socket]))
        # uvicorn exposes no start event; its `started` flag flips once it accepts.
        while not rest_server.started and not rest_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        grpc_host = split_address(settings.grpc_addr)[0]
        log.info("rest listening on http://%s", _display(rest_host, rest_port))
        log.info("grpc listening on %s", _display(grpc_host, grpc_door.port))

        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({rest_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        log.info("shutting down: draining in-flight requests")
        rest_server.should_exit = True
        await asyncio.gather(grpc_door.stop(settings.shutdown_grace_seconds), rest_task)
        stop_task.cancel()
