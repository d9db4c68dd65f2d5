"""Keep-alive connections whose serving process is known, for probes that must reach every worker.

With `--workers N` every worker listens on the same ports (SO_REUSEPORT) and the kernel hands
each new connection to one of them by a hash of its addresses: a client cannot choose a worker.
So a probe opens connections until each serving process owns one (or `per_process`), reading
the owner of each from the kernel's socket table (`ss -tnpH`: the server side of a connection
names the pid holding it), and closes the extras.

`HttpConnection` is HTTP/1.1 over a bare asyncio stream, cheap enough to send a request every
few milliseconds on each connection; `GrpcConnection` is a grpc.aio channel with its own
subchannel (grpc shares one TCP connection between channels to a target by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import grpc

# grpc's sockets are IPv6 ones carrying IPv4 (`[::ffff:127.0.0.1]:PORT` in ss).
_ADDRESS = re.compile(r"(?:127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):(\d+)")
_PID = re.compile(r"pid=(\d+)")


def _established(filter_expression: str) -> list[tuple[int, int, set[int]]]:
    """(local port, peer port, pids holding the socket) of established TCP on 127.0.0.1."""
    done = subprocess.run(  # noqa: S603 - fixed tool, our arguments
        ["ss", "-tnpH", "state", "established", filter_expression],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stdout.splitlines():
        ports = _ADDRESS.findall(line)
        if len(ports) == 2:
            rows.append((int(ports[0]), int(ports[1]), {int(p) for p in _PID.findall(line)}))
    return rows


def accepting_pids(server_port: int) -> dict[int, int]:
    """Client port -> pid of the process holding the server side, for connections to the port.
    A connection still in the accept queue has no owner yet: it is left out."""
    owners = {}
    for _local, peer, pids in _established(f"( sport = :{server_port} )"):
        if len(pids) == 1:
            owners[peer] = pids.pop()
    return owners


def own_client_ports(server_port: int) -> set[int]:
    """Local ports of this process's connections to 127.0.0.1:server_port."""
    me = os.getpid()
    return {
        local for local, _peer, pids in _established(f"( dport = :{server_port} )") if me in pids
    }


class Connection(Protocol):
    local_port: int

    async def close(self) -> None: ...


C = TypeVar("C", bound=Connection)


async def cover(
    open_one: Callable[[], Awaitable[C]],
    server_port: int,
    pids: Collection[int],
    per_process: int = 1,
    attempts: int = 200,
) -> dict[int, list[C]]:
    """Open connections until each of `pids` owns `per_process` of them; pid -> its connections."""
    kept: dict[int, list[C]] = {pid: [] for pid in pids}
    for _ in range(attempts):
        if all(len(held) >= per_process for held in kept.values()):
            return kept
        connection = await open_one()
        owner = None
        for _poll in range(50):  # accepted by then, unless the machine is very busy
            owner = accepting_pids(server_port).get(connection.local_port)
            if owner is not None:
                break
            await asyncio.sleep(0.01)
        if owner in kept and len(kept[owner]) < per_process:
            kept[owner].append(connection)
        else:
            await connection.close()
    for held in kept.values():
        for connection in held:
            await connection.close()
    raise RuntimeError(f"{attempts} connections to port {server_port} did not reach each of {pids}")


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; answers must carry Content-Length (uvicorn's do)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host
        self.local_port = int(writer.get_extra_info("sockname")[1])
        self.answered_at = time.perf_counter()  # the last answer's arrival, or the opening

    @classmethod
    async def open(cls, base_url: str) -> HttpConnection:
        parts = urlsplit(base_url)
        assert parts.hostname == "127.0.0.1", "benchmarks talk to 127.0.0.1 only"
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    async def request(
        self,
        method: str,
        path: str,
        *,
        bearer: str | None = None,
        body: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        if bearer:
            head.append(f"Authorization: Bearer {bearer}")
        if request_id:
            head.append(f"X-Request-Id: {request_id}")
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        try:
            status_and_headers = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError) as error:
            idle = time.perf_counter() - self.answered_at
            raise ConnectionError(
                f"{method} {path}: the server closed the connection, {idle:.1f} s after its "
                "last answer"
            ) from error
        lines = status_and_headers.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        answer = await self.reader.readexactly(length)
        self.answered_at = time.perf_counter()
        return status, answer

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class GrpcConnection:
    """A grpc.aio channel on a TCP connection of its own, and that connection's local port."""

    def __init__(self, channel: grpc.aio.Channel, local_port: int) -> None:
        self.channel, self.local_port = channel, local_port

    @classmethod
    async def open(cls, target: str) -> GrpcConnection:
        host, _, port = target.rpartition(":")
        assert host == "127.0.0.1", "benchmarks talk to 127.0.0.1 only"
        before = own_client_ports(int(port))
        channel = grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        await asyncio.wait_for(channel.channel_ready(), 10)
        # Channels are opened one at a time, so the one new port is this channel's.
        for _ in range(50):
            new = own_client_ports(int(port)) - before
            if len(new) == 1:
                return cls(channel, new.pop())
            await asyncio.sleep(0.01)
        await channel.close()
        raise RuntimeError(f"cannot tell which connection to {target} a new channel opened")

    async def close(self) -> None:
        await self.channel.close()
