"""Load generators: wrk for REST (HTTP/1.1), h2load for gRPC (pre-framed bodies over h2c).

Each run is bounded in time (`duration`) and returns requests, rate and latency percentiles,
with every answer that was not a success counted. h2load counts HTTP 200 as success even when
grpc-status is not 0, so gRPC runs are checked twice: one real grpc call with the very same
bytes and metadata before the load (`check_grpc`), and the response data volume afterwards (an
error is a trailers-only answer with no message, so it carries no DATA bytes).
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.protobuf.message import Message

WRK_MARK = "WRK_JSON "
# wrk calls done() once, after the run, with the merged statistics of every thread.
_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int  # non-2xx, socket errors, timeouts (REST); failed streams or gRPC errors (h2load)
    note: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def require_tools() -> None:
    missing = [tool for tool in ("wrk", "h2load") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"missing {', '.join(missing)}: run bench/install_tools.sh (Debian: wrk, "
            "nghttp2-client)"
        )


def tool_versions() -> dict[str, str]:
    versions = {}
    for tool, flag in (("wrk", "-v"), ("h2load", "--version")):
        done = subprocess.run([tool, flag], capture_output=True, text=True, check=False)  # noqa: S603
        first = (done.stdout or done.stderr).strip().splitlines()
        versions[tool] = first[0].split(" Copyright")[0] if first else "unknown"
    return versions


def _lua_string(text: str) -> str:
    return f"[==[{text}]==]"


def wrk_script(
    path: Path, method: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> Path:
    lines = [f"wrk.method = {_lua_string(method)}"]
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(json.dumps(body))}")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    # A space after "[": "[[" would open a Lua long string.
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n" + _WRK_DONE)
    return path


def wrk(url: str, script: Path, *, connections: int, duration: float) -> LoadResult:
    """One wrk run: one thread (the server needs the cores), `connections` keep-alive."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s"]
    command += ["-s", str(script), url]
    done = subprocess.run(  # noqa: S603 - fixed tool, our arguments
        command, capture_output=True, text=True, timeout=duration + 30, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith(WRK_MARK)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line[len(WRK_MARK) :])
    failed = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        failed=failed,
        note="" if not failed else f"wrk errors {data}",
    )


# --------------------------------------------------------------------------- gRPC


def grpc_frame(message: Message) -> bytes:
    """A gRPC length-prefixed message: flag 0 (uncompressed), big-endian length, bytes."""
    payload = message.SerializeToString()
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def check_grpc(target: str, method: str, frame: bytes, metadata: list[tuple[str, str]]) -> int:
    """Send the framed body's message through a real grpc channel; its response size if OK."""
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(method)  # bytes in, bytes out: exactly what h2load sends
        try:
            response: bytes = call(frame[5:], metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            raise RuntimeError(
                f"{method} on {target}: {error.code().name} {error.details()}"
            ) from error
    return len(response)


_H2_FINISHED = re.compile(r"finished in ([\d.]+)(m?s)")
_H2_REQUESTS = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded")
_H2_DATA = re.compile(r"traffic: .*?, [\d.]+\w* \((\d+)\) data")


def h2load(
    url: str,
    body: Path,
    headers: dict[str, str],
    *,
    connections: int,
    streams: int,
    duration: float,
    response_bytes: int,
) -> LoadResult:
    """One h2load run; `response_bytes` is the message size check_grpc saw for this call."""
    with tempfile.NamedTemporaryFile(prefix="h2load-", suffix=".log") as log:
        command = ["h2load", "-t1", f"-c{connections}", f"-m{streams}", f"-D{duration:g}"]
        command += ["-d", str(body), f"--log-file={log.name}"]
        for key, value in {"content-type": "application/grpc", "te": "trailers", **headers}.items():
            command += ["-H", f"{key}: {value}"]
        done = subprocess.run(  # noqa: S603 - fixed tool, our arguments
            [*command, url], capture_output=True, text=True, timeout=duration + 30, check=False
        )
        latencies = []
        for row in Path(log.name).read_text().splitlines():
            _start, status, micros = row.split("\t")[:3]
            if status == "200":
                latencies.append(int(micros))
    out = done.stdout
    finished, counts, data = (
        _H2_FINISHED.search(out),
        _H2_REQUESTS.search(out),
        _H2_DATA.search(out),
    )
    if done.returncode != 0 or not (finished and counts and data):
        raise RuntimeError(f"h2load failed ({done.returncode}):\n{out}\n{done.stderr}")
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    done_count, succeeded = int(counts.group(3)), int(counts.group(4))
    # Every OK answer carries one message (5-byte prefix + response_bytes); an error none.
    expected = 5 + response_bytes
    answered_ok = min(succeeded, int(data.group(1)) // expected)
    failed = done_count - answered_ok
    # No answer within a short warm-up (logins at 32 x m in flight) is not an error.
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else []
    return LoadResult(
        requests=answered_ok,
        seconds=seconds,
        p50_ms=cuts[49] / 1000 if cuts else float("nan"),
        p99_ms=cuts[98] / 1000 if cuts else float("nan"),
        failed=failed,
        note="" if not failed else f"{failed} of {done_count} streams without an OK message",
    )


def check_rest(url: str, method: str, body: dict[str, Any] | None, headers: dict[str, str]) -> str:
    """One request with the load's exact method, body and headers; its body if 200."""
    response = httpx.request(method, url, json=body, headers=headers, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return response.text
