"""AuthGateAuth against a live server, through httpx.Client and httpx.AsyncClient alike: tokens
renewed before they expire, one renewal however many calls need it, and no secret shown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from authgate_client import AuthGateAuth, InvalidCredentials

from accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from live_server import make_client, served, wait_until_served
from servers import ServerProcess, wait_for

USERS = "/api/v1/users/"
CLIENTS = ["httpx.Client", "httpx.AsyncClient"]
# Eight calls 0.8 s apart, 5.6 s in all: a 2 s token is renewed 1 s before it expires, so
# several renewals fall between them.
SPREAD = [(0.0, 1)] + [(0.8, 1)] * 7


def admin_auth(server: ServerProcess) -> AuthGateAuth:
    return AuthGateAuth(server.http_url, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)


def call_users(
    kind: str, url: str, auth: AuthGateAuth, waves: list[tuple[float, int]]
) -> list[int]:
    """GET /api/v1/users/ in waves of (seconds to wait first, calls at once), through clients
    of `kind` sharing `auth`; the statuses in order."""
    if kind == "httpx.AsyncClient":
        return asyncio.run(_call_users_async(url, auth, waves))
    # A client for each thread, all sharing the one auth. Threads sharing one httpx.Client
    # share httpcore 1.0.9's pool, whose clean-up can close a keep-alive connection under a
    # request another thread has just sent on it (it reads the connection as idle, then as
    # readable): `ReadError: [Errno 9] Bad file descriptor`, about one call in 15,000 in a
    # stress run of 50 threads with a 10 µs GIL switch interval.
    widest = max(count for _, count in waves)
    statuses: list[int] = []
    with contextlib.ExitStack() as opened, ThreadPoolExecutor(widest) as pool:
        clients = [
            opened.enter_context(httpx.Client(base_url=url, auth=auth)) for _ in range(widest)
        ]
        for pause, count in waves:
            time.sleep(pause)
            start = threading.Barrier(count)  # every call asks for its token at once

            def call(n: int, start: threading.Barrier = start) -> int:
                start.wait()
                return clients[n].get(USERS).status_code

            statuses += pool.map(call, range(count))
    return statuses


async def _call_users_async(
    url: str, auth: AuthGateAuth, waves: list[tuple[float, int]]
) -> list[int]:
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=url, auth=auth) as client:
        for pause, count in waves:
            await asyncio.sleep(pause)
            responses = await asyncio.gather(*(client.get(USERS) for _ in range(count)))
            statuses += [response.status_code for response in responses]
    return statuses


def revoke_everything(server: ServerProcess, auth: AuthGateAuth) -> None:
    """Logout everywhere with the auth's own token, and wait until it is refused."""
    token = auth.tokens.access_token()
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.post(server.http_url + "/api/v1/token/revoke-all/", headers=bearer).is_success

    def refused() -> bool:
        return httpx.get(server.http_url + USERS, headers=bearer).status_code == 401

    wait_for(refused, timeout=5)


@pytest.mark.parametrize("kind", CLIENTS)
def test_calls_spread_over_three_lifetimes_all_succeed_on_refreshed_tokens(start_server, kind):
    server = start_server(access_token_lifetime="2")
    statuses = call_users(kind, server.http_url, admin_auth(server), SPREAD)
    assert statuses == [200] * 8
    wait_until_served(server, "list_users", 8)
    assert served(server, "list_users", "401") == 0  # renewed before expiry, not on refusal
    assert served(server, "issue_token") == 1
    assert served(server, "refresh_token", "200") == served(server, "refresh_token") >= 2


@pytest.mark.parametrize("kind", CLIENTS)
def test_fifty_calls_as_the_token_falls_due_make_one_refresh(start_server, kind):
    server = start_server(access_token_lifetime="4")
    # 2.2 s after the first call its 4 s token is due (renewed at half its lifetime): the
    # fifty find it so together, and the new token is due 2 s later. With a 2 s token it was
    # due 1 s later, and on CI's loaded machine the fifty took longer: a second refresh.
    statuses = call_users(kind, server.http_url, admin_auth(server), [(0.0, 1), (2.2, 50)])
    assert statuses == [200] * 51
    wait_until_served(server, "list_users", 51)
    assert served(server, "refresh_token") == 1
    assert served(server, "issue_token") == 1


@pytest.mark.parametrize("kind", CLIENTS)
def test_fifty_calls_refused_after_logout_everywhere_log_in_again_once(start_server, kind):
    server = start_server()
    auth = admin_auth(server)
    assert call_users(kind, server.http_url, auth, [(0.0, 1)]) == [200]
    revoke_everything(server, auth)
    assert call_users(kind, server.http_url, auth, [(0.0, 50)]) == [200] * 50
    # One renewal for the fifty refusals: its refresh token is refused too, so it logs in.
    wait_until_served(server, "issue_token", 2)
    assert served(server, "refresh_token", "401") == served(server, "refresh_token") == 1
    assert served(server, "issue_token") == 2


def test_threads_and_two_event_loops_sharing_one_auth_make_one_refresh(start_server):
    # With rotation on, a second refresh in parallel would present a spent refresh token,
    # and AuthGate would revoke the family: the login count would show it.
    server = start_server(access_token_lifetime="2", rotate_refresh_tokens="true")
    auth = admin_auth(server)
    assert call_users("httpx.Client", server.http_url, auth, [(0.0, 1)]) == [200]
    time.sleep(1.2)  # the token is due
    start = threading.Barrier(22)  # twenty threads and two event loops, at once

    def blocking_call(_: int) -> list[int]:
        start.wait()
        return [httpx.get(server.http_url + USERS, auth=auth).status_code]

    def fifteen_async_calls(_: int) -> list[int]:
        start.wait()
        return asyncio.run(_call_users_async(server.http_url, auth, [(0.0, 15)]))

    with ThreadPoolExecutor(22) as pool:
        blocking = pool.map(blocking_call, range(20))
        looping = pool.map(fifteen_async_calls, range(2))
        statuses = [status for batch in [*blocking, *looping] for status in batch]
    assert statuses == [200] * 50
    wait_until_served(server, "list_users", 51)
    assert served(server, "refresh_token") == 1
    assert served(server, "issue_token") == 1


def test_rotated_refresh_tokens_are_kept(start_server):
    server = start_server(access_token_lifetime="2", rotate_refresh_tokens="true")
    assert call_users("httpx.Client", server.http_url, admin_auth(server), SPREAD) == [200] * 8
    wait_until_served(server, "list_users", 8)
    # A spent refresh token presented again would be refused and revoke the family.
    assert served(server, "refresh_token", "200") == served(server, "refresh_token") >= 2
    assert served(server, "issue_token") == 1


def test_an_expired_refresh_token_means_logging_in_again(start_server):
    server = start_server(access_token_lifetime="2", refresh_token_lifetime="3")
    assert call_users("httpx.Client", server.http_url, admin_auth(server), SPREAD) == [200] * 8
    wait_until_served(server, "list_users", 8)
    assert served(server, "issue_token") >= 2
    assert served(server, "list_users", "401") == 0


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_client_fetches_a_new_token_by_the_client_credentials_grant(start_server, kind):
    server = start_server(access_token_lifetime="2")
    client = make_client(server, "users:read")
    auth = AuthGateAuth(
        server.http_url,
        client_id=client.client_id,
        client_secret=client.client_secret,
        scope="users:read",
    )
    assert call_users(kind, server.http_url, auth, SPREAD) == [200] * 8
    with httpx.Client(base_url=server.http_url, auth=auth) as http:
        assert ADMIN_EMAIL in http.get(USERS).text  # users:read lists every user
    wait_until_served(server, "list_users", 9)
    assert served(server, "token", "200") >= 2
    assert served(server, "refresh_token") == 0  # client tokens come with no refresh token


def test_a_wrong_password_is_invalid_credentials_with_its_code(server):
    auth = AuthGateAuth(server.http_url, email=ADMIN_EMAIL, password="not the password")
    with pytest.raises(InvalidCredentials) as refused:
        httpx.get(server.http_url + USERS, auth=auth)
    assert (refused.value.status, refused.value.code) == (401, "no_active_account")


async def test_a_wrong_client_secret_is_invalid_credentials_with_its_code(server):
    client = make_client(server, "users:read")
    auth = AuthGateAuth(server.http_url, client_id=client.client_id, client_secret="wrong")
    async with httpx.AsyncClient(auth=auth) as http:
        with pytest.raises(InvalidCredentials) as refused:
            await http.get(server.http_url + USERS)
    assert (refused.value.status, refused.value.code) == (401, "invalid_client")


def test_a_scope_the_client_may_not_hold_is_invalid_credentials(server):
    client = make_client(server, "users:read")
    auth = AuthGateAuth(
        server.http_url,
        client_id=client.client_id,
        client_secret=client.client_secret,
        scope="users:write",
    )
    with pytest.raises(InvalidCredentials) as refused:
        httpx.get(server.http_url + USERS, auth=auth)
    assert (refused.value.status, refused.value.code) == (400, "invalid_scope")


def test_no_token_or_secret_shows_in_reprs_logs_or_errors(start_server, caplog):
    caplog.set_level(logging.DEBUG, logger="authgate_client")
    server = start_server(access_token_lifetime="2", rotate_refresh_tokens="true")
    client = make_client(server, "users:read")
    user = admin_auth(server)
    service = AuthGateAuth(
        server.http_url, client_id=client.client_id, client_secret=client.client_secret
    )
    sent: list[str] = []
    hooks = {"request": [lambda request: sent.append(request.headers["Authorization"])]}
    for auth in (user, service):
        with httpx.Client(base_url=server.http_url, auth=auth, event_hooks=hooks) as http:
            assert http.get(USERS).status_code == 200
            time.sleep(1.2)  # due: renewed, by a rotating refresh for the user
            assert http.get(USERS).status_code == 200
    refusals = []
    for wrong in (
        AuthGateAuth(server.http_url, email=ADMIN_EMAIL, password=ADMIN_PASSWORD + "!"),
        AuthGateAuth(
            server.http_url, client_id=client.client_id, client_secret=client.client_secret + "!"
        ),
    ):
        with pytest.raises(InvalidCredentials) as refused:
            httpx.get(server.http_url + USERS, auth=wrong)
        refusals.append(refused.value)
    assert user.tokens._held is not None and user.tokens._held.refresh is not None
    tokens = {header.removeprefix("Bearer ") for header in sent} | {user.tokens._held.refresh}
    assert len(tokens) >= 5  # two access tokens each, and the user's refresh token
    shown = [caplog.text, repr(user), repr(service), repr(user.tokens), repr(service.tokens)]
    shown += [repr(user.tokens.login), repr(service.tokens.login), repr(user.tokens._held)]
    shown += [text for error in refusals for text in (str(error), repr(error))]
    for text in shown:
        assert "eyJ" not in text  # the start of every JWT
        for secret in [*tokens, ADMIN_PASSWORD, client.client_secret]:
            assert secret not in text
    assert "refreshed the access token" in caplog.text  # the renewals were logged
