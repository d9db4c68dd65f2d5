"""AuthGate's token requests as values: the requests to send and how to read the answers.

`renewal()` does no I/O. It is a generator that yields each `httpx.Request` to send and is
sent back the response, as httpx's own auth flows are, so the blocking and the asyncio sides
of `TokenKeeper` share every rule of the exchange and differ only in how they send.
"""

from __future__ import annotations

import base64
import logging
import math
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import httpx
import jwt

from authgate_client.errors import InvalidCredentials, TokenRequestFailed

log = logging.getLogger(__name__)

LOGIN_PATH = "/api/v1/token/"
REFRESH_PATH = "/api/v1/token/refresh/"
# The RFC 6749 token endpoint, at its fixed path under the base URL rather than discovered
# (RFC 8414): discovery's URLs are built on AuthGate's public URL, which a service calling
# AuthGate by an internal address may not reach.
CLIENT_GRANT_PATH = "/api/v1/oauth/token"


@dataclass(frozen=True)
class PasswordLogin:
    """A user's email and password (`POST /api/v1/token/`)."""

    email: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ClientLogin:
    """A client's id and secret, for the client credentials grant (RFC 6749 §4.4)."""

    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None


Login = PasswordLogin | ClientLogin


@dataclass(frozen=True)
class HeldTokens:
    """The tokens a keeper holds; the times are `time.monotonic()` readings."""

    access: str = field(repr=False)
    renew_at: float
    refresh: str | None = field(default=None, repr=False)
    refresh_until: float | None = None

    def refresh_usable(self) -> bool:
        return self.refresh is not None and (
            self.refresh_until is None or time.monotonic() < self.refresh_until
        )


Renewal = Generator[httpx.Request, httpx.Response, HeldTokens]


def renewal(base_url: str, login: Login, held: HeldTokens | None, skew: float) -> Renewal:
    """New tokens: by the refresh token while it lasts, else (or when AuthGate refuses it,
    revoked or spent) by logging in again. A client has no refresh token (RFC 6749 §4.4.3)."""
    base_url = base_url.rstrip("/")
    if held is not None and held.refresh_usable():
        sent = time.monotonic()
        response = yield httpx.Request(
            "POST", base_url + REFRESH_PATH, json={"refresh": held.refresh}
        )
        if response.status_code == 200:
            return _refreshed(response, held, sent, skew)
        if response.status_code != 401:
            raise _failure(response, TokenRequestFailed)
        log.info("AuthGate refused the refresh token (%s): logging in again", _code(response))
    sent = time.monotonic()
    response = yield _login_request(base_url, login)
    if response.status_code in (400, 401):
        raise _failure(response, InvalidCredentials)
    if response.status_code != 200:
        raise _failure(response, TokenRequestFailed)
    if isinstance(login, ClientLogin):
        body = _body(response)
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else None
        access = _text(response, "access_token")
        log.debug("obtained a client token for %s", login.client_id)
        return HeldTokens(access, _deadline(access, sent, skew, lifetime))
    access, refresh = _text(response, "access"), _text(response, "refresh")
    log.debug("logged in: obtained a token pair")
    return HeldTokens(
        access, _deadline(access, sent, skew), refresh, _deadline(refresh, sent, skew)
    )


def _refreshed(response: httpx.Response, held: HeldTokens, sent: float, skew: float) -> HeldTokens:
    access = _text(response, "access")
    rotated = _body(response).get("refresh")
    if isinstance(rotated, str) and rotated:
        # Refresh rotation: the old refresh token is spent; presenting it again would count
        # as reuse and revoke the whole family (RFC 9700 §4.14.2), so keep only the new one.
        log.debug("refreshed the access token; the refresh token rotated")
        return HeldTokens(
            access, _deadline(access, sent, skew), rotated, _deadline(rotated, sent, skew)
        )
    log.debug("refreshed the access token")
    return HeldTokens(access, _deadline(access, sent, skew), held.refresh, held.refresh_until)


def _login_request(base_url: str, login: Login) -> httpx.Request:
    if isinstance(login, PasswordLogin):
        return httpx.Request(
            "POST", base_url + LOGIN_PATH, json={"email": login.email, "password": login.password}
        )
    # RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined for Basic.
    pair = f"{quote_plus(login.client_id)}:{quote_plus(login.client_secret)}"
    form = {"grant_type": "client_credentials"}
    if login.scope:
        form["scope"] = login.scope
    return httpx.Request(
        "POST",
        base_url + CLIENT_GRANT_PATH,
        data=form,
        headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
    )


def _deadline(token: str, sent: float, skew: float, lifetime: float | None = None) -> float:
    """When to stop using `token`: its lifetime counted from when it was asked for, less the
    skew, but never less than half the lifetime (so a 2 s token serves for 1 s).

    The lifetime is `exp - iat`, both read on AuthGate's clock, so a caller whose clock is off
    still renews in time; the signature is not checked, as the token is only being timed.
    AuthGate writes whole seconds (`iat` rounded down), so a token may live up to 1 s less
    than that from when it was asked for: any skew of 1 s or more (a 2 s token's) covers it.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}
    expires, issued = claims.get("exp"), claims.get("iat")
    if isinstance(expires, int | float) and isinstance(issued, int | float):
        lifetime = float(expires - issued)
    elif isinstance(expires, int | float):
        lifetime = float(expires) - time.time()
    if lifetime is None:
        return math.inf  # no expiry known: renewed when AuthGate refuses it
    return sent + lifetime - min(skew, lifetime / 2)


def _body(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _text(response: httpx.Response, name: str) -> str:
    value = _body(response).get(name)
    if not isinstance(value, str) or not value:
        raise TokenRequestFailed(
            f"AuthGate's answer to {response.request.url.path} has no {name!r}",
            status=response.status_code,
            code="unexpected_response",
        )
    return value


def _code(response: httpx.Response) -> str:
    """The error code of an RFC 9457 problem (`code`) or an RFC 6749 §5.2 error (`error`)."""
    body = _body(response)
    code = body.get("code") or body.get("error")
    return code if isinstance(code, str) else str(response.status_code)


def _failure(response: httpx.Response, kind: type[TokenRequestFailed]) -> TokenRequestFailed:
    body = _body(response)
    detail = body.get("detail") or body.get("error_description") or response.reason_phrase
    code = _code(response)
    return kind(
        f"{response.request.method} {response.request.url.path} answered "
        f"{response.status_code} {code}: {detail}",
        status=response.status_code,
        code=code,
    )
