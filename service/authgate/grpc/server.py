"""Starting the gRPC door: AuthService behind its interceptors, with health and reflection."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from authgate.core.operations import AuthCore
from authgate.grpc.interceptor import SERVICE_NAME, AuthServiceInterceptor
from authgate.grpc.observability import GrpcObservability
from authgate.grpc.servicer import AuthServicer
from authgate.observability import tracing
from authgate.v1 import auth_pb2_grpc

# How long shutdown turns new calls away before stopping the server (see GrpcDoor.stop).
DRAIN_SECONDS = 0.25


class GrpcDoor:
    """The running gRPC server with its health status, so shutdown can announce itself."""

    def __init__(
        self,
        server: grpc.aio.Server,
        port: int,
        health: health.aio.HealthServicer,
        guard: AuthServiceInterceptor,
    ):
        self.server = server
        self.port = port
        self.health = health
        self.guard = guard

    async def stop(self, grace: float) -> None:
        # Tell health-checking load balancers first; answer new calls UNAVAILABLE while the
        # calls grpc already accepted but not yet handed over drain (server.stop() would
        # CANCEL those, which no client retries); then stop, letting in-flight calls finish.
        await self.health.enter_graceful_shutdown()
        self.guard.draining = True
        await asyncio.sleep(DRAIN_SECONDS)
        await self.server.stop(grace)


async def start_grpc_door(core: AuthCore, address: str) -> GrpcDoor:
    """Start AuthService with health and reflection on `address` (port 0 picks one)."""
    guard = AuthServiceInterceptor(core)
    interceptors: list[grpc.aio.ServerInterceptor] = [GrpcObservability(), guard]
    if tracing.PROVIDER is not None:
        from authgate.grpc.tracing import tracing_interceptor  # needs the otel extra

        # Outermost, so that the access line's trace id is its span's.
        interceptors.insert(0, tracing_interceptor(tracing.PROVIDER))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            # Between grpc's soft (8 KiB) and hard limits it drops calls at random; one limit
            # makes the answer deterministic: RESOURCE_EXHAUSTED beyond 16 KiB of metadata,
            # and an oversized token below it reaches the token check (UNAUTHENTICATED).
            ("grpc.max_metadata_size", 16384),
            ("grpc.absolute_max_metadata_size", 16384),
            ("grpc.max_receive_message_length", 65536),
        ],
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(core), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_name, reflection.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:  # grpc reports a failed bind this way
        raise OSError(f"cannot bind the gRPC door to {address}: {error}") from error
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return GrpcDoor(server, port, health_servicer, guard)
