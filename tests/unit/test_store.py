"""UserStore on a temporary SQLite file, and AuthCore over it with a real TokenCodec.

Each test is a coroutine on the session's event loop; its database (a fresh SQLite file under
the test's tmp_path, from the `store` or `core` fixture) opens before it and closes after it.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from authgate.core.admin import Administration
from authgate.core.errors import NO_ACTIVE_ACCOUNT_DETAIL, AuthError, Reason
from authgate.core.operations import AuthCore
from authgate.core.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from authgate.core.tokens import TokenType
from authgate.core.users import User
from authgate.store.connection_threads import DuplicateRow
from authgate.store.refresh_tokens import RefreshTokenRegistry
from authgate.store.schema_version import HEAD_REVISION, alembic_config, is_current, migrate
from authgate.store.users import UserStore

from unit_fixtures import (
    PASSWORD,
    as_caller,
    delete_user,
    insert_users,
    open_core,
    open_database,
    sqlite_url,
    user_emails,
)

# Store.


async def test_migrate_twice_is_idempotent(tmp_path: Path) -> None:
    async with open_database(sqlite_url(tmp_path)) as database:
        await migrate(database)
        await UserStore(database).create_user("ada@example.com", PASSWORD)
        await migrate(database)

        assert await database.read(user_emails) == ["ada@example.com"]


async def test_a_new_database_is_behind_until_migrated(tmp_path: Path) -> None:
    async with open_database(sqlite_url(tmp_path)) as database:
        before = await is_current(database)
        await migrate(database)

        assert (before, await is_current(database)) == (False, True)


def test_head_revision_is_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


async def test_created_user_verifies_with_the_right_password(store: UserStore) -> None:
    created = await store.create_user("ada@example.com", PASSWORD)

    verified = await store.verify_credentials("ada@example.com", PASSWORD)

    assert verified == created


async def test_created_user_is_active_non_staff_never_logged_in(store: UserStore) -> None:
    user = await store.create_user("ada@example.com", PASSWORD)

    assert (user.is_active, user.is_staff, user.last_login) == (True, False, None)
    assert user.created_at.tzinfo is not None


@pytest.mark.parametrize("password", ["wrong password", "", PASSWORD.upper(), PASSWORD + " "])
async def test_wrong_password_does_not_verify(store: UserStore, password: str) -> None:
    await store.create_user("ada@example.com", PASSWORD)

    assert await store.verify_credentials("ada@example.com", password) is None


async def test_unknown_email_does_not_verify(store: UserStore) -> None:
    await store.create_user("ada@example.com", PASSWORD)

    assert await store.verify_credentials("bob@example.com", PASSWORD) is None


@pytest.mark.parametrize("login_email", ["ADA@Example.COM", "  ada@example.com\t"])
async def test_email_matches_regardless_of_case_and_surrounding_space(
    store: UserStore, login_email: str
) -> None:
    await store.create_user("Ada@Example.com", PASSWORD)

    verified = await store.verify_credentials(login_email, PASSWORD)

    assert verified is not None
    assert verified.email == "ada@example.com"


@pytest.mark.parametrize(
    "second_email", ["ada@example.com", "ADA@EXAMPLE.COM", " Ada@example.com "]
)
async def test_email_is_unique_regardless_of_case_and_surrounding_space(
    store: UserStore, second_email: str
) -> None:
    await store.create_user("ada@example.com", PASSWORD)

    with pytest.raises(AuthError) as caught:
        await store.create_user(second_email, "another password")

    assert caught.value.reason is Reason.ALREADY_EXISTS


async def test_inactive_user_does_not_verify_even_with_the_right_password(
    store: UserStore,
) -> None:
    await store.create_user("ada@example.com", PASSWORD)
    await store.set_active("ada@example.com", False)

    assert await store.verify_credentials("ada@example.com", PASSWORD) is None


async def test_reactivated_user_verifies_again(store: UserStore) -> None:
    await store.create_user("ada@example.com", PASSWORD)
    await store.set_active("ada@example.com", False)
    await store.set_active("ada@example.com", True)

    assert await store.verify_credentials("ada@example.com", PASSWORD) is not None


async def test_set_active_of_unknown_email_is_none(store: UserStore) -> None:
    assert await store.set_active("nobody@example.com", False) is None


def test_user_dataclass_has_no_password_or_hash_field() -> None:
    names = [field.name.lower() for field in dataclasses.fields(User)]

    assert not [name for name in names if "hash" in name or "pass" in name]


async def test_user_from_the_store_carries_no_password_or_hash(store: UserStore) -> None:
    created = await store.create_user("ada@example.com", PASSWORD)
    users = [
        created,
        await store.verify_credentials("ada@example.com", PASSWORD),
        await store.get(created.id),
        *(await store.page(after_id="", limit=10)),
    ]

    for user in users:
        assert user is not None
        public = [name.lower() for name in dir(user) if not name.startswith("__")]
        assert not [name for name in public if "hash" in name or "pass" in name]
        assert PASSWORD not in repr(user)
        assert "$argon2" not in repr(user)


async def test_page_lists_every_user_once_in_id_order(store: UserStore) -> None:
    ids = await insert_users(store.database, 25)
    pages: list[list[str]] = []
    after = ""
    while page := await store.page(after_id=after, limit=10):
        pages.append([user.id for user in page])
        after = page[-1].id

    assert [len(page) for page in pages] == [10, 10, 5]
    assert [user_id for page in pages for user_id in page] == ids


async def test_page_with_only_id_returns_just_that_user(store: UserStore) -> None:
    ids = await insert_users(store.database, 5)

    page = await store.page(after_id="", limit=10, only_id=ids[2])

    assert [user.id for user in page] == [ids[2]]


async def test_page_with_only_id_after_that_user_is_empty(store: UserStore) -> None:
    ids = await insert_users(store.database, 5)

    assert await store.page(after_id=ids[2], limit=10, only_id=ids[2]) == []


async def test_user_created_later_has_a_larger_id(store: UserStore) -> None:
    created = [await store.create_user(f"u{n}@example.com", PASSWORD) for n in range(3)]

    assert [user.id for user in created] == sorted(user.id for user in created)
    assert len({user.id for user in created}) == 3


async def test_record_login_sets_last_login_in_utc(store: UserStore) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    created = await store.create_user("ada@example.com", PASSWORD)

    await store.record_login(created.id, when)
    user = await store.get(created.id)

    assert user is not None
    assert user.last_login == when
    assert user.last_login.utcoffset() == timedelta(0)


async def test_a_login_whose_token_cannot_be_registered_records_no_login(
    store: UserStore,
) -> None:
    """The login's `last_login` and its refresh token are one transaction: all or nothing."""
    registry = RefreshTokenRegistry(store.database)
    created = await store.create_user("ada@example.com", PASSWORD)
    first = datetime(2030, 1, 2, tzinfo=UTC)
    expires = first + timedelta(days=1)
    await registry.register_login("jti-1", created.id, expires, first)

    with pytest.raises(DuplicateRow):
        await registry.register_login("jti-1", created.id, expires, first + timedelta(hours=1))
    user = await store.get(created.id)

    assert user is not None
    assert user.last_login == first


async def test_get_of_unknown_id_is_none(store: UserStore) -> None:
    await store.create_user("ada@example.com", PASSWORD)

    assert await store.get("01ZZZZZZZZZZZZZZZZZZZZZZZZ") is None


async def test_ping_passes_on_a_reachable_database(store: UserStore) -> None:
    await store.ping()


# AuthCore over the real store.


async def staff_and_member(admin: Administration) -> tuple[User, User]:
    staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
    member = await admin.create_user("ada@example.com", PASSWORD)
    return staff, member


async def test_staff_sees_every_user(core: AuthCore, admin: Administration) -> None:
    staff, member = await staff_and_member(admin)

    page = await core.list_visible_users(as_caller(staff), 0, "")

    assert [user.id for user in page.users] == sorted([staff.id, member.id])


async def test_non_staff_sees_only_themselves(core: AuthCore, admin: Administration) -> None:
    _, member = await staff_and_member(admin)

    page = await core.list_visible_users(as_caller(member), 0, "")

    assert [user.id for user in page.users] == [member.id]
    assert page.next_page_token == ""


async def test_page_size_zero_means_the_default_of_fifty(
    core: AuthCore, admin: Administration
) -> None:
    staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
    await insert_users(core.store.database, DEFAULT_PAGE_SIZE + 5)

    page = await core.list_visible_users(as_caller(staff), 0, "")

    assert len(page.users) == DEFAULT_PAGE_SIZE == 50
    assert page.next_page_token != ""


async def test_page_size_over_the_maximum_is_clamped_to_a_thousand(
    core: AuthCore, admin: Administration
) -> None:
    staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
    await insert_users(core.store.database, MAX_PAGE_SIZE + 5)

    page = await core.list_visible_users(as_caller(staff), 5000, "")

    assert len(page.users) == MAX_PAGE_SIZE == 1000
    assert page.next_page_token != ""


async def test_page_tokens_walk_every_user_once_and_end_empty(
    core: AuthCore, admin: Administration
) -> None:
    staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
    ids = sorted([staff.id, *await insert_users(core.store.database, 4)])
    pages: list[list[str]] = []
    tokens: list[str] = []
    token = ""
    while True:
        page = await core.list_visible_users(as_caller(staff), 2, token)
        pages.append([user.id for user in page.users])
        tokens.append(page.next_page_token)
        token = page.next_page_token
        if not token:
            break

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [user_id for page in pages for user_id in page] == ids
    assert tokens[-1] == ""
    assert all(tokens[:-1])


async def test_last_full_page_has_an_empty_next_page_token(
    core: AuthCore, admin: Administration
) -> None:
    staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
    await insert_users(core.store.database, 3)

    first = await core.list_visible_users(as_caller(staff), 2, "")
    second = await core.list_visible_users(as_caller(staff), 2, first.next_page_token)

    assert [len(second.users), len(second.next_page_token)] == [2, 0]


def assert_invalid_field(error: AuthError, field: str) -> None:
    assert error.reason is Reason.INVALID_REQUEST
    assert field in error.field_errors
    assert error.field_errors[field]


@pytest.mark.parametrize("page_size", [-1, -1000])
async def test_negative_page_size_is_an_invalid_request(
    core: AuthCore, admin: Administration, page_size: int
) -> None:
    staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)

    with pytest.raises(AuthError) as caught:
        await core.list_visible_users(as_caller(staff), page_size, "")

    assert_invalid_field(caught.value, "page_size")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "page_token",
    [
        "!!!",
        b64(b"not json"),
        b64(b'{"after": 5}'),
        b64(b'{"after": ""}'),
        b64(b'{"before": "01ABC"}'),
        b64(b'["01ABC"]'),
        b64(b"\xff\xfe"),
        "é",
    ],
)
async def test_malformed_page_token_is_an_invalid_request(
    core: AuthCore, admin: Administration, page_token: str
) -> None:
    staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)

    with pytest.raises(AuthError) as caught:
        await core.list_visible_users(as_caller(staff), 10, page_token)

    assert_invalid_field(caught.value, "page_token")


@pytest.mark.parametrize(
    ("email", "password", "fields"),
    [
        ("", PASSWORD, {"email"}),
        ("   ", PASSWORD, {"email"}),
        ("ada@example.com", "", {"password"}),
        ("ada@example.com", " \t ", {"password"}),
        ("", "", {"email", "password"}),
    ],
)
async def test_blank_login_fields_are_an_invalid_request_naming_them(
    core: AuthCore, admin: Administration, email: str, password: str, fields: set[str]
) -> None:
    await admin.create_user("ada@example.com", PASSWORD)

    with pytest.raises(AuthError) as caught:
        await core.issue_token_pair(email, password)

    assert caught.value.reason is Reason.INVALID_REQUEST
    assert set(caught.value.field_errors) == fields


async def test_right_credentials_issue_a_working_token_pair(
    core: AuthCore, admin: Administration
) -> None:
    user = await admin.create_user("ada@example.com", PASSWORD)

    pair = await core.issue_token_pair("ada@example.com", PASSWORD)
    authenticated = await core.authenticate(pair.access)
    refreshed = await core.refresh_access_token(pair.refresh)
    again = await core.authenticate(refreshed.access)

    assert [authenticated.subject, again.subject] == [user.id, user.id]


async def test_login_records_last_login(core: AuthCore, admin: Administration) -> None:
    created = await admin.create_user("ada@example.com", PASSWORD)

    await core.issue_token_pair("ada@example.com", PASSWORD)
    user = await core.store.get(created.id)

    assert user is not None
    assert user.last_login is not None
    assert user.last_login.utcoffset() == timedelta(0)


async def login_error(
    data_dir: Path, email: str, password: str, *, active: bool = True
) -> AuthError:
    """The error a login with `email` and `password` meets, on a store of its own (in
    `data_dir`) holding ada@example.com with PASSWORD, deactivated unless `active`."""
    async with open_core(data_dir) as (core, admin):
        await admin.create_user("ada@example.com", PASSWORD)
        if not active:
            await admin.set_active("ada@example.com", False)
        with pytest.raises(AuthError) as caught:
            await core.issue_token_pair(email, password)
    return caught.value


def error_shape(error: AuthError) -> tuple[object, ...]:
    return (error.reason, error.code, error.detail, error.field_errors, str(error), repr(error))


async def test_wrong_password_is_no_active_account(tmp_path: Path) -> None:
    error = await login_error(tmp_path, "ada@example.com", "wrong password")

    assert error.reason is Reason.NO_ACTIVE_ACCOUNT
    assert error.detail == NO_ACTIVE_ACCOUNT_DETAIL


async def test_unknown_email_fails_exactly_like_a_wrong_password(tmp_path: Path) -> None:
    wrong_password = await login_error(tmp_path / "a", "ada@example.com", "wrong password")

    unknown_email = await login_error(tmp_path / "b", "bob@example.com", PASSWORD)

    assert error_shape(unknown_email) == error_shape(wrong_password)


async def test_inactive_user_fails_exactly_like_a_wrong_password(tmp_path: Path) -> None:
    wrong_password = await login_error(tmp_path / "a", "ada@example.com", "wrong password")

    inactive = await login_error(tmp_path / "b", "ada@example.com", PASSWORD, active=False)

    assert error_shape(inactive) == error_shape(wrong_password)


async def test_refresh_for_a_deactivated_user_is_refused(
    core: AuthCore, admin: Administration
) -> None:
    await admin.create_user("ada@example.com", PASSWORD)
    pair = await core.issue_token_pair("ada@example.com", PASSWORD)
    await admin.set_active("ada@example.com", False)

    with pytest.raises(AuthError) as caught:
        await core.refresh_access_token(pair.refresh)

    assert caught.value.reason is Reason.TOKEN_NOT_VALID


async def test_refresh_for_a_deleted_user_is_refused(core: AuthCore, admin: Administration) -> None:
    user = await admin.create_user("ada@example.com", PASSWORD)
    pair = await core.issue_token_pair("ada@example.com", PASSWORD)
    await delete_user(core.store.database, user.id)

    with pytest.raises(AuthError) as caught:
        await core.refresh_access_token(pair.refresh)

    assert caught.value.reason is Reason.TOKEN_NOT_VALID


async def test_access_token_for_a_deactivated_user_is_refused(
    core: AuthCore, admin: Administration
) -> None:
    await admin.create_user("ada@example.com", PASSWORD)
    pair = await core.issue_token_pair("ada@example.com", PASSWORD)
    await admin.set_active("ada@example.com", False)

    with pytest.raises(AuthError) as caught:
        await core.authenticate(pair.access)

    assert caught.value.reason is Reason.TOKEN_NOT_VALID


async def test_access_token_is_refused_for_refresh(core: AuthCore, admin: Administration) -> None:
    await admin.create_user("ada@example.com", PASSWORD)
    pair = await core.issue_token_pair("ada@example.com", PASSWORD)

    with pytest.raises(AuthError) as caught:
        await core.refresh_access_token(pair.access)

    assert caught.value.reason is Reason.TOKEN_NOT_VALID


async def test_refresh_returns_only_an_access_token_without_rotation(
    core: AuthCore, admin: Administration
) -> None:
    await admin.create_user("ada@example.com", PASSWORD)
    pair = await core.issue_token_pair("ada@example.com", PASSWORD)

    refreshed = await core.refresh_access_token(pair.refresh)
    claims = core.tokens.decode(refreshed.access, TokenType.ACCESS)

    assert (claims.token_type.value, refreshed.refresh) == ("access", None)


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-email", PASSWORD, "email"),
        ("ada@example", PASSWORD, "email"),
        ("ada@@example.com", PASSWORD, "email"),
        ("ada lovelace@example.com", PASSWORD, "email"),
        ("", PASSWORD, "email"),
        ("a" * 243 + "@example.com", PASSWORD, "email"),
        ("ada@example.com", "short", "password"),
        ("ada@example.com", "1234567", "password"),
    ],
    ids=[
        "no-at",
        "no-dot-in-domain",
        "two-ats",
        "space",
        "empty-email",
        "255-char-email",
        "5-char-password",
        "7-char-password",
    ],
)
async def test_create_user_rejects_bad_email_or_password_by_field(
    admin: Administration, email: str, password: str, field: str
) -> None:
    with pytest.raises(AuthError) as caught:
        await admin.create_user(email, password)

    assert_invalid_field(caught.value, field)
    assert set(caught.value.field_errors) == {field}


async def test_create_user_accepts_a_254_char_email_and_an_8_char_password(
    admin: Administration,
) -> None:
    email = "a" * 242 + "@example.com"

    created = await admin.create_user(email, "12345678")

    assert len(email) == 254
    assert created.email == email
