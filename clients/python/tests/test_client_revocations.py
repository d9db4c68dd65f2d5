"""The feed follower against a live AuthGate: what each revocation does to a token it holds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
from authgate_client.revocations import FeedFollower

from accounts import PASSWORD
from live_server import FEED_BOUND, ClientCredentials, client_token, make_client, user_tokens
from servers import ServerProcess, cli, create_account


@pytest.fixture
def follower(server: ServerProcess) -> Iterator[FeedFollower]:
    credentials = make_client(server, "revocations:watch")
    following = FeedFollower(server.http_url, feed_token(server, credentials))
    following.start()
    assert following.connected.wait(10)
    yield following
    following.stop()


def user_token(server: ServerProcess, email: str) -> tuple[dict, str]:
    """A user's access token's claims (unverified) and kid."""
    access = user_tokens(server, email, PASSWORD)["access"]
    claims = jwt.decode(access, options={"verify_signature": False})
    return claims, jwt.get_unverified_header(access)["kid"]


def feed_token(server: ServerProcess, credentials: ClientCredentials):
    return lambda _renew: client_token(server, credentials, "revocations:watch")


def refused_within(follower: FeedFollower, claims: dict, kid: str, seconds: float) -> float:
    started = time.monotonic()
    while follower.state.refusal(claims, kid) is None:
        assert time.monotonic() - started < seconds, "the feed did not say so in time"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_deactivation_refuses_her_tokens_and_an_activation_restores_them(server, follower):
    account = create_account(server, f"feed-{time.monotonic_ns()}@example.com")
    claims, kid = user_token(server, account.email)
    assert follower.state.refusal(claims, kid) is None
    cli(server, "users", "deactivate", "--email", account.email)
    refused_within(follower, claims, kid, FEED_BOUND)
    cli(server, "users", "activate", "--email", account.email)
    deadline = time.monotonic() + FEED_BOUND
    while follower.state.refusal(claims, kid) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert follower.is_current()


def test_a_new_password_refuses_the_tokens_issued_before_it(server, follower):
    account = create_account(server, f"feed-{time.monotonic_ns()}@example.com")
    claims, kid = user_token(server, account.email)
    cli(server, "users", "set-password", "--email", account.email, "--password-stdin",
        stdin=f"{PASSWORD}\n")  # fmt: skip
    refused_within(follower, claims, kid, FEED_BOUND)
    after, _ = user_token(server, account.email)
    assert follower.state.refusal(after, kid) is None


def test_a_retired_key_refuses_its_tokens(server, follower):
    account = create_account(server, f"feed-{time.monotonic_ns()}@example.com")
    claims, kid = user_token(server, account.email)
    changed: list[int] = []
    follower._on_keys_changed = lambda: changed.append(1)
    cli(server, "keys", "rotate", "--now")
    cli(server, "keys", "retire", kid)
    refused_within(follower, claims, kid, FEED_BOUND)
    assert changed


def test_a_follower_resumes_after_the_last_event_it_applied(server):
    credentials = make_client(server, "revocations:watch")
    account = create_account(server, f"feed-{time.monotonic_ns()}@example.com")
    claims, kid = user_token(server, account.email)
    first = FeedFollower(server.http_url, feed_token(server, credentials))
    first.start()
    assert first.connected.wait(10)
    first.stop()
    cli(server, "users", "deactivate", "--email", account.email)
    second = FeedFollower(server.http_url, feed_token(server, credentials))
    second.state = first.state
    seq = first.state.seq
    second.start()
    try:
        refused_within(second, claims, kid, 2.0)
    finally:
        second.stop()
    assert second.state.seq > seq
