"""The gRPC door's server spans: OpenTelemetry's grpc.aio server interceptor.

Imported only when tracing is on (observability/tracing.py). Its span is named for the method
("/authgate.v1.AuthService/IssueToken"), continues the caller's trace from the W3C
`traceparent` metadata, and records the service, method, status code, peer address and
user agent: no other metadata (so never `authorization`), and no message. Health checks and
reflection make no spans, as the REST probes make none.
"""

from __future__ import annotations

import grpc
from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters
from opentelemetry.sdk.trace import TracerProvider

from authgate.grpc.interceptor import SERVICE_NAME


def tracing_interceptor(provider: TracerProvider) -> grpc.aio.ServerInterceptor:
    """The interceptor making a server span for each AuthService call."""
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=provider, filter_=filters.service_name(SERVICE_NAME)
    )
    return interceptor
