"""What AuthGate's revocation feed has said, and a thread that follows it.

The feed (`GET /api/v1/revocations/watch`, newline-delimited JSON) sends every change that may
revoke tokens, in order, then each new one as it commits, and a heartbeat every second.
`RevocationState` keeps what matters to a verifier of access tokens:

- `user_deactivated`, `user_deleted`, `client_deactivated`: every token of the subject is
  refused, until `user_activated` / `client_activated` (AuthGate accepts them again then too);
- `password_set`, `tokens_revoked`: tokens whose `ver` claim is below the event's `version`;
- `scopes_changed`: tokens issued before the change (their `scope` may say too much: the
  caller refreshes and gets one that does not);
- `key_retired`: tokens signed by that key; `key_added`, `key_changed`: the JWKS changed.

Kinds it does not know are skipped: AuthGate may add kinds.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from authgate_client.errors import AuthGateError

log = logging.getLogger(__name__)

FEED_PATH = "/api/v1/revocations/watch"
# AuthGate sends a heartbeat every second: this much silence means the stream is gone.
READ_TIMEOUT = 5.0


@dataclass
class RevocationState:
    inactive: set[str] = field(default_factory=set)
    min_versions: dict[str, int] = field(default_factory=dict)
    issued_after: dict[str, float] = field(default_factory=dict)
    retired_kids: set[str] = field(default_factory=set)
    seq: int = 0  # every event up to here is applied

    def apply(self, revocation: Mapping[str, Any]) -> str:
        """Apply one `revocation` event; its kind."""
        subject, kind = str(revocation["subject"]), str(revocation["kind"])
        if kind in ("user_deactivated", "user_deleted", "client_deactivated"):
            self.inactive.add(subject)
        elif kind in ("user_activated", "client_activated"):
            self.inactive.discard(subject)
        elif kind in ("password_set", "tokens_revoked") and "version" in revocation:
            version = int(revocation["version"])
            self.min_versions[subject] = max(version, self.min_versions.get(subject, 0))
        elif kind == "scopes_changed":
            # `iat` is in whole seconds: a token from the change's own second is kept.
            self.issued_after[subject] = math.floor(_seconds(revocation["notBefore"]))
        elif kind == "key_retired":
            self.retired_kids.add(subject.removeprefix("key:"))
        self.seq = max(self.seq, int(revocation["seq"]))
        return kind

    def refusal(self, claims: Mapping[str, Any], kid: str) -> str | None:
        """Why the feed says this token is revoked, or None."""
        subject = str(claims.get("sub", ""))
        if subject in self.inactive:
            return "its subject is inactive or deleted"
        if kid in self.retired_kids:
            return "its signing key was retired"
        floor = self.min_versions.get(subject)
        version = claims.get("ver", 0)
        if floor is not None and isinstance(version, int) and version < floor:
            return "it was revoked (logout everywhere, or a new password)"
        cutoff = self.issued_after.get(subject)
        issued = claims.get("iat")
        if cutoff is not None and isinstance(issued, int) and issued < cutoff:
            return "its subject's scopes changed after it was issued"
        return None


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class FeedFollower:
    """Follows the feed on a daemon thread, reconnecting after the last event applied.

    `token(renew)` returns a client access token holding `revocations:watch` (a new one when
    `renew`); `on_keys_changed()` is called when a signing key was added, moved or retired.
    `is_current()` says whether the feed was heard from within `stale_after` seconds.
    """

    def __init__(
        self,
        base_url: str,
        token: Callable[[bool], str],
        *,
        stale_after: float = 3.0,
        on_keys_changed: Callable[[], None] = lambda: None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.stale_after = stale_after
        self._on_keys_changed = on_keys_changed
        self._transport = transport
        self.state = RevocationState()
        self._heard_at = -math.inf
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()  # set once the first stream is caught up

    def __repr__(self) -> str:
        return f"FeedFollower({self.base_url!r}, seq={self.state.seq})"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="authgate-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(READ_TIMEOUT + 1)

    def is_current(self) -> bool:
        return time.monotonic() - self._heard_at <= self.stale_after

    def _run(self) -> None:
        delay, renew = 0.1, False
        with httpx.Client(base_url=self.base_url, transport=self._transport) as http:
            while not self._stopping.is_set():
                try:
                    self._follow(http, self._token(renew))
                    renew = False
                except _Refused as refused:
                    renew = refused.status == 401 or refused.reason == "TOKEN_NOT_VALID"
                    log.warning("revocation feed: %s", refused)
                except (httpx.HTTPError, AuthGateError, ValueError, KeyError) as error:
                    log.warning("revocation feed lost: %s", type(error).__name__)
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, 2.0)

    def _follow(self, http: httpx.Client, token: str) -> None:
        params = {"afterSeq": str(self.state.seq)}
        headers = {"Authorization": f"Bearer {token}"}
        timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
        with http.stream(
            "GET", FEED_PATH, params=params, headers=headers, timeout=timeout
        ) as reply:
            if reply.status_code != 200:
                body = json.loads(reply.read() or b"{}")
                raise _Refused(reply.status_code, str(body.get("code", "")).upper())
            self._apply_stream(_messages(reply.iter_lines()))

    def _apply_stream(self, messages: Iterator[Mapping[str, Any]]) -> None:
        # Until the first heartbeat the stream replays what was missed: applied to a copy, and,
        # if the heartbeat says `reset`, to an empty state instead (the missed events are gone).
        kept, fresh = copy.deepcopy(self.state), RevocationState()
        replaying: RevocationState | None = fresh
        keys_changed = False
        for message in messages:
            if self._stopping.is_set():
                return
            self._heard_at = time.monotonic()
            if "revocation" in message:
                states = (kept, fresh) if replaying is not None else (self.state,)
                kinds = {state.apply(message["revocation"]) for state in states}
                keys_changed |= any(kind.startswith("key_") for kind in kinds)
            elif replaying is not None:  # the first heartbeat: caught up
                self.state = fresh if message["heartbeat"].get("reset") else kept
                replaying = None
                self.connected.set()
            if keys_changed and replaying is None:
                self._on_keys_changed()
                keys_changed = False


def _messages(lines: Iterator[str]) -> Iterator[Mapping[str, Any]]:
    for line in lines:
        if not line.strip():
            continue
        message = json.loads(line)
        if "error" in message:
            details = message["error"].get("details") or [{}]
            raise _Refused(200, str(details[0].get("reason", "")))
        yield message["result"]


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}".strip())
        self.status = status
        self.reason = reason
