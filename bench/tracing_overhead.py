"""What tracing costs per request: CPU of one REST and one gRPC ListUsers, tracing off and on.

Both doors are served in this process on ports 0 (the assembly `authgate serve` runs) and
called through real sockets, one request at a time; the figure is the process's CPU time per
request (client and server: the client's share is the same in every mode), the least of
several batches. Modes:

- off: the extra installed, no exporter named (the same code path as the extra absent);
- on, batch: every span sampled, through the BatchSpanProcessor `authgate serve` uses, to an
  exporter that drops them (the export's own cost is the exporter's, not AuthGate's);
- on, in-memory: every span kept by the SDK's InMemorySpanExporter through a
  SimpleSpanProcessor (exported on the event loop as each span ends).

    .venv/bin/python bench/tracing_overhead.py [--requests 300] [--batches 7]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from authgate.observability import tracing
from authgate.process.runtime import open_runtime
from authgate.process.server import running_doors
from authgate.process.settings import Settings
from authgate.v1 import auth_pb2, auth_pb2_grpc

EMAIL, PASSWORD = "bench@example.com", "bench-password-1"


class DroppingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def provider_for(mode: str) -> TracerProvider | None:
    if mode == "off":
        return None
    provider = TracerProvider()
    if mode == "on, batch":
        provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    return provider


async def measure(mode: str, requests: int, batches: int) -> dict[str, float]:
    provider = provider_for(mode)
    if provider is not None:
        tracing.use_provider(provider)
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            data_dir=Path(data),
            http_addr="127.0.0.1:0",
            grpc_addr="127.0.0.1:0",
            bootstrap_email=EMAIL,
            bootstrap_password=PASSWORD,
        )
        try:
            async with (
                open_runtime(settings, caching=True) as runtime,
                running_doors(runtime.core, settings) as doors,
                httpx.AsyncClient(base_url=f"http://{doors.rest_address}") as http,
                grpc.aio.insecure_channel(doors.grpc_address) as channel,
            ):
                login = {"email": EMAIL, "password": PASSWORD}
                access = (await http.post("/api/v1/token/", json=login)).json()["access"]
                bearer = {"Authorization": f"Bearer {access}"}
                stub = auth_pb2_grpc.AuthServiceStub(channel)
                metadata = [("authorization", f"Bearer {access}")]

                async def rest() -> None:
                    assert (await http.get("/api/v1/users/", headers=bearer)).status_code == 200

                async def grpc_call() -> None:
                    await stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=metadata)

                return {
                    "rest": await least_cpu(rest, requests, batches),
                    "grpc": await least_cpu(grpc_call, requests, batches),
                }
        finally:
            tracing.stop_tracing()


async def least_cpu(call: object, requests: int, batches: int) -> float:
    """The least CPU time per request over `batches` batches of `requests`, in µs."""
    assert callable(call)
    for _ in range(50):  # warm-up: connections, caches, first-call code paths
        await call()
    best = float("inf")
    for _ in range(batches):
        started = time.process_time()
        for _ in range(requests):
            await call()
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--batches", type=int, default=7)
    args = parser.parse_args()
    results = {}
    for mode in ("off", "on, batch", "on, in-memory"):
        results[mode] = await measure(mode, args.requests, args.batches)
    off = results["off"]
    print("| mode | REST ListUsers, µs CPU per request | gRPC ListUsers |")
    print("| --- | --- | --- |")
    for mode, figures in results.items():
        cells = [
            f"{figures[door]:.0f}"
            + ("" if mode == "off" else f" (+{figures[door] - off[door]:.0f})")
            for door in ("rest", "grpc")
        ]
        print(f"| {mode} | {' | '.join(cells)} |")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
