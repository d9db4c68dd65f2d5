"""The staff user every measured `authgate serve` bootstraps, and the tokens it logs in for.

One login's tokens serve a whole run (throughput.py, list_users_scale.py); the login runs
(login_throughput.py) send its credentials tens of thousands of times.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

import servers

STAFF_EMAIL = "bench-staff@example.com"
STAFF_PASSWORD = "bench-staff-password"  # noqa: S105 - a throwaway benchmark user
# Seals the signing keys of every measured server (required on PostgreSQL): a throwaway key.
KEY_ENCRYPTION_KEY = "YmVuY2gtb25seS1rZXktZW5jcnlwdGlvbi1rZXktMzI="
LOGIN_BODY = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD}


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str


def authgate_env() -> dict[str, str]:
    return {
        "AUTHGATE_BOOTSTRAP_EMAIL": STAFF_EMAIL,
        "AUTHGATE_BOOTSTRAP_PASSWORD": STAFF_PASSWORD,
        "AUTHGATE_KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY,
        # One token serves a whole run: it must outlive it (the default is 5 minutes).
        "AUTHGATE_ACCESS_TOKEN_LIFETIME": "3600",
        # Tens of thousands of logins from one address are the point here, not an attack.
        "AUTHGATE_LOGIN_LIMIT_PER_ACCOUNT": "100000000/minute",
        "AUTHGATE_LOGIN_LIMIT_PER_ADDRESS": "100000000/minute",
    }


def login(server: servers.Server) -> Tokens:
    response = httpx.post(f"{server.http_url}/api/v1/token/", json=LOGIN_BODY, timeout=30)
    response.raise_for_status()
    pair = response.json()
    return Tokens(access=pair["access"], refresh=pair["refresh"])
