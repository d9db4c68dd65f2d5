"""Keep one caller's AuthGate access token fresh, for httpx and gRPC alike.

    keeper = TokenKeeper("https://authgate.example", PasswordLogin(email, password))
    token = keeper.access_token()                 # or: await keeper.access_token_async()
    ...                                           # the call is refused with 401/UNAUTHENTICATED:
    token = keeper.renew_after_refusal(token)     # renewed once, whoever asks; retry once

`AuthGateAuth` (httpx) and the gRPC interceptors are thin shells around one of these.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time

import httpx

from authgate_client.single_flight import Flight
from authgate_client.token_requests import ClientLogin, HeldTokens, Login, Renewal, renewal

DEFAULT_SKEW = 30.0  # seconds before expiry to renew; at most half a token's lifetime


class TokenKeeper:
    """Obtains tokens, renews them before they expire (and once when refused), and makes
    every concurrent caller, blocking or async, wait for the same single renewal."""

    def __init__(
        self,
        base_url: str,
        login: Login,
        *,
        skew: float = DEFAULT_SKEW,
        timeout: float = 10.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.login = login
        self.skew = skew
        self._timeout = timeout
        self._verify = verify
        # Guards the two fields below only; never held while a request is in flight.
        self._lock = threading.Lock()
        self._held: HeldTokens | None = None
        self._flight: Flight[HeldTokens] | None = None

    def __repr__(self) -> str:
        who = (
            f"client_id={self.login.client_id!r}"
            if isinstance(self.login, ClientLogin)
            else f"email={self.login.email!r}"
        )
        return f"{type(self).__name__}({self.base_url!r}, {who})"

    def access_token(self) -> str:
        """A token to send now, renewed first when it is due (blocking)."""
        return self._obtain(refused=None)

    def renew_after_refusal(self, refused: str) -> str:
        """A token to retry with after `refused` was refused: a renewed one, or the one
        another caller has renewed meanwhile (blocking)."""
        return self._obtain(refused)

    async def access_token_async(self) -> str:
        """`access_token()`, awaiting any renewal instead of blocking the event loop."""
        return await self._obtain_async(refused=None)

    async def renew_after_refusal_async(self, refused: str) -> str:
        """`renew_after_refusal()`, awaiting the renewal."""
        return await self._obtain_async(refused)

    def _obtain(self, refused: str | None) -> str:
        while True:
            claim = self._usable_or_flight(refused, loop=None)
            if isinstance(claim, str):
                return claim
            flight, steps = claim
            if steps is None:  # another caller renews: wait for its outcome
                held = flight.wait()
                if held is None:
                    continue  # it was abandoned: try again
                return held.access
            try:
                held = self._send(steps)
            except BaseException as error:
                self._land(flight, None, error)
                raise
            self._land(flight, held, None)
            return held.access

    async def _obtain_async(self, refused: str | None) -> str:
        while True:
            claim = self._usable_or_flight(refused, asyncio.get_running_loop())
            if isinstance(claim, str):
                return claim
            flight, steps = claim
            if steps is None:
                held = await flight.wait_async()
                if held is None:
                    continue
                return held.access
            try:
                held = await self._send_async(steps)
            except BaseException as error:  # a cancellation too: the flight must land
                self._land(flight, None, error)
                raise
            self._land(flight, held, None)
            return held.access

    def _usable_or_flight(
        self, refused: str | None, loop: asyncio.AbstractEventLoop | None
    ) -> str | tuple[Flight[HeldTokens], Renewal | None]:
        """The held token when it may be sent (not due, not the one refused); else the
        renewal in flight to wait for, or a new one for this caller to fly, with its steps."""
        with self._lock:
            held = self._held
            if held is not None and held.access != refused and time.monotonic() < held.renew_at:
                return held.access
            if self._flight is not None:
                return self._flight, None
            self._flight = Flight(loop)
            return self._flight, renewal(self.base_url, self.login, held, self.skew)

    def _land(
        self, flight: Flight[HeldTokens], held: HeldTokens | None, error: BaseException | None
    ) -> None:
        with self._lock:
            if held is not None:
                self._held = held
            self._flight = None
        # An Exception reaches every waiter; a cancellation only abandons the flight.
        flight.land(held, error if isinstance(error, Exception) else None)

    def _send(self, steps: Renewal) -> HeldTokens:
        with httpx.Client(timeout=self._timeout, verify=self._verify) as client:
            request = next(steps)
            while True:
                try:
                    request = steps.send(client.send(request))
                except StopIteration as done:
                    held: HeldTokens = done.value
                    return held

    async def _send_async(self, steps: Renewal) -> HeldTokens:
        # A client per renewal: an AsyncClient belongs to one event loop, and the keeper may
        # serve several; renewals come once per half lifetime, so the new connection is cheap.
        async with httpx.AsyncClient(timeout=self._timeout, verify=self._verify) as client:
            request = next(steps)
            while True:
                try:
                    request = steps.send(await client.send(request))
                except StopIteration as done:
                    held: HeldTokens = done.value
                    return held
