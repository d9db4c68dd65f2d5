"""AIP-158 page tokens: opaque to clients, the id the next page starts after."""

from __future__ import annotations

import base64
import binascii
import json

from authgate.core.errors import invalid_request
from authgate.core.users import USER_ID_SHAPE

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_limit(page_size: int) -> int:
    """0 means the default; above the maximum is clamped; negative is refused."""
    if page_size < 0:
        raise invalid_request({"page_size": ["Must not be negative."]})
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(last_id: str) -> str:
    raw = json.dumps({"after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The id a page starts after; '' for the first page. Malformed tokens are refused."""
    if not token:
        return ""
    try:
        padded = token + "=" * (-len(token) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        after = None
    # Only an id of ours: anything else (a lone surrogate, a NUL) no driver could even bind.
    if not isinstance(after, str) or not USER_ID_SHAPE.fullmatch(after):
        raise invalid_request({"page_token": ["Invalid page token."]})
    return after
