"""ASGI middleware that lets through only requests bearing a valid AuthGate access token
with the scopes their route needs (access_rules.py), for Starlette, FastAPI or any ASGI app:

    verifier = Verifier("https://auth.example.com")
    app = Starlette(routes=..., middleware=[
        Middleware(BearerAuth, verifier=verifier, rules={"GET /invoices*": "invoices:read"}),
    ])
    # FastAPI: app.add_middleware(BearerAuth, verifier=verifier, rules=...)

    async def invoices(request):
        principal = request.state.principal       # or current_principal()

Refusals follow RFC 6750 §3 with a JSON body: no token, 401 with a bare `WWW-Authenticate:
Bearer realm=...`; a bad one, 401 `error="invalid_token"`; a missing scope, 403
`error="insufficient_scope", scope="..."`; AuthGate's keys out of reach past the verifier's
stale bound, 503 (the caller's token is not at fault). WebSocket handshakes are refused with
close code 1008 (policy violation), which servers answer with 403. Pure ASGI: no Starlette
import at run time, and the verification never blocks the event loop (`averify`). CORS
preflights carry no token: put CORSMiddleware outside this one, so that it answers them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from authgate_client.access_rules import PUBLIC, AccessRules, Rules
from authgate_client.bearer import bearer_token
from authgate_client.errors import (
    InsufficientScope,
    InvalidToken,
    MissingToken,
    VerificationUnavailable,
)
from authgate_client.principal import Principal, require_scopes, serving
from authgate_client.verifier import Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# RFC 6455 §7.4.1: the endpoint refuses a message that violates its policy.
POLICY_VIOLATION = 1008


class BearerAuth:
    """The middleware; `realm` names this service in challenges (RFC 6750 §3)."""

    def __init__(
        self, app: ASGIApp, *, verifier: Verifier, rules: Rules | None = None, realm: str = "api"
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.rules = AccessRules(rules)
        self.realm = realm.replace("\\", "\\\\").replace('"', '\\"')

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        # A WebSocket handshake is a GET (RFC 6455 §4.1): it needs what GET needs.
        required = self.rules.required(scope["path"], scope.get("method", "GET"))
        if required is PUBLIC:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._principal(scope, required)
        except (InvalidToken, InsufficientScope) as refusal:
            await self._refuse(scope, send, refusal)
            return
        # A scope of our own: the state dict may be shared with the server's lifespan state.
        scope = {**scope, "state": {**scope.get("state", {}), "principal": principal}}
        with serving(principal):
            await self.app(scope, receive, send)

    async def _principal(self, scope: Scope, required: frozenset[str]) -> Principal:
        values = [
            value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name.lower() == b"authorization"
        ]
        principal = await self.verifier.averify(bearer_token(values))
        require_scopes(principal, required)
        return principal

    async def _refuse(
        self, scope: Scope, send: Send, refusal: InvalidToken | InsufficientScope
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": POLICY_VIOLATION})
            return
        status, challenge, body = self._answer(refusal)
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        if challenge:
            headers.append((b"www-authenticate", challenge.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _answer(self, refusal: InvalidToken | InsufficientScope) -> tuple[int, str, dict[str, str]]:
        """The status, WWW-Authenticate challenge and body for `refusal` (RFC 6750 §3.1)."""
        realm = f'Bearer realm="{self.realm}"'
        description = str(refusal)
        if isinstance(refusal, InsufficientScope):
            scope = " ".join(sorted(refusal.missing))
            return (
                403,
                f'{realm}, error="insufficient_scope", scope="{scope}"',
                {"error": "insufficient_scope", "error_description": description, "scope": scope},
            )
        if isinstance(refusal, MissingToken):
            # RFC 6750 §3.1: no error code when the request carried no credentials.
            return 401, realm, {"error_description": description}
        if isinstance(refusal, VerificationUnavailable):
            return 503, "", {"error": "temporarily_unavailable", "error_description": description}
        return (
            401,
            f'{realm}, error="invalid_token"',
            {"error": "invalid_token", "error_description": description},
        )
