"""What the client library's tests ask of a live server beyond starting it (conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from servers import ServerProcess, cli


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str


def make_client(server: ServerProcess, *scopes: str) -> ClientCredentials:
    """A client (service account) of `server` that may hold `scopes`, made by the CLI."""
    words = ["clients", "create", "--name", "library test", "--json"]
    for scope in scopes:
        words += ["--scope", scope]
    created = json.loads(cli(server, *words))
    return ClientCredentials(created["client_id"], created["client_secret"])
