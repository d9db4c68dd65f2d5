"""The guide's flow over the REST door with the generated Python client (openapi-python-client).

Obtains a token pair, lists the users, refreshes the access token and lists them again; prints
one line per step (never a token) and exits non-zero when a step goes wrong.

Usage: PYTHONPATH=build/clients/python .venv/bin/python clients/rest_flow.py BASE_URL EMAIL PASSWORD
"""

from __future__ import annotations

import sys

from authgate_rest import AuthenticatedClient, Client
from authgate_rest.api.tokens import issue_token, refresh_token
from authgate_rest.api.users import list_users
from authgate_rest.models import (
    IssueTokenRequest,
    IssueTokenResponse,
    ListUsersResponse,
    RefreshTokenRequest,
    RefreshTokenResponse,
)


def list_emails(base_url: str, access: str) -> list[str]:
    with AuthenticatedClient(base_url=base_url, token=access) as client:
        page = list_users.sync(client=client, page_size=50)
    if not isinstance(page, ListUsersResponse):
        raise SystemExit(f"list users failed: {page}")
    return [user.email for user in page.users]


def main() -> None:
    base_url, email, password = sys.argv[1:4]
    with Client(base_url=base_url) as client:
        pair = issue_token.sync(client=client, body=IssueTokenRequest(email, password))
        if not isinstance(pair, IssueTokenResponse):
            raise SystemExit(f"obtain failed: {pair}")
        print(f"obtain: access ({len(pair.access)} chars), refresh ({len(pair.refresh)} chars)")
        print(f"users: {list_emails(base_url, pair.access)}")
        new = refresh_token.sync(client=client, body=RefreshTokenRequest(pair.refresh))
        if not isinstance(new, RefreshTokenResponse):
            raise SystemExit(f"refresh failed: {new}")
        print(f"refresh: access ({len(new.access)} chars)")
        print(f"users again: {list_emails(base_url, new.access)}")


if __name__ == "__main__":
    main()
