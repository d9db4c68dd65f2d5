"""When a serving process answered a probe, by the server's own clock: its access line.

A probe's answer reaches the benchmark after its way back and the benchmark's own event loop,
which under load also runs the load it generates. The server decided the answer before it
wrote the request's access line, so the line's time is another later bound on the decision,
one that neither inflates; the trial takes the earlier of the two. (The line comes after the
answer is sent, so at a busy event loop it can be the later one.) Probes send an x-request-id;
both doors log it on the access line.

The lines' times are wall-clock (the machine's one clock, which the benchmark reads too): a
text line to the millisecond (`asctime`, local time), a JSON line as `ts`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

# The log time is cut to the millisecond: the decision came at most this much later.
RESOLUTION_S = 0.001
# The log writer batches its lines off the event loop: how long to wait for a probe's line.
WAIT_FOR_LINES_S = 5.0


class DecisionTimes:
    """Reads the access lines of probes (request ids starting `id_prefix`) that the given log
    files gain from now on.

    Only the probes' lines are parsed, found by a byte search over what the logs gained: the
    soak's load writes about 870 other access lines a second, and parsing 10 s of them
    (0.15 s or more) on the benchmark's event loop held back the load it sends.
    """

    def __init__(self, logs: Iterable[Path], id_prefix: str) -> None:
        self._offsets = {path: path.stat().st_size for path in logs}
        self._marker = f'"request_id":"{id_prefix}'.encode()
        self._seen: dict[str, float] = {}

    async def of(self, request_ids: Iterable[str]) -> dict[str, float]:
        """Wall time (time.time()) by which each request was decided; waits for its line."""
        wanted = set(request_ids)
        deadline = time.monotonic() + WAIT_FOR_LINES_S
        while True:
            self._read_new()
            missing = wanted - self._seen.keys()
            if not missing:
                return {rid: self._seen.pop(rid) for rid in wanted}
            if time.monotonic() > deadline:
                raise RuntimeError(f"no access line for {len(missing)} probes, e.g. {min(missing)}")
            await asyncio.sleep(0.05)

    def _read_new(self) -> None:
        for path, offset in self._offsets.items():
            with path.open("rb") as log:
                log.seek(offset)
                chunk = log.read()
            complete = chunk.rfind(b"\n") + 1  # a line still being written waits for next time
            self._offsets[path] = offset + complete
            for line in lines_holding(chunk[:complete], self._marker):
                found = parse_access_line(line.decode(errors="replace"))
                if found is not None:
                    self._seen[found[0]] = found[1] + RESOLUTION_S


def lines_holding(chunk: bytes, marker: bytes) -> Iterator[bytes]:
    """The lines of `chunk` (whole lines, each ending in a newline) that hold `marker`."""
    at = chunk.find(marker)
    while at != -1:
        start = chunk.rfind(b"\n", 0, at) + 1
        end = chunk.find(b"\n", at)
        yield chunk[start:end]
        at = chunk.find(marker, end)


def parse_access_line(line: str) -> tuple[str, float] | None:
    """(request_id, time) of an access line, text or JSON; None for any other line."""
    if line.startswith("{"):
        fields = json.loads(line)
        if fields.get("logger") != "authgate.access":
            return None
        return fields["request_id"], float(fields["ts"])
    stamp, _, rest = line.partition(" INFO authgate.access ")
    if not rest:
        return None
    fields = json.loads(rest)
    when = datetime.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")  # local time, as asctime
    return fields["request_id"], time.mktime(when.timetuple()) + int(stamp[20:23]) / 1000
