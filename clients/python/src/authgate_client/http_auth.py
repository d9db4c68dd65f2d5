"""`AuthGateAuth`: an httpx auth that sends a fresh AuthGate access token with every request.

    auth = AuthGateAuth("https://authgate.example", email=email, password=password)
    with httpx.Client(base_url="https://api.example", auth=auth) as client:
        client.get("/api/v1/users/")
    async with httpx.AsyncClient(auth=auth) as client:   # the same auth, shared state
        await client.get("https://api.example/api/v1/users/")

    AuthGateAuth(url, client_id=..., client_secret=..., scope="users:read")  # a service account

The token is renewed before it expires; a request refused with 401 is sent once more with a
renewed token. Request bodies are read into memory first, so that they can be sent again.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncGenerator, Generator
from typing import overload

import httpx

from authgate_client.token_requests import ClientLogin, Login, PasswordLogin
from authgate_client.tokens import DEFAULT_SKEW, TokenKeeper


class AuthGateAuth(httpx.Auth):
    """Bearer authentication with AuthGate tokens, for `httpx.Client` and `httpx.AsyncClient`
    (its `tokens` serve the gRPC interceptors too)."""

    requires_request_body = True  # a request refused with 401 is sent again

    @overload
    def __init__(
        self,
        base_url: str,
        *,
        email: str,
        password: str,
        skew: float = ...,
        timeout: float = ...,
        verify: ssl.SSLContext | bool = ...,
    ) -> None: ...

    @overload
    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        scope: str | None = ...,
        skew: float = ...,
        timeout: float = ...,
        verify: ssl.SSLContext | bool = ...,
    ) -> None: ...

    def __init__(
        self,
        base_url: str,
        *,
        email: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        scope: str | None = None,
        skew: float = DEFAULT_SKEW,
        timeout: float = 10.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        login: Login
        if email is not None and password is not None and client_id is client_secret is None:
            login = PasswordLogin(email, password)
        elif client_id is not None and client_secret is not None and email is password is None:
            login = ClientLogin(client_id, client_secret, scope)
        else:
            raise TypeError("give either email and password, or client_id and client_secret")
        self.tokens = TokenKeeper(base_url, login, skew=skew, timeout=timeout, verify=verify)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tokens={self.tokens!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.read()
        token = self.tokens.access_token()
        response = yield _with_bearer(request, token)
        if response.status_code == 401:
            yield _with_bearer(request, self.tokens.renew_after_refusal(token))

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        token = await self.tokens.access_token_async()
        response = yield _with_bearer(request, token)
        if response.status_code == 401:
            yield _with_bearer(request, await self.tokens.renew_after_refusal_async(token))


def _with_bearer(request: httpx.Request, token: str) -> httpx.Request:
    request.headers["Authorization"] = f"Bearer {token}"
    return request
