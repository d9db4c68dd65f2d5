"""The revocation check of a Verifier given a client's credentials: AuthGate's revocation feed,
followed in the background, and what to do when it is lost.

While the feed is current (heard from within `stale_after` seconds: AuthGate sends a
heartbeat every second), a token is checked against what it said, from memory. Past that:

- `when_feed_lost="introspect"` (the default): each token is asked of AuthGate's
  introspection endpoint (RFC 7662), which honours every revocation, until the feed is back;
  if AuthGate cannot answer that either, the token is refused as unverifiable (503).
- `when_feed_lost="fail_closed"`: every token is refused as unverifiable until the feed is
  back. For services that must not add a call to AuthGate per request, or must not accept a
  token AuthGate has not vouched for within the bound.

The client needs the `revocations:watch` scope (`authgate clients create --scope
revocations:watch`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from authgate_client.errors import InvalidToken, VerificationUnavailable
from authgate_client.revocations import FeedFollower
from authgate_client.token_requests import ClientLogin
from authgate_client.tokens import TokenKeeper

INTROSPECT = "introspect"
FAIL_CLOSED = "fail_closed"
INTROSPECTION_PATH = "/api/v1/oauth/introspect"
TIMEOUT = httpx.Timeout(5.0)


class FeedCheck:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        when_feed_lost: str = INTROSPECT,
        stale_after: float = 3.0,
        on_keys_changed: Callable[[], None] = lambda: None,
    ) -> None:
        if when_feed_lost not in (INTROSPECT, FAIL_CLOSED):
            raise ValueError(f"when_feed_lost must be {INTROSPECT!r} or {FAIL_CLOSED!r}")
        self.base_url = base_url.rstrip("/")
        self.when_feed_lost = when_feed_lost
        self._credentials = (client_id, client_secret)
        self._tokens = TokenKeeper(
            self.base_url, ClientLogin(client_id, client_secret, "revocations:watch")
        )
        self._token = ""
        self.follower = FeedFollower(
            self.base_url,
            self._feed_token,
            stale_after=stale_after,
            on_keys_changed=on_keys_changed,
        )
        self.follower.start()

    def __repr__(self) -> str:  # never the secret
        return f"FeedCheck({self.base_url!r}, client_id={self._credentials[0]!r})"

    def close(self) -> None:
        self.follower.stop()

    def check(self, claims: Mapping[str, Any], kid: str, token: str) -> None:
        """Raise InvalidToken if the token was revoked (blocking: may ask AuthGate)."""
        if self._from_feed(claims, kid):
            return
        try:
            with httpx.Client(timeout=TIMEOUT) as http:
                reply = http.post(**self._introspection(token))
        except httpx.HTTPError as error:
            raise _unverifiable(error) from error
        _require_active(reply)

    async def acheck(self, claims: Mapping[str, Any], kid: str, token: str) -> None:
        """`check`, asking AuthGate without blocking the event loop."""
        if self._from_feed(claims, kid):
            return
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                reply = await http.post(**self._introspection(token))
        except httpx.HTTPError as error:
            raise _unverifiable(error) from error
        _require_active(reply)

    def _from_feed(self, claims: Mapping[str, Any], kid: str) -> bool:
        """True when the feed settled it (the token stands); raises when it refuses it, or
        when the feed is lost and this check fails closed; False: ask AuthGate."""
        follower = self.follower
        if follower.is_current():
            reason = follower.state.refusal(claims, kid)
            if reason is not None:
                raise InvalidToken(f"the token was revoked: {reason}")
            return True
        if self.when_feed_lost == FAIL_CLOSED:
            raise VerificationUnavailable("AuthGate's revocation feed is out of reach")
        return False

    def _introspection(self, token: str) -> dict[str, Any]:
        return {
            "url": self.base_url + INTROSPECTION_PATH,
            "data": {"token": token, "token_type_hint": "access_token"},
            "auth": self._credentials,
        }

    def _feed_token(self, renew: bool) -> str:
        """A client token holding `revocations:watch`; a new one when the last was refused."""
        self._token = (
            self._tokens.renew_after_refusal(self._token)
            if renew and self._token
            else self._tokens.access_token()
        )
        return self._token


def _require_active(reply: httpx.Response) -> None:
    if reply.status_code != 200:
        raise VerificationUnavailable(f"AuthGate's introspection answered {reply.status_code}")
    if reply.json().get("active") is not True:
        raise InvalidToken("the token was revoked (AuthGate's introspection)")


def _unverifiable(error: httpx.HTTPError) -> VerificationUnavailable:
    return VerificationUnavailable(f"AuthGate is out of reach ({type(error).__name__})")
