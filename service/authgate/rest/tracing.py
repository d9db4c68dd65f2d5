"""The REST door's server spans: OpenTelemetry's ASGI middleware, told to record no secret.

Imported only when tracing is on (observability/tracing.py). The middleware names each span
"METHOD /path" and continues the caller's trace from its W3C `traceparent` header. What it
would record beyond that is cut here:

- request and response headers: never, whatever OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*
  say (an Authorization header, a cookie or an echoed token would land in an attribute);
- the query string: hidden from it, since a caller may put a token there (`?access_token=`);
  the app behind still gets it;
- bodies: it never reads them;
- the per-message "http receive" / "http send" spans: left out (they cost a span each and say
  nothing the server span does not).

/metrics and the probes (/healthz, /readyz) make no spans: scrapes and load balancers would
fill the traces.
"""

from __future__ import annotations

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import ASGIApp, Receive, Scope, Send

_UNTRACED_PATHS = r"/metrics$,/healthz$,/readyz$"
# Where the query string waits, in the scope, while the middleware looks at the request.
_HIDDEN_QUERY = "authgate.hidden_query_string"


def traced_rest_app(app: ASGIApp, provider: TracerProvider) -> ASGIApp:
    """`app` inside a server span per request, recording no header and no query string."""
    middleware = OpenTelemetryMiddleware(
        _ShowQuery(app),
        excluded_urls=_UNTRACED_PATHS,
        tracer_provider=provider,
        exclude_spans=["receive", "send"],
    )
    # The constructor falls back to the environment for an empty list: no capture at all.
    middleware.http_capture_headers_server_request = None
    middleware.http_capture_headers_server_response = None
    return _HideQuery(middleware)


class _HideQuery:
    """Hands the middleware a scope without the query string, kept aside for _ShowQuery."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("query_string"):
            scope = {**scope, "query_string": b"", _HIDDEN_QUERY: scope["query_string"]}
        await self.app(scope, receive, send)


class _ShowQuery:
    """Puts the query string back for the app, behind the middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _HIDDEN_QUERY in scope:
            scope = dict(scope)
            scope["query_string"] = scope.pop(_HIDDEN_QUERY)
        await self.app(scope, receive, send)
