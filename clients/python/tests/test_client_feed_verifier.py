"""A Verifier given client credentials, against a live AuthGate: it follows the revocation
feed, refuses revoked tokens within a second, and when the feed is lost it asks AuthGate
(`when_feed_lost="introspect"`, the default) or refuses everything ("fail_closed")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from authgate_client import InvalidToken, VerificationUnavailable, Verifier
from authgate_client.revocations import FeedFollower

from accounts import PASSWORD
from live_server import FEED_BOUND, make_client, user_tokens
from servers import ServerProcess, cli, create_account
from tcp_proxy import TcpProxy

LOST_AFTER = 1.0  # the feed's staleness bound in these tests (the default is 3 s)


def new_user(server: ServerProcess) -> tuple[str, str]:
    """A new user's email and access token."""
    account = create_account(server, f"verified-{time.monotonic_ns()}@example.com")
    return account.email, user_tokens(server, account.email, PASSWORD)["access"]


def subscribed(server: ServerProcess, **options: object) -> Verifier:
    client = make_client(server, "revocations:watch")
    verifier = Verifier(
        server.http_url,
        client_id=client.client_id,
        client_secret=client.client_secret,
        feed_stale_after=LOST_AFTER,
        **options,  # type: ignore[arg-type]
    )
    assert verifier._feed is not None and verifier._feed.follower.connected.wait(10)
    return verifier


def refused_within(verify: Callable[[], object], seconds: float) -> float:
    started = time.monotonic()
    while True:
        try:
            verify()
        except InvalidToken:
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, "still accepted"
        time.sleep(0.01)


@pytest.fixture
def verifier(server: ServerProcess) -> Iterator[Verifier]:
    with subscribed(server) as following:
        yield following


def test_a_deactivated_users_token_is_refused_within_a_second_then_accepted_again(server, verifier):
    email, access = new_user(server)
    assert verifier.verify(access).subject
    cli(server, "users", "deactivate", "--email", email)
    refused_within(lambda: verifier.verify(access), FEED_BOUND)
    with pytest.raises(InvalidToken, match="inactive or deleted"):
        asyncio.run(verifier.averify(access))
    cli(server, "users", "activate", "--email", email)
    deadline = time.monotonic() + FEED_BOUND
    while True:
        try:
            verifier.verify(access)
            break
        except InvalidToken:
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_a_new_password_refuses_every_token_issued_before_it(server, verifier):
    email, access = new_user(server)
    cli(server, "users", "set-password", "--email", email, "--password-stdin",
        stdin=f"{PASSWORD}\n")  # fmt: skip
    refused_within(lambda: verifier.verify(access), FEED_BOUND)
    assert verifier.verify(user_tokens(server, email, PASSWORD)["access"]).subject


@pytest.fixture
def proxied_feed(server: ServerProcess) -> Iterator[Callable[..., tuple[Verifier, TcpProxy]]]:
    """A subscribed verifier whose feed alone goes through a proxy the test can cut (keys and
    introspection go straight to AuthGate): a feed lost while AuthGate still answers."""
    made: list[tuple[Verifier, TcpProxy]] = []

    def make(**options: object) -> tuple[Verifier, TcpProxy]:
        address = urlsplit(server.http_url)
        proxy = TcpProxy(address.hostname or "127.0.0.1", address.port or 80).start()
        verifier = subscribed(server, **options)
        feed = verifier._feed
        assert feed is not None
        feed.follower.stop()
        feed.follower = FeedFollower(
            f"http://127.0.0.1:{proxy.port}", feed._feed_token, stale_after=LOST_AFTER
        )
        feed.follower.start()
        assert feed.follower.connected.wait(10)
        made.append((verifier, proxy))
        return verifier, proxy

    yield make
    for verifier, proxy in made:
        proxy.close()
        verifier.close()


def test_a_lost_feed_falls_back_to_introspection_by_default(server, proxied_feed):
    verifier, proxy = proxied_feed()
    email, access = new_user(server)
    verifier.verify(access)
    proxy.cut("blackhole")
    time.sleep(LOST_AFTER + 0.5)
    assert verifier.verify(access).subject  # AuthGate vouched for it
    cli(server, "users", "deactivate", "--email", email)  # the feed cannot say so
    with pytest.raises(InvalidToken, match="introspection"):
        verifier.verify(access)
    with pytest.raises(InvalidToken, match="introspection"):
        asyncio.run(verifier.averify(access))


def test_a_lost_feed_fails_closed_when_told_to(server, proxied_feed):
    verifier, proxy = proxied_feed(when_feed_lost="fail_closed")
    _, access = new_user(server)
    verifier.verify(access)
    proxy.cut("blackhole", drop_existing=True)
    time.sleep(LOST_AFTER + 0.5)
    with pytest.raises(VerificationUnavailable, match="feed"):
        verifier.verify(access)
    proxy.restore()
    deadline = time.monotonic() + 10
    while True:
        try:
            verifier.verify(access)
            break
        except VerificationUnavailable:
            assert time.monotonic() < deadline, "the feed did not come back"
            time.sleep(0.1)


def test_a_verifier_never_shows_its_secret(server):
    client = make_client(server, "revocations:watch")
    with Verifier(
        server.http_url, client_id=client.client_id, client_secret=client.client_secret
    ) as verifier:
        assert client.client_secret not in repr(verifier)
        assert client.client_secret not in repr(verifier._feed)


def test_an_unknown_failure_mode_is_refused(server):
    with pytest.raises(ValueError, match="when_feed_lost"):
        Verifier(server.http_url, client_id="c", client_secret="s", when_feed_lost="hope")
