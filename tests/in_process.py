"""Both doors served in the test's own process and event loop, on ports 0.

The same assembly as `authgate serve` (open_runtime, then running_doors), without a
subprocess: a scenario's request and the server's handling of it share one event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authgate.core.clients import NewSecret
from authgate.core.keys import KeySet
from authgate.core.tokens import TokenCodec
from authgate.core.users import User
from authgate.process.runtime import Runtime, open_runtime
from authgate.process.server import RunningDoors, running_doors
from authgate.process.settings import Settings

from accounts import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    KEY_ENCRYPTION_KEY,
    PASSWORD,
    with_key_encryption_key,
)

_numbers = itertools.count()


@dataclass(frozen=True)
class Service:
    settings: Settings
    runtime: Runtime
    doors: RunningDoors

    @property
    def http_url(self) -> str:
        return f"http://{self.doors.rest_address}"

    @property
    def grpc_target(self) -> str:
        return self.doors.grpc_address

    @property
    def env(self) -> dict[str, str]:
        """The environment of an `authgate` command on this service's store (servers.cli)."""
        return with_key_encryption_key(
            {
                **os.environ,
                "AUTHGATE_DATA_DIR": str(self.settings.data_dir),
                "AUTHGATE_DATABASE_URL": self.settings.resolved_database_url,
            }
        )

    async def make_user(
        self, *, staff: bool = False, active: bool = True, email: str | None = None
    ) -> User:
        """A user straight in the store (a fresh email each call), with PASSWORD."""
        email = email or f"user{next(_numbers)}@example.com"
        store = self.runtime.core.store
        return await store.create_user(email, PASSWORD, is_staff=staff, is_active=active)

    async def make_client(self, *scopes: str) -> NewSecret:
        """A client (service account) that may hold `scopes`; its id and secret."""
        name = f"service {next(_numbers)}"
        return await self.runtime.admin.create_client(name, frozenset(scopes))

    async def set_active(self, email: str, active: bool) -> None:
        await self.runtime.core.store.set_active(email, active)

    def codec(self, **options: Any) -> TokenCodec:
        """A TokenCodec holding the server's own keys (any clock): real, validly signed tokens."""
        key_set = self.runtime.core.tokens.keys.current
        # The server's signing key, signing at any time the test's clock says.
        signing = key_set.signing(time.time())
        record = dataclasses.replace(signing.record, activates_at=0.0, deactivates_at=None)
        timeless = dataclasses.replace(signing, record=record)
        others = tuple(key for key in key_set.keys if key.kid != signing.kid)
        keys = KeySet((timeless, *others), key_set.retention)
        return TokenCodec(keys, **{"issuer": self.settings.issuer, **options})


@contextlib.asynccontextmanager
async def serving(
    data_dir: Path, database_url: str = "", **settings: Any
) -> AsyncIterator[Service]:
    """Serve both doors on a fresh store with the bootstrap admin; `settings` override."""
    chosen = Settings(
        data_dir=data_dir,
        database_url=database_url,
        http_addr="127.0.0.1:0",
        grpc_addr="127.0.0.1:0",
        bootstrap_email=ADMIN_EMAIL,
        bootstrap_password=ADMIN_PASSWORD,
        # A test's drain need not wait for the 10 s an operator would allow.
        shutdown_grace_seconds=1.0,
        **{"key_encryption_key": _kek_for(database_url), **settings},
    )
    async with (
        open_runtime(chosen, caching=True, follow_algorithm=True) as runtime,
        running_doors(runtime.core, chosen) as doors,
    ):
        yield Service(chosen, runtime, doors)


def _kek_for(database_url: str) -> str:
    return KEY_ENCRYPTION_KEY if database_url.startswith("postgresql") else ""
