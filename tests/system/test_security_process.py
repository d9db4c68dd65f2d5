"""Security operations an operator runs with the CLI against a running `authgate serve`.

The behaviour behind them is the doors tier's (tests/doors/test_security.py); here the command
is the point: a separate process changes the store, and the running server honours it at once.
"""

from __future__ import annotations

import subprocess
import sys

from accounts import PASSWORD
from door_clients import assert_refused, blocking_login


def test_password_change_revokes_the_users_tokens(door, make_user, server):
    user = make_user()
    pair = blocking_login(door, user.email, PASSWORD)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "authgate",
            "users",
            "set-password",
            "--email",
            user.email,
            "--password-stdin",
        ],
        input="a brand new password\n",
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_refused(door.list_users(pair["access"]), "token_not_valid")
    assert_refused(door.refresh_token(pair["refresh"]), "token_not_valid")
    assert door.issue_token(user.email, "a brand new password").ok
