"""Fetching AuthGate's keys: its discovery document names the issuer and the JWKS URL, then
the JWKS itself, with how long it may be cached.

The steps are written once, as a generator that yields each URL to GET and is sent the
response; `fetch_keys` drives it with httpx.Client, `afetch_keys` with httpx.AsyncClient, so
an async service never blocks its event loop on a fetch.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass

import httpx
import jwt

from authgate_client.jwks import usable_keys

# RFC 8414 §3 and OpenID Connect Discovery §4; AuthGate serves both, with the same issuer
# and jwks_uri.
DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
# A JWKS response without Cache-Control (AuthGate always sends one) is kept this long, the
# longest max-age AuthGate gives.
DEFAULT_MAX_AGE = 300.0
# A max-age of 0 (or no-store) would make every verification a fetch: at most one a second.
MIN_MAX_AGE = 1.0
TIMEOUT = httpx.Timeout(5.0)
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class FetchFailed(Exception):
    """AuthGate's discovery document or JWKS could not be fetched or made sense of."""


@dataclass(frozen=True)
class Discovered:
    """What discovery tells a verifier: the `iss` to expect, and where the keys are."""

    issuer: str
    jwks_uri: str


@dataclass(frozen=True)
class FetchedKeys:
    discovered: Discovered
    keys: Mapping[str, jwt.PyJWK]
    max_age: float


def fetch_keys(base_url: str, discovered: Discovered | None) -> FetchedKeys:
    """The keys, and the discovery document first unless already `discovered` (blocking)."""
    steps = _Steps(base_url, discovered)
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            url = steps.first
            while url is not None:
                url = steps.send(client.get(url))
    except httpx.HTTPError as error:
        raise FetchFailed(f"{type(error).__name__}: {error}") from error
    return steps.result()


async def afetch_keys(base_url: str, discovered: Discovered | None) -> FetchedKeys:
    """`fetch_keys` on httpx.AsyncClient."""
    steps = _Steps(base_url, discovered)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            url = steps.first
            while url is not None:
                url = steps.send(await client.get(url))
    except httpx.HTTPError as error:
        raise FetchFailed(f"{type(error).__name__}: {error}") from error
    return steps.result()


class _Steps:
    """The fetch as a sequence of GETs: `first` URL, then `send` each response for the next
    one, until None; then `result()`."""

    def __init__(self, base_url: str, discovered: Discovered | None) -> None:
        self._steps = _fetch(base_url.rstrip("/"), discovered)
        self._result: FetchedKeys | None = None
        self.first: str | None = next(self._steps)

    def send(self, response: httpx.Response) -> str | None:
        try:
            return self._steps.send(response)
        except StopIteration as done:
            self._result = done.value
            return None

    def result(self) -> FetchedKeys:
        assert self._result is not None, "the steps have not finished"
        return self._result


def _fetch(
    base_url: str, discovered: Discovered | None
) -> Generator[str, httpx.Response, FetchedKeys]:
    if discovered is None:
        discovered = yield from _discover(base_url)
    response = yield discovered.jwks_uri
    try:
        keys = usable_keys(_json(response))
    except ValueError as error:
        raise FetchFailed(f"{discovered.jwks_uri}: {error}") from None
    return FetchedKeys(discovered, keys, max_age(response.headers.get("cache-control")))


def _discover(base_url: str) -> Generator[str, httpx.Response, Discovered]:
    for path in DISCOVERY_PATHS:
        response = yield base_url + path
        if response.status_code == 404:
            continue
        document = _json(response)
        issuer = document.get("issuer") if isinstance(document, dict) else None
        jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not (isinstance(issuer, str) and issuer and isinstance(jwks_uri, str)):
            raise FetchFailed(f"{base_url}{path} names no issuer and jwks_uri")
        if not jwks_uri.startswith(("https://", "http://")):
            raise FetchFailed(f"{base_url}{path}: jwks_uri {jwks_uri!r} is no HTTP URL")
        return Discovered(issuer, jwks_uri)
    raise FetchFailed(f"{base_url} serves no discovery document")


def _json(response: httpx.Response) -> object:
    if response.status_code != 200:
        raise FetchFailed(f"{response.request.url} answered {response.status_code}")
    try:
        document: object = response.json()
    except ValueError as error:
        raise FetchFailed(f"{response.request.url} sent no JSON") from error
    return document


def max_age(cache_control: str | None) -> float:
    """Seconds a response may be cached by its Cache-Control (RFC 9111 §5.2.2.1), at least
    MIN_MAX_AGE; DEFAULT_MAX_AGE when it says nothing."""
    if cache_control is None:
        return DEFAULT_MAX_AGE
    if re.search(r"\bno-(?:store|cache)\b", cache_control, re.IGNORECASE):
        return MIN_MAX_AGE
    found = _MAX_AGE.search(cache_control)
    return max(MIN_MAX_AGE, float(found.group(1))) if found else DEFAULT_MAX_AGE
