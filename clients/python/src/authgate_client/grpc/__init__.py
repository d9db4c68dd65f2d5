"""AuthGate for gRPC services (the `grpc` extra: `pip install 'authgate-client[grpc]'`)."""

from __future__ import annotations

from authgate_client.access_rules import PUBLIC
from authgate_client.grpc.server import AsyncServerAuthInterceptor, ServerAuthInterceptor
from authgate_client.principal import current_principal

__all__ = ["PUBLIC", "AsyncServerAuthInterceptor", "ServerAuthInterceptor", "current_principal"]
