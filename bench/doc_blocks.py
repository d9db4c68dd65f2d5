"""Generated blocks of docs/benchmarks.md: each between its script's begin and end markers."""

from __future__ import annotations

import re
from pathlib import Path


def markers(script: str) -> tuple[str, str]:
    """The begin and end lines of `script`'s block."""
    return (
        f"<!-- bench/{script}: begin (generated; edit the script, not this block) -->",
        f"<!-- bench/{script}: end -->",
    )


def replace_block(path: Path, script: str, block: str, new_section: str) -> None:
    """Put `block` (its markers included) in place of `script`'s block in `path`; where there
    is none yet, add `new_section` (its heading and any text) and the block at the end."""
    begin, end = markers(script)
    text = path.read_text()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip("\n") + f"\n\n{new_section}\n\n{block}\n"
    path.write_text(text)
