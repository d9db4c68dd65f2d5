"""What verification asks of a source of revocations: the seam for AuthGate's revocation
feed (a client holding `revocations:watch` follows it), which a Verifier given client
credentials consults after every other check. No source: only expiry ends a token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class RevocationCheck(Protocol):
    """Answers from memory, never by I/O: `verify` and `averify` both call it inline, so a
    source keeps itself current in the background."""

    def refuses(self, claims: Mapping[str, Any]) -> bool:
        """Whether the token with these verified claims was revoked (its `jti`, its user's
        `ver`, its client...)."""
        ...

    def is_stale(self) -> bool:
        """Whether the source has been out of touch with AuthGate past its bound; every
        token is then refused with VerificationUnavailable (fail closed)."""
        ...
