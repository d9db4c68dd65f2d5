"""Fill whatever caches `authgate serve` keeps per token, so that RSS can be read with them full.

Many distinct access tokens are minted by refresh (each answer is a new access token, with its
own jti; a login would cost a 20 ms argon2 hash each, a refresh about 1 ms of server CPU), then
each is verified once (`POST /api/v1/token/verify/`) on every worker: connections are pinned to
each serving process (connections.py), since with SO_REUSEPORT a worker sees only the
connections the kernel gave it.
"""

from __future__ import annotations

import asyncio
import json

from connections import HttpConnection, cover

import servers

MINTING_CONNECTIONS = 8
VERIFYING_CONNECTIONS_PER_WORKER = 4


async def _mint(url: str, refresh: str, count: int) -> list[str]:
    connections = [await HttpConnection.open(url) for _ in range(MINTING_CONNECTIONS)]
    tokens: list[str] = []

    async def mint_on(connection: HttpConnection, how_many: int) -> None:
        for _ in range(how_many):
            status, body = await connection.request(
                "POST", "/api/v1/token/refresh/", body={"refresh": refresh}
            )
            if status != 200:
                raise RuntimeError(f"refresh answered {status}: {body[:200]!r}")
            tokens.append(json.loads(body)["access"])

    shares = [
        count // len(connections) + (n < count % len(connections))
        for n in range(MINTING_CONNECTIONS)
    ]
    try:
        await asyncio.gather(*(mint_on(c, n) for c, n in zip(connections, shares, strict=True)))
    finally:
        for connection in connections:
            await connection.close()
    if len(set(tokens)) != count:
        raise RuntimeError(f"{count} refreshes gave {len(set(tokens))} distinct access tokens")
    return tokens


async def _verify_on_every_worker(server: servers.Server, tokens: list[str]) -> None:
    port = int(server.http_url.rpartition(":")[2])
    covered = await cover(
        lambda: HttpConnection.open(server.http_url),
        port,
        server.serving_pids(),
        per_process=VERIFYING_CONNECTIONS_PER_WORKER,
    )

    async def verify_on(connection: HttpConnection, share: list[str]) -> None:
        for token in share:
            status, body = await connection.request(
                "POST", "/api/v1/token/verify/", body={"token": token}
            )
            if status != 200:
                raise RuntimeError(f"verify answered {status}: {body[:200]!r}")

    try:
        await asyncio.gather(
            *(
                verify_on(connection, tokens[n::VERIFYING_CONNECTIONS_PER_WORKER])
                for held in covered.values()
                for n, connection in enumerate(held)
            )
        )
    finally:
        for held in covered.values():
            for connection in held:
                await connection.close()


def fill(server: servers.Server, refresh: str, count: int) -> None:
    """Mint `count` distinct access tokens and verify each on every worker of `server`."""

    async def both() -> None:
        tokens = await _mint(server.http_url, refresh, count)
        await _verify_on_every_worker(server, tokens)

    asyncio.run(both())
    server.check_alive()
