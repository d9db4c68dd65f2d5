"""Verify AuthGate's access tokens locally, from the keys its JWKS publishes.

    verifier = Verifier("https://auth.example.com", audience="billing")
    principal = verifier.verify(token)             # blocking: threads, sync frameworks
    principal = await verifier.averify(token)      # async: never blocks the event loop
    principal.require("invoices:read")             # InsufficientScope if it lacks it

Both raise InvalidToken for any token this service must refuse, and its subclass
VerificationUnavailable when AuthGate's keys have been out of reach for longer than
`stale_for`. The issuer and the JWKS URL come from AuthGate's discovery document; the keys
are cached as long as the JWKS response's max-age says (jwks.py has the refetch rules).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable

import jwt

from authgate_client.access_tokens import key_id, principal_of, verified_claims
from authgate_client.feed_check import INTROSPECT, FeedCheck
from authgate_client.jwks import KeyCache
from authgate_client.key_fetch import (
    Discovered,
    FetchedKeys,
    FetchFailed,
    afetch_keys,
    fetch_keys,
)
from authgate_client.principal import Principal

log = logging.getLogger("authgate_client")

# A kid absent from a fresh key set refetches it at most this often: AuthGate publishes a
# key AUTHGATE_KEY_PUBLISH_AHEAD before it signs, so only `keys rotate --now` (a compromised
# key) or a forged token meets an unknown kid, and forged ones must not reach AuthGate.
UNKNOWN_KID_INTERVAL = 30.0
# While AuthGate fails, one attempt this often rather than one per verification.
RETRY_INTERVAL = 5.0


class Verifier:
    """Checks AuthGate's access tokens; thread-safe, and usable from any event loop.

    `audience`: the `aud` this service expects (set when AuthGate sets AUTHGATE_AUDIENCE);
    None refuses tokens that name any audience (RFC 7519 §4.1.3). `leeway`: seconds of clock
    skew allowed on `exp`, `nbf` and `iat`. `stale_for`: seconds the last keys fetched go on
    verifying past their max-age while AuthGate cannot be reached; longer keeps a service up
    through a longer outage, but also keeps a key AuthGate retired verifying that long (the
    default, 300 s, is AuthGate's longest max-age and its default access token lifetime).
    `client_id` and `client_secret`: a client's credentials (holding `revocations:watch`):
    the verifier then follows AuthGate's revocation feed in the background and refuses the
    tokens of deactivated users and clients, of a logout everywhere or a new password, and of
    a retired key, within a second of the change; `when_feed_lost` says what it does when the
    feed has been silent for `feed_stale_after` seconds ("introspect", the default: ask
    AuthGate about each token; "fail_closed": refuse every token; feed_check.py). Without
    credentials only expiry ends a token. `close()` stops the feed.
    `clock`: monotonic seconds for the cache's timing (tests pass their own).
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
        stale_for: float = 300.0,
        when_feed_lost: str = INTROSPECT,
        feed_stale_after: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.audience = audience
        self.leeway = leeway
        self.client_id = client_id
        self._client_secret = client_secret
        self._keys = KeyCache(
            stale_for=stale_for,
            unknown_kid_interval=UNKNOWN_KID_INTERVAL,
            retry_interval=RETRY_INTERVAL,
            clock=clock,
        )
        self._discovered: Discovered | None = None
        # One fetch at a time per kind of caller: the others wait for it, then find the keys.
        self._fetching = threading.Lock()
        self._afetching: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        # Consulted after every other check when credentials were given; None: no feed.
        self._feed: FeedCheck | None = None
        if client_id and client_secret:
            self._feed = FeedCheck(
                self.base_url,
                client_id,
                client_secret,
                when_feed_lost=when_feed_lost,
                stale_after=feed_stale_after,
                on_keys_changed=self._keys.expire,
            )

    def __repr__(self) -> str:  # never the secret
        return f"Verifier({self.base_url!r}, client_id={self.client_id!r})"

    def close(self) -> None:
        """Stop following the revocation feed (a verifier without one has nothing to stop)."""
        if self._feed is not None:
            self._feed.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def verify(self, token: str) -> Principal:
        """The principal of a valid access token; InvalidToken otherwise. May block on a
        fetch of AuthGate's keys: in async code, use `averify`."""
        kid = key_id(token)
        # A caller holding a usable key never queues behind another's fetch: it verifies with
        # the stale key meanwhile (stale-while-revalidate, RFC 5861 §3).
        if self._keys.wants_fetch(kid) and self._fetching.acquire(not self._keys.holds(kid)):
            try:
                began = self._keys.begin_fetch(kid)
                if began is not None:
                    try:
                        self._fetched(began, fetch_keys(self.base_url, self._discovered))
                    except FetchFailed as error:
                        self._failed(error)
            finally:
                self._fetching.release()
        principal = self._principal(token, self._keys.key(kid))
        if self._feed is not None:
            self._feed.check(principal.claims, kid, token)
        return principal

    async def averify(self, token: str) -> Principal:
        """`verify`, fetching AuthGate's keys without blocking the event loop."""
        kid = key_id(token)
        if self._keys.wants_fetch(kid):
            lock = self._afetch_lock()
            if not (lock.locked() and self._keys.holds(kid)):
                async with lock:
                    began = self._keys.begin_fetch(kid)
                    if began is not None:
                        try:
                            fetched = await afetch_keys(self.base_url, self._discovered)
                            self._fetched(began, fetched)
                        except FetchFailed as error:
                            self._failed(error)
        principal = self._principal(token, self._keys.key(kid))
        if self._feed is not None:
            await self._feed.acheck(principal.claims, kid, token)
        return principal

    def _afetch_lock(self) -> asyncio.Lock:
        # An asyncio.Lock belongs to one event loop; a verifier may serve several.
        loop = asyncio.get_running_loop()
        lock = self._afetching.get(loop)
        if lock is None:
            lock = self._afetching[loop] = asyncio.Lock()
        return lock

    def _fetched(self, began: float, fetched: FetchedKeys) -> None:
        self._discovered = fetched.discovered
        self._keys.store(fetched.keys, fetched.max_age, began)

    def _failed(self, error: FetchFailed) -> None:
        log.warning("AuthGate's keys could not be fetched from %s: %s", self.base_url, error)
        self._keys.failed()

    def _principal(self, token: str, key: jwt.PyJWK) -> Principal:
        discovered = self._discovered
        assert discovered is not None, "a key is held only once discovery succeeded"
        claims = verified_claims(
            token, key, issuer=discovered.issuer, audience=self.audience, leeway=self.leeway
        )
        return principal_of(claims)
