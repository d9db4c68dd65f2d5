"""Tracing's switch, and the spans AuthGate makes itself: off, and free, unless turned on.

Tracing is on only when the `otel` extra is installed and OTEL_TRACES_EXPORTER names an
exporter (tracing_setup.py). Off, nothing here imports OpenTelemetry: `TRACER` stays None, the
doors are built without instrumentation, and each store call pays one test of `TRACER`.

On, each door's instrumentation (rest/tracing.py, grpc/tracing.py) makes a server span per
request; `trace_methods` and `store_span` add children for the core operation and each store
call, made only under a recording span, so the change log's tail and other background work
make no root spans. Our spans carry names and error types, never arguments or messages: no
token, password or secret reaches an attribute.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the extra may be absent: only the type checker reads these
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

log = logging.getLogger("authgate")

# The module-level switch: None while tracing is off.
TRACER: Tracer | None = None
PROVIDER: TracerProvider | None = None


def start_tracing(environ: Mapping[str, str]) -> bool:
    """Turn tracing on as the OTEL_* variables say; whether it is on.

    The OpenTelemetry SDK reads its own variables (OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER...); AuthGate reads only whether an exporter is
    named, so that with none (unset or "none") OpenTelemetry is not even imported.
    """
    exporters = exporter_names(environ)
    if not exporters or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    try:
        from authgate.observability.tracing_setup import provider_from_environment
    except ImportError:
        log.warning(
            "OTEL_TRACES_EXPORTER is set but the otel extra is not installed"
            " (pip install 'authgate[otel]'): tracing is off"
        )
        return False
    use_provider(provider_from_environment(exporters))
    return True


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The exporters OTEL_TRACES_EXPORTER names; "none", or nothing, means tracing is off."""
    names = [name.strip() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [name for name in names if name and name != "none"]


def use_provider(provider: TracerProvider) -> None:
    """Trace with `provider` from now on (the server's, or a test's in-memory one)."""
    global TRACER, PROVIDER
    PROVIDER, TRACER = provider, provider.get_tracer("authgate")


def stop_tracing() -> None:
    """Export every finished span, then turn tracing off."""
    global TRACER, PROVIDER
    provider, PROVIDER, TRACER = PROVIDER, None, None
    if provider is not None:
        provider.shutdown()


def current_trace_id() -> str | None:
    """The current span's trace id in W3C hex, when its trace is sampled (recorded); else None.

    Sampled, not `is_recording()`: the ASGI middleware ends its span with the response's last
    byte, before the access line is written, and the span is current all the same.
    """
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.trace_flags.sampled else None


@contextmanager
def child_span(name: str, **attributes: str | bool) -> Iterator[None]:
    """A span named `name` under the current one if that one records; nothing otherwise."""
    tracer = TRACER
    if tracer is None:
        yield
        return
    from opentelemetry import trace

    if not trace.get_current_span().is_recording():
        yield
        return
    with tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield
        except BaseException as error:
            # The error's type only: an exception's message may quote what it was given.
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(trace.StatusCode.ERROR, type(error).__name__)
            raise


_STORE_SPAN_NAMES: dict[Callable[..., Any], str] = {}


def store_span(operation: Callable[..., Any], write: bool) -> Any:
    """The span of one store call, named for its operation: "authgate.store users.login_row"."""
    name = _STORE_SPAN_NAMES.get(operation)
    if name is None:
        module = operation.__module__.rsplit(".", 1)[-1]
        name = f"authgate.store {module}.{operation.__name__.lstrip('_')}"
        _STORE_SPAN_NAMES[operation] = name
    return child_span(name, **{"authgate.store.write": write})


def trace_methods(target: object, prefix: str) -> None:
    """Give each public coroutine method of `target` a child span: "{prefix} {name}".

    The instance's own attributes wrap the class's methods, so an untraced instance (every
    one, while tracing is off) calls them with no extra frame.
    """
    for name in dir(type(target)):
        method = getattr(target, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(method):
            continue
        if getattr(method, "__traced__", False):
            continue
        setattr(target, name, _traced(method, f"{prefix} {name}"))


def _traced(method: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(method)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        with child_span(name):
            return await method(*args, **kwargs)

    traced.__traced__ = True  # type: ignore[attr-defined]
    return traced
