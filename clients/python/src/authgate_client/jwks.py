"""AuthGate's public keys as the verifier caches them, and when to ask for them again.

No I/O here: the verifier fetches (blocking or async, key_fetch.py) when `begin_fetch` says
so, and reports the outcome with `store` or `failed`. The rules:

- the key set is fresh for the JWKS response's `Cache-Control: max-age`;
- a `kid` missing from a fresh set refetches it, but at most once per `unknown_kid_interval`
  after the last attempt, so a flood of tokens with invented kids cannot hammer AuthGate
  (AuthGate publishes a key before it signs, so a genuine kid is never long unknown);
- while AuthGate fails, one attempt per `retry_interval`, and the last keys go on verifying
  for `stale_for` seconds past their freshness; after that every token is refused with
  VerificationUnavailable (fail closed).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping

import jwt

from authgate_client.errors import InvalidToken, VerificationUnavailable

# AuthGate publishes EdDSA, ES256 or RS256 keys, never its HS256 secret: a verifier that
# accepted HMAC could be handed a token "signed" with a public key (RFC 8725 §2.1).
ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "ES256", "RS256"})


def usable_keys(document: object) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document (RFC 7517 §5) by kid, each with the algorithm its
    `alg` names; keys without a kid, of another use or algorithm, or malformed, are left out.
    Raises ValueError when the document is no JWKS at all."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise ValueError("the JWKS document has no list of keys")
    usable = {}
    for jwk in keys:
        if not isinstance(jwk, dict):
            continue
        kid, algorithm = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str) or algorithm not in ASYMMETRIC_ALGORITHMS:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            # The algorithm is the key's own; PyJWK refuses a key whose kty does not fit it.
            usable[kid] = jwt.PyJWK(jwk, algorithm)
        except jwt.PyJWTError:
            continue
    return usable


class KeyCache:
    """The last key set fetched, its freshness, and the fetch schedule (module docstring)."""

    def __init__(
        self,
        *,
        stale_for: float,
        unknown_kid_interval: float,
        retry_interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.stale_for = stale_for
        self.unknown_kid_interval = unknown_kid_interval
        self.retry_interval = retry_interval
        self.clock = clock
        self._keys: Mapping[str, jwt.PyJWK] = {}
        self._fresh_until = -math.inf
        self._last_attempt = -math.inf
        self._last_failed = False
        # Held for a few comparisons, never across a fetch: safe in async code too.
        self._lock = threading.Lock()

    def wants_fetch(self, kid: str) -> bool:
        """Whether looking up `kid` now calls for a fetch first (a cheap check before the
        caller takes its fetch lock; `begin_fetch` decides)."""
        return self._wants_fetch(kid, self.clock())

    def begin_fetch(self, kid: str) -> float | None:
        """The time a fetch begins if looking up `kid` calls for one now, else None. The
        attempt counts from then, so no other caller starts one under the same rule."""
        with self._lock:
            now = self.clock()
            if not self._wants_fetch(kid, now):
                return None
            self._last_attempt = now
            return now

    def _wants_fetch(self, kid: str, now: float) -> bool:
        fresh = now < self._fresh_until
        if fresh and kid in self._keys:
            return False
        since_attempt = now - self._last_attempt
        if self._last_failed and since_attempt < self.retry_interval:
            return False
        return not fresh or since_attempt >= self.unknown_kid_interval

    def store(self, keys: Mapping[str, jwt.PyJWK], max_age: float, began: float) -> None:
        """The fetch `begin_fetch` began at `began` returned `keys`, fresh for `max_age`."""
        with self._lock:
            self._keys = keys
            self._fresh_until = began + max_age
            self._last_failed = False

    def expire(self) -> None:
        """AuthGate says its keys changed (the revocation feed): the next lookup fetches them,
        whatever the max-age and the unknown-kid interval say. The keys held serve meanwhile."""
        with self._lock:
            now = self.clock()
            self._fresh_until = min(self._fresh_until, now)
            self._last_attempt = -math.inf

    def failed(self) -> None:
        """The fetch begun last failed; the keys held, if any, go on serving while stale."""
        with self._lock:
            self._last_failed = True

    def holds(self, kid: str) -> bool:
        """Whether `key(kid)` would answer with a key now (fresh or within the stale bound)."""
        return kid in self._keys and self.clock() < self._fresh_until + self.stale_for

    def key(self, kid: str) -> jwt.PyJWK:
        """The key `kid`; InvalidToken if AuthGate has no such key, VerificationUnavailable
        once the keys held are past their stale bound (or none was ever fetched)."""
        if self.clock() >= self._fresh_until + self.stale_for:
            raise VerificationUnavailable("AuthGate's keys are out of reach; no token is trusted")
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("the token is signed by a key AuthGate does not publish")
        return key
