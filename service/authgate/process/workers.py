"""`--workers N`: N serving processes sharing both ports (SO_REUSEPORT), one supervisor.

The supervisor fixes the ports (port 0 becomes a concrete free port all workers share),
starts the workers, and, while they import the door stack, migrates the store and makes the
keys and the bootstrap user once; then it lets them open the store and serve. It stops them
together: on SIGTERM or SIGINT it forwards the signal and waits for every worker to drain; if
a worker dies, it stops the rest and exits non-zero, so the process manager can restart the
whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType

from authgate.core.memory import configure_allocator, release_free_memory
from authgate.observability.logs import configure_logging, stop_logging
from authgate.process.event_loop import run_on
from authgate.process.settings import Settings, split_address

log = logging.getLogger("authgate")


def reserve_port(address: str) -> tuple[str, socket.socket]:
    """A concrete address for `address`, with a bound (not listening) socket holding it."""
    host, port = split_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    bound = holder.getsockname()[1]
    return (f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"), holder


async def _prepare(settings: Settings) -> None:
    """Migrate, make the keys and the bootstrap user once, before any worker opens the store."""
    from authgate.process.runtime import (
        open_runtime,  # the store stack: imported while the workers import
    )

    async with open_runtime(settings, follow_algorithm=True) as runtime:
        log.info("store migrated; %d user(s)", await runtime.core.store.count())


def _leave_before_serving(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _worker(settings: Settings, prepared: Connection) -> None:
    # A spawned process starts with glibc's defaults again.
    configure_allocator()
    # Until serve_forever installs its own handlers, a stop means: exit without serving.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _leave_before_serving)
    # A spawned process has no writing thread of its parent's: it starts its own.
    configure_logging(settings.log_level, settings.log_format)
    try:
        _serve_when_prepared(settings, prepared)
    finally:
        stop_logging()  # every queued line is written before the worker exits


def _serve_when_prepared(settings: Settings, prepared: Connection) -> None:
    from authgate.process.server import (
        serve_forever,  # the door stack, about a second, as the store is prepared
    )

    if not prepared.poll():
        log.info("worker %d waiting for the store to be prepared", os.getpid())
    # A pipe, not a multiprocessing.Event: Event.set() waits for every sleeping waiter to
    # wake, so a worker killed while waiting would hang the supervisor.
    try:
        prepared.recv_bytes()
    except EOFError:
        return  # the supervisor is gone without preparing the store: nothing to serve for
    run_on(settings.event_loop, serve_forever(settings, prepare=False))


def supervise(settings: Settings) -> int:
    """Run `settings.workers` workers until a signal; the exit code for the CLI."""
    http_addr, http_holder = reserve_port(settings.http_addr)
    grpc_addr, grpc_holder = reserve_port(settings.grpc_addr)
    # prometheus-client's multiprocess mode: every worker writes its samples here.
    metrics_dir = tempfile.mkdtemp(prefix="authgate-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    worker_settings = dataclasses.replace(settings, http_addr=http_addr, grpc_addr=grpc_addr)
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe(duplex=False) for _ in range(settings.workers)]
    workers: list[BaseProcess] = [
        context.Process(
            target=_worker,
            args=(worker_settings, reader),
            name=f"authgate-worker-{n}",
        )
        for n, (reader, _) in enumerate(pipes)
    ]
    stopping = signalled = False

    def signal_workers() -> None:
        nonlocal signalled
        signalled = True
        for worker in workers:
            if worker.pid and worker.exitcode is None:
                os.kill(worker.pid, signal.SIGTERM)

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        signal_workers()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for worker, (reader, _) in zip(workers, pipes, strict=True):
            worker.start()
            reader.close()  # the worker has its own copy
        # A stop arriving now lets the migration finish (not cut short), then serves nothing.
        asyncio.run(_prepare(settings))
        # Its loop closed before the pool's idle release: the start-up hashes' work areas
        # would stay with the supervisor for good.
        release_free_memory()
        for _, writer in pipes:
            with contextlib.suppress(BrokenPipeError):  # that worker has exited already
                writer.send_bytes(b"prepared")
        log.info("supervising %d workers on %s and %s", len(workers), http_addr, grpc_addr)
        while not stopping and all(worker.exitcode is None for worker in workers):
            time.sleep(0.2)
        if not stopping:
            log.error("a worker exited; stopping the others")
    finally:
        if not signalled:  # a worker exited, or preparing the store failed
            signal_workers()
        deadline = time.monotonic() + settings.shutdown_grace_seconds + 5
        for worker in workers:
            if worker.pid is None:
                continue
            worker.join(max(0.1, deadline - time.monotonic()))
            if worker.exitcode is None:
                worker.kill()
                worker.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for _, writer in pipes:
            writer.close()
        http_holder.close()
        grpc_holder.close()
        for name in os.listdir(metrics_dir):
            os.unlink(os.path.join(metrics_dir, name))
        os.rmdir(metrics_dir)
    codes = [worker.exitcode for worker in workers]
    log.info("stopped (worker exit codes %s)", codes)
    return 0 if stopping and all(code == 0 for code in codes) else 1
