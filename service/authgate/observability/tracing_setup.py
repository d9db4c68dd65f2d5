"""The TracerProvider the OTEL_* variables describe (imported only when tracing is on).

The SDK reads its own variables: the sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG),
the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), the batch processor (OTEL_BSP_*)
and each exporter its own (OTEL_EXPORTER_OTLP_ENDPOINT...). Exporters are found by name among
the `opentelemetry_traces_exporter` entry points, as the SDK's own configurator finds them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

# "otlp" is the OpenTelemetry default's name; the extra installs OTLP over HTTP/protobuf.
_ALIASES = {"otlp": "otlp_proto_http"}


def provider_from_environment(exporters: list[str]) -> TracerProvider:
    """A provider exporting through each named exporter, in batches off the event loop."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "authgate"}))
    provider = TracerProvider(resource=resource)
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return provider


def _exporter(name: str) -> SpanExporter:
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found and name in _ALIASES:
        found = entry_points(group="opentelemetry_traces_exporter", name=_ALIASES[name])
    if not found:
        raise ValueError(f"OTEL_TRACES_EXPORTER: no span exporter named {name!r} is installed")
    exporter: SpanExporter = next(iter(found)).load()()
    return exporter
