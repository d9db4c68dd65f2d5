"""One process, one event loop, both doors: grpc.aio and Connexion's AsyncApp under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from authgate.core import passwords
from authgate.core.operations import AuthCore
from authgate.grpc.server import start_grpc_door
from authgate.observability import tracing
from authgate.observability.stalls import watching_stalls
from authgate.process.event_loop import loop_kind
from authgate.process.runtime import open_runtime
from authgate.process.settings import Settings, split_address
from authgate.rest.app import create_rest_app

log = logging.getLogger("authgate")

# How long a thread holding the GIL keeps it from a thread that asks (Python's default: 5 ms).
# The event loop shares it with the store's threads and the change log's tail, and on a busy
# worker each of them waited that long at each step. Side by side in eight 2-minute soaks at
# 300 requests/s, 1 ms cut the median refusal lag from 33.5 to 21.5 ms, at the same CPU a
# request (docs/benchmarks-history.md, Soak).
GIL_SWITCH_INTERVAL = 0.001


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
    log.info("serving on the %s event loop", loop_kind(loop))
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    # Workers share the machine's cores: each hashes on its share of them.
    passwords.share_cores(settings.workers)
    # Each worker traces on its own: the batch exporter's thread does not cross a spawn.
    if tracing.start_tracing(os.environ):
        log.info("tracing on: exporting spans to %s", os.environ["OTEL_TRACES_EXPORTER"])
    try:
        async with open_runtime(
            settings, prepare=prepare, serving=True, caching=True, follow_algorithm=True
        ) as runtime:
            if not stop.is_set():
                await _serve_doors(runtime.core, settings, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        tracing.stop_tracing()  # exports the spans still in its batch
    log.info("stopped")


async def _serve_doors(core: AuthCore, settings: Settings, stop: asyncio.Event) -> None:
    async with running_doors(core, settings) as doors, watching_stalls():
        _freeze_startup_objects()
        log.info("rest listening on http://%s", doors.rest_address)
        log.info("grpc listening on %s", doors.grpc_address)
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({doors.rest_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        log.info("shutting down: draining in-flight requests")


def _freeze_startup_objects() -> None:
    """Leave what start-up made (about 90,000 objects: modules, the OpenAPI spec, the stubs)
    out of every later garbage collection. Each full collection scanned them all: 40 to 50 ms
    with the event loop stopped, every 2 to 3 s under load, which was REST refresh's p99 at
    one worker; frozen, a full collection takes 0.3 ms. Start-up's own garbage goes first."""
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class RunningDoors:
    """Both doors, listening; `rest_task` ends if uvicorn stops by itself."""

    rest_address: str
    grpc_address: str
    rest_task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def running_doors(core: AuthCore, settings: Settings) -> AsyncIterator[RunningDoors]:
    """Both doors serving `core` on this event loop; on exit, both drain and stop.

    `authgate serve` runs this until a signal; the in-process door tests run it around a test.
    """
    try:
        rest_socket = bind_socket(settings.http_addr, reuse_port=settings.workers > 1)
    except OSError as error:
        raise OSError(f"cannot bind the REST door to {settings.http_addr}: {error}") from error
    with rest_socket:
        rest_host, rest_port = rest_socket.getsockname()[:2]
        public_url = settings.public_url or f"http://{_display(rest_host, rest_port)}"
        rest_app: ASGIApp = create_rest_app(
            core, max_body_bytes=settings.max_body_bytes, public_url=public_url
        )
        if tracing.PROVIDER is not None:
            from authgate.rest.tracing import traced_rest_app  # needs the otel extra

            rest_app = traced_rest_app(rest_app, tracing.PROVIDER)
            tracing.trace_methods(core, "authgate.core")
        rest_server = _RestServer(
            uvicorn.Config(
                rest_app,
                lifespan="on",
                log_config=None,
                access_log=False,
                server_header=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            )
        )
        grpc_door = await start_grpc_door(core, settings.grpc_addr)
        rest_task = asyncio.create_task(rest_server.serve(sockets=[rest_socket]))
        try:
            # uvicorn exposes no start event; its `started` flag flips once it accepts.
            while not rest_server.started and not rest_task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if not rest_server.started:
                await rest_task  # its exception, if it raised one
                raise OSError("the REST door stopped while starting")
            grpc_host = split_address(settings.grpc_addr)[0]
            yield RunningDoors(
                _display(rest_host, rest_port), _display(grpc_host, grpc_door.port), rest_task
            )
        finally:
            core.revocations.close()  # feed streams end now, not at the end of the grace
            rest_server.should_exit = True
            await asyncio.gather(grpc_door.stop(settings.shutdown_grace_seconds), rest_task)
