"""Two `authgate serve` replicas sharing one PostgreSQL database, one Redis and one key file.

Whatever one replica issues, revokes or counts, the other honours: a load balancer may send
each call of a client to either of them.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from authgate.store.database import Database
from authgate.store.users import UserStore

from databases import temporary_postgres_database
from door_clients import BlockingDoor, Outcome, blocking_refused_within_bound
from servers import ServerProcess, open_door

REDIS_URL = os.environ.get("AUTHGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
RUN = secrets.token_hex(4)  # the limiter's Redis keys are global: fresh emails every run
ADMIN_EMAIL = f"replica-admin-{RUN}@example.com"
PASSWORD = "correct horse battery"
WRONG = "not the password"
PER_ACCOUNT = 10


def require_redis(url: str) -> None:
    """Under CI=true an unreachable Redis fails the run; elsewhere these tests skip, loudly."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis must be reachable under CI ({url}): {error}")
        pytest.skip(f"Redis not reachable at {url}: {error}")
    finally:
        client.close()


@dataclass
class Replicas:
    a: ServerProcess
    b: ServerProcess
    database_url: str

    async def create_user(self, email: str, *, staff: bool = False) -> None:
        """Create a user straight in the shared store (as `authgate users create` would)."""
        database = Database(self.database_url)
        try:
            await UserStore(database).create_user(email, PASSWORD, is_staff=staff)
        finally:
            database.close()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    require_redis(REDIS_URL)
    # A data directory each, as on two machines: the signing keys are in the shared store.
    data_dirs: Path = tmp_path_factory.mktemp("replicas")
    with temporary_postgres_database() as url:
        env = {
            "AUTHGATE_DATABASE_URL": url,
            "AUTHGATE_REDIS_URL": REDIS_URL,
            "AUTHGATE_BOOTSTRAP_EMAIL": ADMIN_EMAIL,
            "AUTHGATE_BOOTSTRAP_PASSWORD": PASSWORD,
            "AUTHGATE_LOGIN_LIMIT_PER_ACCOUNT": f"{PER_ACCOUNT}/minute",
            # Every test client is 127.0.0.1, and this counter lives in the shared Redis.
            "AUTHGATE_LOGIN_LIMIT_PER_ADDRESS": "100000/minute",
        }
        a = ServerProcess(data_dirs / "a", env).start()  # creates the schema and the first key
        try:
            b = ServerProcess(data_dirs / "b", env).start()
        except BaseException:
            a.stop()
            raise
        try:
            yield Replicas(a, b, url)
        finally:
            codes = {"a": a.stop(), "b": b.stop()}
            assert codes == {"a": 0, "b": 0}, a.log + b.log


@pytest.fixture(params=["rest", "grpc"])
def doors(
    request: pytest.FixtureRequest, replicas: Replicas
) -> Iterator[tuple[BlockingDoor, BlockingDoor]]:
    """The same kind of door onto replica A and onto replica B."""
    on_a, on_b = open_door(request.param, replicas.a), open_door(request.param, replicas.b)
    yield on_a, on_b
    on_a.close()
    on_b.close()


_numbers = iter(range(1_000_000))


async def fresh_user(replicas: Replicas, *, staff: bool = False) -> str:
    email = f"replica-user{next(_numbers)}-{RUN}@example.com"
    await replicas.create_user(email, staff=staff)
    return email


@pytest.fixture
async def user_email(replicas: Replicas) -> str:
    """A fresh user's email, in the store both replicas share."""
    return await fresh_user(replicas)


@pytest.fixture
async def staff_email(replicas: Replicas) -> str:
    """A fresh staff user's email, in the store both replicas share."""
    return await fresh_user(replicas, staff=True)


def login(door: BlockingDoor, email: str) -> Outcome:
    outcome = door.issue_token(email, PASSWORD)
    assert outcome.ok, outcome
    return outcome


def emails(listing: Outcome) -> set[str]:
    assert listing.ok, listing
    return {user["email"] for user in listing.data["users"]}


def test_replicas_share_the_key_file_and_serve_the_same_jwks(
    replicas: Replicas, doors: tuple[BlockingDoor, BlockingDoor]
) -> None:
    on_a, on_b = doors

    jwks_a, jwks_b = on_a.get_jwks(), on_b.get_jwks()

    assert jwks_a.ok and jwks_b.ok, (jwks_a, jwks_b)
    assert jwks_a.data == jwks_b.data


def test_pair_from_a_refreshes_on_b_and_the_new_access_lists_users_on_a(
    doors: tuple[BlockingDoor, BlockingDoor], staff_email: str
) -> None:
    on_a, on_b = doors
    pair = login(on_a, staff_email)

    refreshed = on_b.refresh_token(pair.data["refresh"])
    assert refreshed.ok, refreshed
    listing = on_a.list_users(refreshed.data["access"], page_size=1000)

    assert {staff_email, ADMIN_EMAIL} <= emails(listing)


def test_refresh_token_revoked_on_a_is_refused_on_b(
    doors: tuple[BlockingDoor, BlockingDoor], user_email: str
) -> None:
    on_a, on_b = doors
    refresh = login(on_b, user_email).data["refresh"]
    assert on_b.verify_token(refresh).ok

    revoked = on_a.revoke_token(refresh)
    assert revoked.ok, revoked
    since = time.monotonic()
    verified = blocking_refused_within_bound(lambda: on_b.verify_token(refresh), since)
    refreshed = on_b.refresh_token(refresh)

    assert (refreshed.reason, verified.reason) == ("token_not_valid", "token_not_valid")


def test_logout_everywhere_on_b_refuses_earlier_tokens_on_a(
    doors: tuple[BlockingDoor, BlockingDoor], user_email: str
) -> None:
    on_a, on_b = doors
    earlier = login(on_a, user_email)
    assert on_a.list_users(earlier.data["access"]).ok

    logged_out = on_b.revoke_all_tokens(login(on_b, user_email).data["access"])
    assert logged_out.ok, logged_out
    since = time.monotonic()
    listing = blocking_refused_within_bound(lambda: on_a.list_users(earlier.data["access"]), since)
    refreshed = on_a.refresh_token(earlier.data["refresh"])

    assert (listing.reason, refreshed.reason) == ("token_not_valid", "token_not_valid")
    a_new_login = login(on_a, user_email).data["access"]
    assert emails(on_a.list_users(a_new_login)) == {user_email}


@pytest.mark.parametrize("eleventh_on", ["a", "b"])
def test_failed_logins_count_across_replicas(
    doors: tuple[BlockingDoor, BlockingDoor], user_email: str, eleventh_on: str
) -> None:
    on_a, on_b = doors
    half = PER_ACCOUNT // 2

    failures = [on_a.issue_token(user_email, WRONG) for _ in range(half)]
    failures += [on_b.issue_token(user_email, WRONG) for _ in range(PER_ACCOUNT - half)]
    door = on_a if eleventh_on == "a" else on_b
    eleventh = door.issue_token(user_email, WRONG)
    right_password = door.issue_token(user_email, PASSWORD)

    assert [failure.reason for failure in failures] == ["no_active_account"] * PER_ACCOUNT
    throttled = 429 if door.name == "rest" else "RESOURCE_EXHAUSTED"
    assert (eleventh.status, eleventh.reason) == (throttled, "throttled"), eleventh
    assert eleventh.retry_after is not None and 0 < eleventh.retry_after <= 60
    assert (right_password.status, right_password.reason) == (throttled, "throttled")


def test_an_unknown_email_is_throttled_across_replicas_too(
    replicas: Replicas, doors: tuple[BlockingDoor, BlockingDoor]
) -> None:
    on_a, on_b = doors
    email = f"nobody{next(_numbers)}-{RUN}@example.com"

    failures = [(on_a, on_b)[n % 2].issue_token(email, WRONG) for n in range(PER_ACCOUNT)]
    after = (on_a.issue_token(email, WRONG), on_b.issue_token(email, WRONG))

    assert [failure.reason for failure in failures] == ["no_active_account"] * PER_ACCOUNT
    assert [outcome.reason for outcome in after] == ["throttled", "throttled"]


def test_both_replicas_exit_0_on_sigterm(replicas: Replicas) -> None:
    # Last in the module: the fixture's teardown finds them stopped already.
    codes = {"a": replicas.a.stop(), "b": replicas.b.stop()}

    assert codes == {"a": 0, "b": 0}, replicas.a.log + replicas.b.log
    assert "stopped" in replicas.a.log and "stopped" in replicas.b.log
