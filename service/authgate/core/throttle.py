"""Brute-force protection: failed logins counted per account and per client address.

Counters live in memory by default and in Redis when replicas must share them (the `limits`
library, moving windows). Accounts are keyed by a hash of the normalized email, so an
unknown email is throttled exactly like a real one and no email is stored in Redis.
"""

from __future__ import annotations

import hashlib
import math
import time

import limits
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from authgate.core.errors import AuthError, Reason


def throttled(retry_after: int) -> AuthError:
    error = AuthError(Reason.THROTTLED, "Too many failed attempts; retry later.")
    error.retry_after = retry_after
    return error


class LoginThrottle:
    def __init__(self, redis_url: str, per_account: str, per_address: str) -> None:
        if redis_url:
            storage = storage_from_string(f"async+{redis_url}", implementation="redispy")
        else:
            storage = storage_from_string("async+memory://")
        self.limiter = MovingWindowRateLimiter(storage)
        self.per_account = limits.parse(per_account)
        self.per_address = limits.parse(per_address)

    def _counters(self, email: str, address: str) -> list[tuple[limits.RateLimitItem, str, str]]:
        account = hashlib.sha256(email.encode()).hexdigest()[:32]
        counters = [(self.per_account, "login-account", account)]
        if address:
            counters.append((self.per_address, "login-address", address))
        return counters

    async def check(self, email: str, address: str) -> None:
        """Raise AuthError(THROTTLED) with a retry delay when either counter is exhausted."""
        try:
            for item, scope, key in self._counters(email, address):
                if not await self.limiter.test(item, scope, key):
                    stats = await self.limiter.get_window_stats(item, scope, key)
                    raise throttled(max(1, math.ceil(stats.reset_time - time.time())))
        except AuthError:
            raise
        except Exception as error:  # Redis unreachable: refuse rather than skip protection
            raise AuthError(Reason.UNAVAILABLE, "The rate limiter is unavailable.") from error

    async def record_failure(self, email: str, address: str) -> None:
        try:
            for item, scope, key in self._counters(email, address):
                await self.limiter.hit(item, scope, key)
        except Exception as error:
            raise AuthError(Reason.UNAVAILABLE, "The rate limiter is unavailable.") from error
