"""AuthGate for gRPC (the `grpc` extra: `pip install 'authgate-client[grpc]'`): services'
interceptors (server.py) and callers' interceptors and call credentials (client.py)."""

from __future__ import annotations

from authgate_client.access_rules import PUBLIC
from authgate_client.grpc.client import BearerTokenInterceptor, aio_interceptors, call_credentials
from authgate_client.grpc.server import AsyncServerAuthInterceptor, ServerAuthInterceptor
from authgate_client.principal import current_principal

__all__ = [
    "PUBLIC",
    "AsyncServerAuthInterceptor",
    "BearerTokenInterceptor",
    "ServerAuthInterceptor",
    "aio_interceptors",
    "call_credentials",
    "current_principal",
]
