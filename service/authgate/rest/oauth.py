"""The OAuth 2.0 form endpoints, as OAuth client libraries speak them: the token endpoint
(RFC 6749 §3.2) and introspection (RFC 7662).

Their JSON twins are IssueClientToken and IntrospectToken. Here the request is
`application/x-www-form-urlencoded`, the client authenticates with HTTP Basic
(`client_secret_basic`, §2.3.1) or in the body (`client_secret_post`), and errors are RFC 6749
§5.2 JSON (`{"error", "error_description"}`), not problem documents: that is the shape every
OAuth client library parses.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from connexion import request

from authgate import messages
from authgate.core.errors import AuthError, Reason, invalid_request
from authgate.core.operations import AuthCore
from authgate.rest.handlers import client_address

GRANT = "client_credentials"
NO_STORE = {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}


async def token(body: dict[str, str]) -> Any:
    """POST /api/v1/oauth/token: the client credentials grant (RFC 6749 §4.4). The body was
    parsed strictly (validation.StrictFormValidator): each parameter once, well encoded. An
    AuthError raised here is rendered as RFC 6749 JSON (problems.auth_error_problem)."""
    client_id, secret = client_credentials(request.headers.get("authorization"), body)
    if "grant_type" not in body:
        raise invalid_request({"grant_type": ["This field is required."]})
    if body["grant_type"] != GRANT:
        raise AuthError(Reason.UNSUPPORTED_GRANT_TYPE, f"Only the {GRANT} grant is served here.")
    core: AuthCore = request.state.core
    issued = await core.issue_client_token(client_id, secret, body.get("scope"), client_address())
    # RFC 6749 §5.1's body, which the JSON names of IssueClientTokenResponse already are.
    return messages.to_json(messages.client_token_response(issued)), 200, NO_STORE


async def introspect(body: dict[str, str]) -> Any:
    """POST /api/v1/oauth/introspect (RFC 7662): the caller authenticates as a client."""
    client_id, secret = client_credentials(request.headers.get("authorization"), body)
    if not body.get("token"):
        raise invalid_request({"token": ["This field is required."]})
    core: AuthCore = request.state.core
    found = await core.introspect_as_client(client_id, secret, body["token"], client_address())
    return messages.to_json(messages.introspection_response(found)), 200, NO_STORE


def client_credentials(authorization: str | None, form: dict[str, str]) -> tuple[str, str]:
    """The client's id and secret, from HTTP Basic or from the body, never both (§2.3)."""
    posted = "client_id" in form or "client_secret" in form
    if authorization is None:
        return form.get("client_id", ""), form.get("client_secret", "")
    if posted and "client_secret" in form:
        raise invalid_request({"client_secret": ["Use one client authentication method."]})
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise AuthError(Reason.INVALID_CLIENT, "Client authentication failed.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError(Reason.INVALID_CLIENT, "Client authentication failed.") from None
    name, _, secret = decoded.partition(":")
    # §2.3.1: each is form-encoded before it is joined with the colon.
    return unquote_plus(name), unquote_plus(secret)
