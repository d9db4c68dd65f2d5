"""Moving off Django: a real Django project's users and simplejwt refresh tokens, in AuthGate.

The project (tests/django_project.py) hashes its users with Django's own hashers and issues
refresh tokens with simplejwt; `authgate users import-django` (a real process) imports its
`dumpdata`, and both doors, served in-process on the same store, take them.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from accounts import with_key_encryption_key
from databases import own_database
from django_project import DJANGO_PASSWORD, HASHERS, SECRET_KEY, DjangoProject, make_django_project
from door_clients import assert_refused, login, open_door
from in_process import Service, serving
from test_cli import authgate, error_line

DOORS = ("rest", "grpc")
USERS = [
    *({"email": f"{hasher}-{door}@example.com"} for hasher in HASHERS for door in DOORS),
    *({"email": f"refresh-{door}@example.com"} for door in DOORS),
    {"email": "wrong-password@example.com"},
    *({"email": f"deactivated-{door}@example.com"} for door in DOORS),
    *({"email": f"logout-{door}@example.com"} for door in DOORS),
    {"email": "setting-removed@example.com"},
    {"email": "timing@example.com"},
    {"email": "staff@example.com", "staff": True},
    {"email": "inactive-in-django@example.com", "active": False},
]


@dataclass(frozen=True)
class Imported:
    project: DjangoProject
    data_dir: Path
    database_url: str
    first_import: str  # what the first `import-django` printed


@pytest.fixture(scope="module")
def django_project(tmp_path_factory: pytest.TempPathFactory) -> DjangoProject:
    return make_django_project(tmp_path_factory.mktemp("django"), USERS)


@pytest.fixture(scope="module")
def imported(
    tmp_path_factory: pytest.TempPathFactory, django_project: DjangoProject, database_url: str
) -> Iterator[Imported]:
    """The project's dump imported with the CLI into a fresh store of each kind."""
    with own_database(database_url) as url:
        data_dir = tmp_path_factory.mktemp("authgate")
        result = import_django(data_dir, url, django_project.dump)
        assert result.returncode == 0, result.stderr
        yield Imported(django_project, data_dir, url, result.stdout)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(imported: Imported) -> AsyncIterator[Service]:
    async with serving(
        imported.data_dir, imported.database_url, django_secret_key=SECRET_KEY
    ) as running:
        yield running


def import_django(data_dir: Path, url: str, dump: Path, *flags: str) -> object:
    env = with_key_encryption_key({"AUTHGATE_DATABASE_URL": url})
    return authgate(data_dir, "users", "import-django", str(dump), *flags, env=env)


async def stored_hash(service: Service, email: str) -> str:
    row = await service.runtime.core.store.database.read(
        lambda s: s.one("SELECT password_hash FROM users WHERE email = :e", {"e": email})
    )
    assert row is not None
    return str(row[0])


def test_the_first_import_creates_every_user(imported: Imported) -> None:
    assert imported.first_import.strip() == f"{len(USERS)} created, 0 updated, 0 skipped"


def test_a_second_import_adds_nobody(imported: Imported) -> None:
    result = import_django(imported.data_dir, imported.database_url, imported.project.dump)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"0 created, 0 updated, {len(USERS)} skipped"


@pytest.mark.parametrize("hasher", HASHERS)
@pytest.mark.parametrize("door_kind", DOORS)
async def test_imported_users_log_in_with_their_django_password_then_hold_argon2id(
    service: Service, hasher: str, door_kind: str
) -> None:
    email = f"{hasher}-{door_kind}@example.com"
    assert (await stored_hash(service, email)).startswith(f"{hasher}$")
    door = open_door(door_kind, service.http_url, service.grpc_target)
    try:
        pair = await login(door, email, DJANGO_PASSWORD)
        assert (await door.list_users(pair["access"])).ok
    finally:
        await door.close()
    assert (await stored_hash(service, email)).startswith("$argon2id$")


@pytest.mark.parametrize("door_kind", DOORS)
async def test_a_wrong_password_is_refused_and_keeps_the_django_hash(
    service: Service, door_kind: str
) -> None:
    door = open_door(door_kind, service.http_url, service.grpc_target)
    try:
        assert_refused(
            await door.issue_token("wrong-password@example.com", "not it"), "no_active_account"
        )
        assert_refused(
            await door.issue_token("inactive-in-django@example.com", DJANGO_PASSWORD),
            "no_active_account",
        )
    finally:
        await door.close()
    assert (await stored_hash(service, "wrong-password@example.com")).startswith("pbkdf2_sha256$")


@pytest.mark.parametrize("door_kind", DOORS)
async def test_a_simplejwt_refresh_token_is_accepted(
    service: Service, django_project: DjangoProject, door_kind: str
) -> None:
    door = open_door(door_kind, service.http_url, service.grpc_target)
    token = django_project.refresh_tokens[f"refresh-{door_kind}@example.com"]
    try:
        refreshed = await door.refresh_token(token)
        assert refreshed.ok, (refreshed.reason, refreshed.detail)
        listed = await door.list_users(refreshed.data["access"])
        assert listed.ok
        assert [u["email"] for u in listed.data["users"]] == [f"refresh-{door_kind}@example.com"]
    finally:
        await door.close()


@pytest.mark.parametrize("door_kind", DOORS)
async def test_deactivation_refuses_a_simplejwt_refresh_token(
    service: Service, django_project: DjangoProject, door_kind: str
) -> None:
    email = f"deactivated-{door_kind}@example.com"
    door = open_door(door_kind, service.http_url, service.grpc_target)
    token = django_project.refresh_tokens[email]
    try:
        assert (await door.refresh_token(token)).ok
        await service.set_active(email, False)
        assert_refused(await door.refresh_token(token), "token_not_valid")
    finally:
        await door.close()


@pytest.mark.parametrize("door_kind", DOORS)
async def test_logout_everywhere_refuses_a_simplejwt_refresh_token(
    service: Service, django_project: DjangoProject, door_kind: str
) -> None:
    email = f"logout-{door_kind}@example.com"
    door = open_door(door_kind, service.http_url, service.grpc_target)
    token = django_project.refresh_tokens[email]
    try:
        refreshed = await door.refresh_token(token)
        assert refreshed.ok, (refreshed.reason, refreshed.detail)
        assert (await door.revoke_all_tokens(refreshed.data["access"])).ok
        assert_refused(await door.refresh_token(token), "token_not_valid")
    finally:
        await door.close()


async def test_a_simplejwt_refresh_token_is_refused_once_the_setting_is_removed(
    service: Service, imported: Imported, django_project: DjangoProject
) -> None:
    token = django_project.refresh_tokens["setting-removed@example.com"]
    door = open_door("rest", service.http_url, service.grpc_target)
    try:
        assert (await door.refresh_token(token)).ok
    finally:
        await door.close()
    async with serving(imported.data_dir, imported.database_url) as without:
        for kind in DOORS:
            door = open_door(kind, without.http_url, without.grpc_target)
            try:
                assert_refused(await door.refresh_token(token), "token_not_valid")
            finally:
                await door.close()


def test_a_bad_record_is_named_on_one_line_and_nothing_is_written(
    imported: Imported, tmp_path: Path
) -> None:
    good = {
        "model": "auth.user",
        "pk": 9001,
        "fields": {"email": "new-and-fine@example.com", "password": "!unusable", "is_active": True},
    }
    bad = {
        "model": "auth.user",
        "pk": 9002,
        "fields": {"email": "bad-hash@example.com", "password": "md5$salt$0123", "is_active": True},
    }
    dump = tmp_path / "bad.json"
    dump.write_text(json.dumps([good, bad]))
    result = import_django(imported.data_dir, imported.database_url, dump)
    line = error_line(result)
    assert "record 2 (auth.user pk=9002)" in line
    assert "unsupported hash algorithm 'md5'" in line
    again = import_django(imported.data_dir, imported.database_url, imported.project.dump)
    assert again.stdout.strip().startswith("0 created")
    listing = authgate(
        imported.data_dir,
        "users",
        "list",
        env=with_key_encryption_key({"AUTHGATE_DATABASE_URL": imported.database_url}),
    )
    assert "new-and-fine@example.com" not in listing.stdout


async def test_an_imported_users_failed_login_costs_what_any_other_does(service: Service) -> None:
    """Django's PBKDF2 (1,000,000 iterations: about 250 ms here) against argon2id (about
    30 ms): without the top-up, an imported user's failure takes eight times as long as an
    unknown email's. Interleaved medians of seven, compared loosely: other tests share the
    machine (tests/unit/test_django_hashes.py checks the work itself, exactly)."""
    store = service.runtime.core.store
    native = await service.make_user()
    emails = {"imported": "timing@example.com", "unknown": "nobody-at-all@example.com"}
    emails["native"] = native.email
    spent: dict[str, list[float]] = {name: [] for name in emails}
    for _ in range(7):
        for name, email in emails.items():
            started = time.perf_counter()
            assert await store.verify_credentials(email, "not the password") is None
            spent[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(times) for name, times in spent.items()}
    print("failed login, median of 7:", {k: f"{v * 1000:.0f} ms" for k, v in medians.items()})
    for other in ("unknown", "native"):
        assert 1 / 3 < medians["imported"] / medians[other] < 3
