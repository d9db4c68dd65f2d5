"""RFC 9457 problem responses: the REST door's one table from errors to statuses."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from authgate.core.errors import AuthError, Code, Reason
from authgate.rest.routes import OperationNames

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

HTTP_STATUS = {
    Code.INVALID_ARGUMENT: 400,
    Code.UNAUTHENTICATED: 401,
    Code.PERMISSION_DENIED: 403,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.UNAVAILABLE: 503,
}

# Errors the HTTP stack raises before the core is reached, by status.
_HTTP_CODES = {
    400: Reason.INVALID_REQUEST.slug,
    401: Reason.NOT_AUTHENTICATED.slug,
    403: Reason.PERMISSION_DENIED.slug,
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

REALM = 'Bearer realm="authgate"'

ErrorHandler = Callable[[ConnexionRequest, Exception], ConnexionResponse]


def on_the_loop(
    handler: ErrorHandler,
) -> Callable[[ConnexionRequest, Exception], Awaitable[ConnexionResponse]]:
    """`handler` as a coroutine function, which Connexion awaits on the event loop. A plain
    function it runs in a thread pool (`run_in_threadpool`): on a busy worker every error
    answer then waited for a thread and the GIL, and a refused token cost far more than an
    accepted one (see `docs/benchmarks-history.md`, the soaks of 16:25 to 18:43)."""

    async def answer_on_the_loop(request: ConnexionRequest, error: Exception) -> ConnexionResponse:
        return handler(request, error)

    return answer_on_the_loop


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> ConnexionResponse:
    body: dict[str, object] = {
        "type": f"urn:authgate:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", REALM)
    return ConnexionResponse(
        status_code=status,
        body=json.dumps(body),
        content_type=PROBLEM_JSON,
        mimetype=PROBLEM_JSON,
        headers=headers,
    )


# RFC 6749 §5.2's error codes, on the OAuth form endpoints; any other refusal there is one of
# these too, so that an OAuth client library can read it.
_OAUTH_ERRORS = {
    Reason.INVALID_CLIENT: (401, "invalid_client"),
    Reason.INVALID_SCOPE: (400, "invalid_scope"),
    Reason.UNSUPPORTED_GRANT_TYPE: (400, "unsupported_grant_type"),
    Reason.THROTTLED: (429, "temporarily_unavailable"),
    Reason.UNAVAILABLE: (503, "temporarily_unavailable"),
}


def rfc6749_error(error: AuthError) -> ConnexionResponse:
    """An AuthError as RFC 6749 §5.2 JSON: `{"error", "error_description"}`."""
    status, code = _OAUTH_ERRORS.get(error.reason, (400, "invalid_request"))
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        # §5.2: a 401 names the scheme the client may authenticate with.
        headers["WWW-Authenticate"] = 'Basic realm="authgate"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return _oauth_response(status, code, error.detail, headers)


def _oauth_response(
    status: int, code: str, description: str, headers: dict[str, str]
) -> ConnexionResponse:
    body = json.dumps({"error": code, "error_description": description})
    return ConnexionResponse(
        status_code=status,
        body=body,
        content_type="application/json",
        mimetype="application/json",
        headers=headers,
    )


def auth_error_problem(
    request: ConnexionRequest, error: Exception, *, oauth_paths: frozenset[str] = frozenset()
) -> ConnexionResponse:
    """An AuthError as a problem document; on the OAuth form endpoints (`oauth_paths`, those
    the OpenAPI document marks `x-error-format: rfc6749`), as RFC 6749 JSON."""
    assert isinstance(error, AuthError)
    if request.scope.get("path") in oauth_paths:
        return rfc6749_error(error)
    headers = {}
    if error.reason is Reason.TOKEN_NOT_VALID:
        # RFC 6750 §3: error="invalid_token" only when a token was presented and refused.
        headers["WWW-Authenticate"] = f'{REALM}, error="invalid_token"'
    elif error.reason is Reason.INSUFFICIENT_SCOPE:
        # RFC 6750 §3.1: the scope the request would need.
        headers["WWW-Authenticate"] = (
            f'{REALM}, error="insufficient_scope", scope="{error.required_scope}"'
        )
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return problem(
        HTTP_STATUS[error.code],
        error.reason.slug,
        error.detail,
        errors=error.field_errors,
        headers=headers,
    )


def http_error_problem(
    request: ConnexionRequest,
    error: Exception,
    *,
    oauth_paths: frozenset[str] = frozenset(),
    routes: OperationNames | None = None,
) -> ConnexionResponse:
    """Errors from Connexion and Starlette (routing, security, validation) in our format."""
    assert isinstance(error, HTTPException)
    status = error.status_code
    if status == 405 and routes is not None:
        # Starlette lists only the methods of the first route that matched the path; one
        # path has a route per operation, so the Allow header comes from the document.
        allow = routes.allow(request.scope.get("path", ""))
        if allow is not None:
            error.headers = {**(error.headers or {}), "Allow": allow}
    if request.scope.get("path") in oauth_paths:
        detail = error.detail if isinstance(error.detail, str) else HTTPStatus(status).phrase
        return _oauth_response(status, "invalid_request", detail, dict(error.headers or {}))
    if status == 401:
        # Connexion raises 401 here only when no usable Bearer credentials were sent.
        return problem(
            401, Reason.NOT_AUTHENTICATED.slug, "Authentication credentials were not provided."
        )
    code = _HTTP_CODES.get(status, "error")
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(status).phrase
    return problem(status, code, detail, headers=dict(error.headers or {}))


def unexpected_error_problem(_request: ConnexionRequest, error: Exception) -> ConnexionResponse:
    log.error("unhandled error", exc_info=error)
    return problem(500, "internal", "Internal error.")
