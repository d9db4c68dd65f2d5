"""The README's marked code blocks: the guide that tests/system/test_readme.py runs against a
live server and deploy/container/image_test.py runs against the container image."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def block_after(marker: str) -> str:
    """The fenced code block that follows an HTML comment starting with `marker`."""
    match = re.search(rf"<!-- {re.escape(marker)}[^>]*-->\n```\w*\n(.*?)```", README, re.S)
    if match is None:
        raise LookupError(f"README has no block marked {marker!r}")
    return match.group(1)
