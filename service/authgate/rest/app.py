"""The REST door: a Connexion AsyncApp over openapi/authgate.yaml, wired to one AuthCore."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from connexion import AsyncApp
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException, UnsupportedMediaTypeProblem
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from connexion.validators import VALIDATOR_MAP
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate import declared_access
from authgate.core.access import Requirement
from authgate.core.errors import AuthError
from authgate.core.operations import AuthCore
from authgate.rest.handler_calls import DecoratedOnceApi
from authgate.rest.observability import RestObservability
from authgate.rest.problems import (
    auth_error_problem,
    http_error_problem,
    on_the_loop,
    unexpected_error_problem,
)
from authgate.rest.routes import OperationNames
from authgate.rest.security_handlers import SECURITY_MAP
from authgate.rest.validation import (
    FieldErrorsJSONBodyValidator,
    FieldErrorsParameterValidator,
    StrictFormValidator,
)

try:  # libyaml's loader when PyYAML was built with it: 3 ms for our spec, not 35-80 ms
    from yaml import CSafeLoader as SpecLoader
except ImportError:
    from yaml import SafeLoader as SpecLoader  # type: ignore[assignment]


def spec_path() -> Path:
    return Path(str(resources.files("authgate") / "openapi" / "authgate.yaml"))


class PayloadTooLarge(ProblemException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            status=413, title="Content Too Large", detail=f"Request body exceeds {limit} bytes."
        )


class RequestBodyGuard:
    """Refuses request bodies over `limit` bytes, declared or streamed, before parsing them,
    and bodies without a Content-Type (Connexion would hand them to the handler unparsed).

    A chunked body (no Content-Length) is read here, up to the limit, and handed on with its
    length declared: Connexion's validators take a missing Content-Length for an empty body.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length")
        has_body = (declared is not None and declared != b"0") or b"transfer-encoding" in headers
        if has_body and not headers.get(b"content-type"):
            raise UnsupportedMediaTypeProblem(detail="A request body needs a Content-Type.")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                raise PayloadTooLarge(self.limit)
            await self.app(scope, self._limited(receive), send)
        elif b"transfer-encoding" in headers:
            body = await self._read_all(receive)
            scope = {
                **scope,
                "headers": [*scope["headers"], (b"content-length", b"%d" % len(body))],
            }
            await self.app(scope, _replay(body, receive), send)
        else:
            await self.app(scope, receive, send)

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise PayloadTooLarge(self.limit)
            return message

        return limited_receive

    async def _read_all(self, receive: Receive) -> bytes:
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                raise PayloadTooLarge(self.limit)
            more = message.get("more_body", False)
        return b"".join(chunks)


class SwaggerUIOnItsPaths(SwaggerUIMiddleware):
    """Connexion's Swagger UI middleware, for the UI's own paths only.

    It sends every request through a router of its own (the UI's routes, then a default that
    hands the request on): 11 µs of a REST verify's CPU, measured in-process (the app over a
    stub core, py-spy). A request whose path starts with none of the UI's routes (the route's
    text before any `{`, without its last slash, so that a slash redirect still happens)
    could match none of them: it goes on at once, with a copy of its scope, as the default
    would have handed it on.
    """

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.prefixes: tuple[str, ...] = ()

    def add_api(self, specification: Any, **kwargs: Any) -> None:
        super().add_api(specification, **kwargs)
        self.prefixes = tuple(_route_prefixes(self.router.routes, ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self.prefixes):
            await self.app(dict(scope), receive, send)
            return
        await super().__call__(scope, receive, send)


def _route_prefixes(routes: Any, base: str) -> list[str]:
    found = []
    for route in routes:
        path = base + route.path.split("{", 1)[0]
        inner = getattr(route, "routes", None)
        if inner:
            found += _route_prefixes(inner, path)
        else:
            found.append(path.rstrip("/"))
    return found


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay_receive() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay_receive


def operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every (path, operation) of the spec (a path item's `parameters` is no operation)."""
    return [
        (path, operation)
        for path, methods in spec["paths"].items()
        for verb, operation in methods.items()
        if verb != "parameters"
    ]


def load_spec() -> dict[str, Any]:
    """The OpenAPI document, parsed once for Connexion and us."""
    spec: dict[str, Any] = yaml.load(spec_path().read_text(), Loader=SpecLoader)
    return spec


def operations_by_path(spec: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each path of the spec: its operations' names (the handlers', as in the log) by method."""
    return {
        path: {
            verb: operation["operationId"].rsplit(".", 1)[-1]
            for verb, operation in methods.items()
            if verb != "parameters"
        }
        for path, methods in spec["paths"].items()
    }


def access_by_operation(spec: dict[str, Any]) -> dict[str, Requirement]:
    """operationId -> what the proto declares for its RPC (`x-grpc-method`), for token_info."""
    declared = declared_access.requirements()
    found = {}
    for _, operation in operations(spec):
        if "x-grpc-method" in operation:
            rpc = operation["x-grpc-method"].rsplit(".", 1)[-1]
            found[operation["operationId"]] = declared[rpc]
    return found


def oauth_form_paths(spec: dict[str, Any]) -> frozenset[str]:
    """The paths whose every answer is RFC 6749 JSON (`x-error-format: rfc6749`)."""
    return frozenset(
        path for path, operation in operations(spec) if operation.get("x-error-format") == "rfc6749"
    )


def create_rest_app(
    core: AuthCore, *, max_body_bytes: int = 65536, public_url: str = "http://127.0.0.1:8000"
) -> AsyncApp:
    """The REST door over `core`. `public_url` is where clients reach it (AUTHGATE_PUBLIC_URL),
    the base of every absolute URL it publishes; a request's Host header never is."""
    spec = load_spec()
    access = access_by_operation(spec)
    routes = OperationNames(operations_by_path(spec))
    state = {"core": core, "access": access, "public_url": public_url.rstrip("/")}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[dict[str, Any]]:
        # Handlers reach the core through request.state: no module-level state.
        yield state

    validators = dict(VALIDATOR_MAP)
    validators["parameter"] = FieldErrorsParameterValidator
    validators["body"] = MediaTypeDict(
        {
            "*/*json": FieldErrorsJSONBodyValidator,
            "application/x-www-form-urlencoded": StrictFormValidator,
        }
    )

    app = AsyncApp(
        "authgate",
        lifespan=lifespan,
        middlewares=[
            SwaggerUIOnItsPaths if middleware is SwaggerUIMiddleware else middleware
            for middleware in ConnexionMiddleware.default_middlewares
        ],
        swagger_ui_options=SwaggerUIOptions(
            swagger_ui_path="/api/v1/ui", spec_path="/api/v1/openapi.json"
        ),
    )
    # Handlers decorated once per operation, not per request (rest/handler_calls.py).
    app._middleware_app.api_cls = DecoratedOnceApi
    # A dict, not the path: Connexion would parse the file again, with the pure-Python loader.
    app.add_api(spec, validator_map=validators, security_map=SECURITY_MAP, validate_responses=False)
    app.add_middleware(
        RequestBodyGuard, position=MiddlewarePosition.BEFORE_ROUTING, limit=max_body_bytes
    )
    app.add_middleware(
        RestObservability, position=MiddlewarePosition.BEFORE_EXCEPTION, names=routes
    )
    oauth_paths = oauth_form_paths(spec)
    auth_errors = functools.partial(auth_error_problem, oauth_paths=oauth_paths)
    http_errors = functools.partial(http_error_problem, oauth_paths=oauth_paths, routes=routes)
    app.add_error_handler(AuthError, on_the_loop(auth_errors))
    app.add_error_handler(ProblemException, on_the_loop(http_errors))
    app.add_error_handler(HTTPException, on_the_loop(http_errors))
    app.add_error_handler(Exception, on_the_loop(unexpected_error_problem))
    return app
