"""What the client library's tests ask of a live server beyond starting it (conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from servers import ServerProcess, cli, logged_fields, wait_for

# A revocation reaches a subscribed verifier in milliseconds (bench/verifier_lag.py measures
# the 1 s p99 target across two PostgreSQL replicas); a test allows more, since its server and
# the CLI share two cores with whatever else the machine runs.
FEED_BOUND = 2.0


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


def client_token(server: ServerProcess, client: ClientCredentials, scope: str = "") -> str:
    """An access token of `client`, by the client credentials grant (RFC 6749 §4.4), holding
    `scope` (every scope the client may hold when empty)."""
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = httpx.post(
        f"{server.http_url}/api/v1/oauth/token",
        auth=(client.client_id, client.client_secret),
        data=form,
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def admin_tokens(server: ServerProcess) -> dict[str, str]:
    """The bootstrap admin's token pair (`access`, `refresh`), by logging in."""
    response = httpx.post(
        f"{server.http_url}/api/v1/token/",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        timeout=30,
    )
    response.raise_for_status()
    return dict(response.json())


def user_tokens(server: ServerProcess, email: str, password: str) -> dict[str, str]:
    """A user's token pair (`access`, `refresh`), by logging in."""
    response = httpx.post(
        f"{server.http_url}/api/v1/token/",
        json={"email": email, "password": password},
        timeout=30,
    )
    response.raise_for_status()
    return dict(response.json())


def served(server: ServerProcess, operation: str, outcome: str | None = None) -> int:
    """How many requests for `operation` (REST `list_users`, `refresh_token`, `issue_token`,
    `token`; gRPC `ListUsers`) the server's access log shows, with `outcome` if given."""
    count = 0
    for line in list(server.lines):
        fields = logged_fields(line, "authgate.access")
        if fields and fields["operation"] == operation:
            count += outcome is None or fields["outcome"] == outcome
    return count


def wait_until_served(server: ServerProcess, operation: str, count: int) -> None:
    """Wait for the access log to show `count` requests for `operation`: the server writes
    its log lines from a thread of their own, a little after it answers."""
    wait_for(
        lambda: served(server, operation) >= count,
        timeout=20,
        report=lambda: f"{served(server, operation)} of {count} {operation} logged",
    )
