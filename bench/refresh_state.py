"""Is the live-refresh-token cache worth it? The core's refresh, timed with it and without.

The refresh path without rotation checks the token (signature: the verified-token cache),
its holder (the subject cache) and that the registry still has it live: with the
live-refresh cache that is a dictionary lookup, without it one store read on the reading
thread. Both are timed in one process over a real store, alternating every round so that
noise on the machine hits both, and the CPU of the whole process (event loop and store
threads) is counted per refresh.

    .venv/bin/python bench/refresh_state.py [--rounds 10] [--per-round 400] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from staff import KEY_ENCRYPTION_KEY

from authgate.process.runtime import open_runtime
from authgate.process.settings import Settings

EMAIL, PASSWORD = "bench-refresh@example.com", "bench-password-1234"


async def measure(settings: Settings, rounds: int, per_round: int) -> dict[str, list[float]]:
    async with open_runtime(settings, caching=True) as runtime:
        await runtime.admin.create_user(EMAIL, PASSWORD)
        core = runtime.core
        refresh = (await core.issue_token_pair(EMAIL, PASSWORD)).refresh
        await asyncio.sleep(0.05)  # the tail's first catch-up: the caches answer from now
        cached = core.subjects.refresh_is_live
        results: dict[str, list[float]] = {"cache": [], "store read": []}
        for _ in range(rounds):
            for name in results:
                core.subjects.refresh_is_live = (  # type: ignore[method-assign]
                    cached if name == "cache" else (lambda _jti, _user: False)
                )
                await core.refresh_access_token(refresh)  # a warm first call
                cpu = time.process_time()
                for _ in range(per_round):
                    await core.refresh_access_token(refresh)
                results[name].append((time.process_time() - cpu) / per_round * 1e6)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=400)
    parser.add_argument("--postgres", default="", help="a throwaway PostgreSQL database URL")
    args = parser.parse_args()
    stores = {"SQLite": ""} | ({"PostgreSQL": args.postgres} if args.postgres else {})
    print("| store | refresh checked by | CPU µs per refresh (median of rounds) |")
    print("| --- | --- | ---: |")
    for store, url in stores.items():
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                data_dir=Path(data_dir), database_url=url, key_encryption_key=KEY_ENCRYPTION_KEY
            )
            results = asyncio.run(measure(settings, args.rounds, args.per_round))
        for name, samples in results.items():
            print(f"| {store} | {name} | {statistics.median(samples):.0f} |")


if __name__ == "__main__":
    main()
