"""The checks every operation makes of its text fields before it does any work."""

from __future__ import annotations

from authgate.core.errors import invalid_request


def _encodable(value: str) -> bool:
    # JSON may carry "\ud800", which no database or signature check can encode.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_text(**fields: tuple[str, int | None]) -> None:
    """Refuse blank, oversized or NUL-carrying text fields, naming each one."""
    problems: dict[str, list[str]] = {}
    for name, (value, max_length) in fields.items():
        if not value or not value.strip():
            problems[name] = ["This field may not be blank."]
        elif max_length is not None and len(value) > max_length:
            problems[name] = [f"Ensure this field has no more than {max_length} characters."]
        elif "\x00" in value or not _encodable(value):
            problems[name] = ["This field may not contain NUL or unpaired surrogate characters."]
    if problems:
        raise invalid_request(problems)
