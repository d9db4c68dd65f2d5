"""UserStore on a temporary SQLite file, and AuthCore over it with a real TokenCodec.

Each test runs one asyncio.run; the database lives and dies inside it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from authgate.core.admin import Administration
from authgate.core.errors import NO_ACTIVE_ACCOUNT_DETAIL, AuthError, Reason
from authgate.core.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from authgate.core.tokens import TokenType
from authgate.core.users import User
from authgate.store.database import Database
from authgate.store.schema_version import HEAD_REVISION, alembic_config, is_current, migrate
from authgate.store.users import UserStore

from unit_fixtures import (
    PASSWORD,
    delete_user,
    insert_users,
    open_core,
    open_database,
    open_store,
    sqlite_url,
    user_emails,
)

# Store.


def test_migrate_twice_is_idempotent(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        url = sqlite_url(tmp_path)
        async with open_database(url) as database:
            await migrate(database)
            await UserStore(database).create_user("ada@example.com", PASSWORD)
            await migrate(database)
            return await database.read(user_emails)

    assert asyncio.run(scenario()) == ["ada@example.com"]


def test_a_new_database_is_behind_until_migrated(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        url = sqlite_url(tmp_path)
        async with open_database(url) as database:
            before = await is_current(database)
            await migrate(database)
            return before, await is_current(database)

    assert asyncio.run(scenario()) == (False, True)


def test_head_revision_is_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_created_user_verifies_with_the_right_password(tmp_path: Path) -> None:
    async def scenario() -> tuple[User, User | None]:
        async with open_store(tmp_path) as store:
            created = await store.create_user("ada@example.com", PASSWORD)
            return created, await store.verify_credentials("ada@example.com", PASSWORD)

    created, verified = asyncio.run(scenario())

    assert verified == created


def test_created_user_is_active_non_staff_never_logged_in(tmp_path: Path) -> None:
    async def scenario() -> User:
        async with open_store(tmp_path) as store:
            return await store.create_user("ada@example.com", PASSWORD)

    user = asyncio.run(scenario())

    assert (user.is_active, user.is_staff, user.last_login) == (True, False, None)
    assert user.created_at.tzinfo is not None


@pytest.mark.parametrize("password", ["wrong password", "", PASSWORD.upper(), PASSWORD + " "])
def test_wrong_password_does_not_verify(tmp_path: Path, password: str) -> None:
    async def scenario() -> User | None:
        async with open_store(tmp_path) as store:
            await store.create_user("ada@example.com", PASSWORD)
            return await store.verify_credentials("ada@example.com", password)

    assert asyncio.run(scenario()) is None


def test_unknown_email_does_not_verify(tmp_path: Path) -> None:
    async def scenario() -> User | None:
        async with open_store(tmp_path) as store:
            await store.create_user("ada@example.com", PASSWORD)
            return await store.verify_credentials("bob@example.com", PASSWORD)

    assert asyncio.run(scenario()) is None


@pytest.mark.parametrize("login_email", ["ADA@Example.COM", "  ada@example.com\t"])
def test_email_matches_regardless_of_case_and_surrounding_space(
    tmp_path: Path, login_email: str
) -> None:
    async def scenario() -> User | None:
        async with open_store(tmp_path) as store:
            await store.create_user("Ada@Example.com", PASSWORD)
            return await store.verify_credentials(login_email, PASSWORD)

    verified = asyncio.run(scenario())

    assert verified is not None
    assert verified.email == "ada@example.com"


@pytest.mark.parametrize(
    "second_email", ["ada@example.com", "ADA@EXAMPLE.COM", " Ada@example.com "]
)
def test_email_is_unique_regardless_of_case_and_surrounding_space(
    tmp_path: Path, second_email: str
) -> None:
    async def scenario() -> None:
        async with open_store(tmp_path) as store:
            await store.create_user("ada@example.com", PASSWORD)
            await store.create_user(second_email, "another password")

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

    assert caught.value.reason is Reason.ALREADY_EXISTS


def test_inactive_user_does_not_verify_even_with_the_right_password(tmp_path: Path) -> None:
    async def scenario() -> User | None:
        async with open_store(tmp_path) as store:
            await store.create_user("ada@example.com", PASSWORD)
            await store.set_active("ada@example.com", False)
            return await store.verify_credentials("ada@example.com", PASSWORD)

    assert asyncio.run(scenario()) is None


def test_reactivated_user_verifies_again(tmp_path: Path) -> None:
    async def scenario() -> User | None:
        async with open_store(tmp_path) as store:
            await store.create_user("ada@example.com", PASSWORD)
            await store.set_active("ada@example.com", False)
            await store.set_active("ada@example.com", True)
            return await store.verify_credentials("ada@example.com", PASSWORD)

    assert asyncio.run(scenario()) is not None


def test_set_active_of_unknown_email_is_none(tmp_path: Path) -> None:
    async def scenario() -> User | None:
        async with open_store(tmp_path) as store:
            return await store.set_active("nobody@example.com", False)

    assert asyncio.run(scenario()) is None


def test_user_dataclass_has_no_password_or_hash_field() -> None:
    names = [field.name.lower() for field in dataclasses.fields(User)]

    assert not [name for name in names if "hash" in name or "pass" in name]


def test_user_from_the_store_carries_no_password_or_hash(tmp_path: Path) -> None:
    async def scenario() -> list[User | None]:
        async with open_store(tmp_path) as store:
            created = await store.create_user("ada@example.com", PASSWORD)
            return [
                created,
                await store.verify_credentials("ada@example.com", PASSWORD),
                await store.get(created.id),
                *(await store.page(after_id="", limit=10)),
            ]

    for user in asyncio.run(scenario()):
        assert user is not None
        public = [name.lower() for name in dir(user) if not name.startswith("__")]
        assert not [name for name in public if "hash" in name or "pass" in name]
        assert PASSWORD not in repr(user)
        assert "$argon2" not in repr(user)


def test_page_lists_every_user_once_in_id_order(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[list[str]]]:
        async with open_store(tmp_path) as store:
            ids = await insert_users(store.database, 25)
            pages: list[list[str]] = []
            after = ""
            while True:
                page = await store.page(after_id=after, limit=10)
                if not page:
                    return ids, pages
                pages.append([user.id for user in page])
                after = page[-1].id

    ids, pages = asyncio.run(scenario())

    assert [len(page) for page in pages] == [10, 10, 5]
    assert [user_id for page in pages for user_id in page] == ids


def test_page_with_only_id_returns_just_that_user(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, list[User]]:
        async with open_store(tmp_path) as store:
            ids = await insert_users(store.database, 5)
            return ids[2], await store.page(after_id="", limit=10, only_id=ids[2])

    wanted, page = asyncio.run(scenario())

    assert [user.id for user in page] == [wanted]


def test_page_with_only_id_after_that_user_is_empty(tmp_path: Path) -> None:
    async def scenario() -> list[User]:
        async with open_store(tmp_path) as store:
            ids = await insert_users(store.database, 5)
            return await store.page(after_id=ids[2], limit=10, only_id=ids[2])

    assert asyncio.run(scenario()) == []


def test_user_created_later_has_a_larger_id(tmp_path: Path) -> None:
    async def scenario() -> list[User]:
        async with open_store(tmp_path) as store:
            return [await store.create_user(f"u{n}@example.com", PASSWORD) for n in range(3)]

    created = asyncio.run(scenario())

    assert [user.id for user in created] == sorted(user.id for user in created)
    assert len({user.id for user in created}) == 3


def test_record_login_sets_last_login_in_utc(tmp_path: Path) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    async def scenario() -> User | None:
        async with open_store(tmp_path) as store:
            user = await store.create_user("ada@example.com", PASSWORD)
            await store.record_login(user.id, when)
            return await store.get(user.id)

    user = asyncio.run(scenario())

    assert user is not None
    assert user.last_login == when
    assert user.last_login.utcoffset() == timedelta(0)


def test_get_of_unknown_id_is_none(tmp_path: Path) -> None:
    async def scenario() -> User | None:
        async with open_store(tmp_path) as store:
            await store.create_user("ada@example.com", PASSWORD)
            return await store.get("01ZZZZZZZZZZZZZZZZZZZZZZZZ")

    assert asyncio.run(scenario()) is None


def test_ping_passes_on_a_reachable_database(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_store(tmp_path) as store:
            await store.ping()

    asyncio.run(scenario())


def test_ping_of_unreachable_postgresql_is_unavailable() -> None:
    async def scenario() -> None:
        database = Database("postgresql://nobody@127.0.0.1:1/x")
        try:
            await UserStore(database).ping()
        finally:
            database.close()

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

    assert caught.value.reason is Reason.UNAVAILABLE


# AuthCore over the real store.


async def staff_and_member(admin: Administration) -> tuple[User, User]:
    staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
    member = await admin.create_user("ada@example.com", PASSWORD)
    return staff, member


def test_staff_sees_every_user(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with open_core(tmp_path) as (core, admin):
            staff, member = await staff_and_member(admin)
            page = await core.list_visible_users(staff, 0, "")
            return sorted([staff.id, member.id]), [user.id for user in page.users]

    expected, listed = asyncio.run(scenario())

    assert listed == expected


def test_non_staff_sees_only_themselves(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, list[str], str]:
        async with open_core(tmp_path) as (core, admin):
            _, member = await staff_and_member(admin)
            page = await core.list_visible_users(member, 0, "")
            return member.id, [user.id for user in page.users], page.next_page_token

    member_id, listed, next_page_token = asyncio.run(scenario())

    assert listed == [member_id]
    assert next_page_token == ""


def test_page_size_zero_means_the_default_of_fifty(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str]:
        async with open_core(tmp_path) as (core, admin):
            staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
            await insert_users(core.store.database, DEFAULT_PAGE_SIZE + 5)
            page = await core.list_visible_users(staff, 0, "")
            return len(page.users), page.next_page_token

    count, next_page_token = asyncio.run(scenario())

    assert count == DEFAULT_PAGE_SIZE == 50
    assert next_page_token != ""


def test_page_size_over_the_maximum_is_clamped_to_a_thousand(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str]:
        async with open_core(tmp_path) as (core, admin):
            staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
            await insert_users(core.store.database, MAX_PAGE_SIZE + 5)
            page = await core.list_visible_users(staff, 5000, "")
            return len(page.users), page.next_page_token

    count, next_page_token = asyncio.run(scenario())

    assert count == MAX_PAGE_SIZE == 1000
    assert next_page_token != ""


def test_page_tokens_walk_every_user_once_and_end_empty(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[list[str]], list[str]]:
        async with open_core(tmp_path) as (core, admin):
            staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
            ids = sorted([staff.id, *await insert_users(core.store.database, 4)])
            pages: list[list[str]] = []
            tokens: list[str] = []
            token = ""
            while True:
                page = await core.list_visible_users(staff, 2, token)
                pages.append([user.id for user in page.users])
                tokens.append(page.next_page_token)
                token = page.next_page_token
                if not token:
                    return ids, pages, tokens

    ids, pages, tokens = asyncio.run(scenario())

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [user_id for page in pages for user_id in page] == ids
    assert tokens[-1] == ""
    assert all(tokens[:-1])


def test_last_full_page_has_an_empty_next_page_token(tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        async with open_core(tmp_path) as (core, admin):
            staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
            await insert_users(core.store.database, 3)
            first = await core.list_visible_users(staff, 2, "")
            second = await core.list_visible_users(staff, 2, first.next_page_token)
            return [len(second.users), len(second.next_page_token)]

    assert asyncio.run(scenario()) == [2, 0]


def assert_invalid_field(error: AuthError, field: str) -> None:
    assert error.reason is Reason.INVALID_REQUEST
    assert field in error.field_errors
    assert error.field_errors[field]


@pytest.mark.parametrize("page_size", [-1, -1000])
def test_negative_page_size_is_an_invalid_request(tmp_path: Path, page_size: int) -> None:
    async def scenario() -> None:
        async with open_core(tmp_path) as (core, admin):
            staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
            await core.list_visible_users(staff, page_size, "")

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

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
def test_malformed_page_token_is_an_invalid_request(tmp_path: Path, page_token: str) -> None:
    async def scenario() -> None:
        async with open_core(tmp_path) as (core, admin):
            staff = await admin.create_user("boss@example.com", PASSWORD, is_staff=True)
            await core.list_visible_users(staff, 10, page_token)

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

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
def test_blank_login_fields_are_an_invalid_request_naming_them(
    tmp_path: Path, email: str, password: str, fields: set[str]
) -> None:
    async def scenario() -> None:
        async with open_core(tmp_path) as (core, admin):
            await admin.create_user("ada@example.com", PASSWORD)
            await core.issue_token_pair(email, password)

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

    assert caught.value.reason is Reason.INVALID_REQUEST
    assert set(caught.value.field_errors) == fields


def test_right_credentials_issue_a_working_token_pair(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, str, str]:
        async with open_core(tmp_path) as (core, admin):
            user = await admin.create_user("ada@example.com", PASSWORD)
            pair = await core.issue_token_pair("ada@example.com", PASSWORD)
            authenticated = await core.authenticate(pair.access)
            refreshed = await core.refresh_access_token(pair.refresh)
            again = await core.authenticate(refreshed.access)
            return user.id, authenticated.id, again.id

    user_id, *authenticated = asyncio.run(scenario())

    assert authenticated == [user_id, user_id]


def test_login_records_last_login(tmp_path: Path) -> None:
    async def scenario() -> User | None:
        async with open_core(tmp_path) as (core, admin):
            user = await admin.create_user("ada@example.com", PASSWORD)
            await core.issue_token_pair("ada@example.com", PASSWORD)
            return await core.store.get(user.id)

    user = asyncio.run(scenario())

    assert user is not None
    assert user.last_login is not None
    assert user.last_login.utcoffset() == timedelta(0)


def login_error(tmp_path: Path, email: str, password: str, *, active: bool = True) -> AuthError:
    async def scenario() -> None:
        async with open_core(tmp_path) as (core, admin):
            await admin.create_user("ada@example.com", PASSWORD)
            if not active:
                await admin.set_active("ada@example.com", False)
            await core.issue_token_pair(email, password)

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())
    return caught.value


def error_shape(error: AuthError) -> tuple[object, ...]:
    return (error.reason, error.code, error.detail, error.field_errors, str(error), repr(error))


def test_wrong_password_is_no_active_account(tmp_path: Path) -> None:
    error = login_error(tmp_path, "ada@example.com", "wrong password")

    assert error.reason is Reason.NO_ACTIVE_ACCOUNT
    assert error.detail == NO_ACTIVE_ACCOUNT_DETAIL


def test_unknown_email_fails_exactly_like_a_wrong_password(tmp_path: Path) -> None:
    wrong_password = login_error(tmp_path / "a", "ada@example.com", "wrong password")

    unknown_email = login_error(tmp_path / "b", "bob@example.com", PASSWORD)

    assert error_shape(unknown_email) == error_shape(wrong_password)


def test_inactive_user_fails_exactly_like_a_wrong_password(tmp_path: Path) -> None:
    wrong_password = login_error(tmp_path / "a", "ada@example.com", "wrong password")

    inactive = login_error(tmp_path / "b", "ada@example.com", PASSWORD, active=False)

    assert error_shape(inactive) == error_shape(wrong_password)


def test_refresh_for_a_deactivated_user_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_core(tmp_path) as (core, admin):
            await admin.create_user("ada@example.com", PASSWORD)
            pair = await core.issue_token_pair("ada@example.com", PASSWORD)
            await admin.set_active("ada@example.com", False)
            await core.refresh_access_token(pair.refresh)

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

    assert caught.value.reason is Reason.TOKEN_NOT_VALID


def test_refresh_for_a_deleted_user_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_core(tmp_path) as (core, admin):
            user = await admin.create_user("ada@example.com", PASSWORD)
            pair = await core.issue_token_pair("ada@example.com", PASSWORD)
            await delete_user(core.store.database, user.id)
            await core.refresh_access_token(pair.refresh)

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

    assert caught.value.reason is Reason.TOKEN_NOT_VALID


def test_access_token_for_a_deactivated_user_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_core(tmp_path) as (core, admin):
            await admin.create_user("ada@example.com", PASSWORD)
            pair = await core.issue_token_pair("ada@example.com", PASSWORD)
            await admin.set_active("ada@example.com", False)
            await core.authenticate(pair.access)

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

    assert caught.value.reason is Reason.TOKEN_NOT_VALID


def test_access_token_is_refused_for_refresh(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_core(tmp_path) as (core, admin):
            await admin.create_user("ada@example.com", PASSWORD)
            pair = await core.issue_token_pair("ada@example.com", PASSWORD)
            await core.refresh_access_token(pair.access)

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

    assert caught.value.reason is Reason.TOKEN_NOT_VALID


def test_refresh_returns_only_an_access_token_without_rotation(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, str | None]:
        async with open_core(tmp_path) as (core, admin):
            await admin.create_user("ada@example.com", PASSWORD)
            pair = await core.issue_token_pair("ada@example.com", PASSWORD)
            refreshed = await core.refresh_access_token(pair.refresh)
            claims = core.tokens.decode(refreshed.access, TokenType.ACCESS)
            return claims.token_type.value, refreshed.refresh

    assert asyncio.run(scenario()) == ("access", None)


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
def test_create_user_rejects_bad_email_or_password_by_field(
    tmp_path: Path, email: str, password: str, field: str
) -> None:
    async def scenario() -> None:
        async with open_core(tmp_path) as (_core, admin):
            await admin.create_user(email, password)

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())

    assert_invalid_field(caught.value, field)
    assert set(caught.value.field_errors) == {field}


def test_create_user_accepts_a_254_char_email_and_an_8_char_password(tmp_path: Path) -> None:
    email = "a" * 242 + "@example.com"

    async def scenario() -> User:
        async with open_core(tmp_path) as (_core, admin):
            return await admin.create_user(email, "12345678")

    assert len(email) == 254
    assert asyncio.run(scenario()).email == email
