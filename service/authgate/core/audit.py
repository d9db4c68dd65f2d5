"""The audit trail: one JSON line per security event, never a token, password or hash.

Events: login_succeeded, login_failed, login_throttled, token_refreshed, token_revoked,
tokens_revoked_all, refresh_reuse_detected, password_changed, and for signing keys
key_created, key_rotated, key_retired, keys_rewrapped (the `kid` in the reason); for a move
from Django, users_imported and migration_login (a simplejwt refresh token accepted). Each line
names the user (when known), the client address and the reason, on the `authgate.audit` logger.
"""

from __future__ import annotations

import logging
import time

from authgate.observability import metrics
from authgate.observability.logs import log_fields

log = logging.getLogger("authgate.audit")


def audit(event: str, *, user_id: str = "", client: str = "", reason: str = "") -> None:
    """Log a security event and count it (the metrics follow the audit trail)."""
    _count(event, reason)
    if log.isEnabledFor(logging.INFO):
        record = {"ts": round(time.time(), 3), "event": event, "user_id": user_id}
        record.update(client=client, reason=reason)
        log_fields(log, record)


def _count(event: str, reason: str) -> None:
    if event == "login_succeeded":
        metrics.TOKENS_ISSUED.inc()
    elif event in ("login_failed", "login_throttled"):
        metrics.LOGINS_FAILED.labels(
            "throttled" if event == "login_throttled" else "credentials"
        ).inc()
    elif event in ("token_refreshed", "migration_login"):
        metrics.TOKENS_REFRESHED.inc()
    elif event in ("token_revoked", "tokens_revoked_all", "refresh_reuse_detected"):
        metrics.TOKENS_REVOKED.labels(event).inc()
