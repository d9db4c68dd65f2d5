"""`authgate keys ...` and the key-encryption key, run as the real CLI on a throwaway data
directory: staged and emergency rotation, retirement, the KEK refusals, and the upgrade from a
`keys.json`."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest

from databases import temporary_postgres_database
from legacy_keys import legacy_keys, write_key_file
from servers import ServerProcess
from test_cli import ERROR_PREFIX, authgate, created

KEK = "dGVzdHMtb25seS1zZWNvbmQta2VrLTAxMjM0NTY3ODk="  # not the one that sealed the keys


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def key_rows(data_dir: Path) -> list[tuple]:
    with sqlite3.connect(data_dir / "authgate.sqlite3") as connection:
        return connection.execute("SELECT * FROM signing_keys ORDER BY kid").fetchall()


def key_list(data_dir: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """`keys list` as {kid: state}."""
    result = authgate(data_dir, "keys", "list", env=env)
    assert result.returncode == 0, result.stderr
    return {line.split()[0]: line.split()[2] for line in result.stdout.splitlines()[1:]}


def one_error(result) -> str:
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(ERROR_PREFIX)
    return line


def test_keys_rotate_stages_a_key_and_rotate_now_signs_with_a_new_one(data_dir: Path) -> None:
    created(data_dir, "alice@example.com")  # the first start makes the first key
    [first] = key_list(data_dir)

    staged = authgate(data_dir, "keys", "rotate")
    assert staged.returncode == 0, staged.stderr
    assert "signs from" in staged.stdout
    listing = key_list(data_dir)
    [next_kid] = [kid for kid, state in listing.items() if state == "next"]
    assert listing == {first: "active", next_kid: "next"}
    assert "already staged" in one_error(authgate(data_dir, "keys", "rotate"))

    urgent = authgate(data_dir, "keys", "rotate", "--now")
    assert urgent.returncode == 0, urgent.stderr
    listing = key_list(data_dir)
    [now_kid] = [kid for kid, state in listing.items() if state == "active"]
    assert listing == {first: "retiring", next_kid: "retired", now_kid: "active"}


def test_keys_retire_refuses_the_signing_key_and_retires_any_other(data_dir: Path) -> None:
    created(data_dir, "alice@example.com")
    [first] = key_list(data_dir)
    assert "rotate --now" in one_error(authgate(data_dir, "keys", "retire", first))
    assert "no signing key nope" in one_error(authgate(data_dir, "keys", "retire", "nope"))

    assert authgate(data_dir, "keys", "rotate", "--now").returncode == 0
    retired = authgate(data_dir, "keys", "retire", first)
    assert retired.returncode == 0, retired.stderr
    assert key_list(data_dir)[first] == "retired"
    [row] = [row for row in key_rows(data_dir) if row[0] == first]
    assert row[3] is None  # the private key is destroyed


def test_a_new_kek_is_32_random_bytes_of_base64() -> None:
    first, second = (authgate(Path("/nonexistent"), "keys", "new-kek") for _ in range(2))
    assert len(base64.urlsafe_b64decode(first.stdout.strip())) == 32
    assert first.stdout != second.stdout


def test_the_embedded_default_generates_its_kek_and_a_lost_one_is_never_replaced(
    data_dir: Path,
) -> None:
    created(data_dir, "alice@example.com")
    kek_file = data_dir / "key-encryption-key"
    assert kek_file.stat().st_mode & 0o777 == 0o600
    before = key_rows(data_dir)
    kek_file.unlink()

    line = one_error(authgate(data_dir, "users", "list"))
    assert "is missing" in line and "no key was changed" in line
    assert key_rows(data_dir) == before and not kek_file.exists()


def test_a_wrong_kek_refuses_to_start_and_changes_nothing(data_dir: Path) -> None:
    created(data_dir, "alice@example.com")
    before = key_rows(data_dir)
    wrong = {"AUTHGATE_KEY_ENCRYPTION_KEY": KEK, "AUTHGATE_ALGORITHM": "ES256"}

    for command in (("users", "list"), ("keys", "rotate", "--now"), ("serve",)):
        line = one_error(authgate(data_dir, *command, env=wrong))
        assert "another key-encryption key" in line, line
    assert key_rows(data_dir) == before


@pytest.mark.postgresql
def test_postgresql_requires_a_kek(data_dir: Path) -> None:
    with temporary_postgres_database() as url:
        line = one_error(authgate(data_dir, "users", "list", env={"AUTHGATE_DATABASE_URL": url}))
    assert "AUTHGATE_KEY_ENCRYPTION_KEY is required with PostgreSQL" in line


def test_an_upgraded_data_dir_imports_its_key_file_once(data_dir: Path) -> None:
    old = legacy_keys("RS256", "EdDSA")
    write_key_file(data_dir / "keys.json", old)

    created(data_dir, "alice@example.com")

    listing = key_list(data_dir)
    assert listing == {old[0].kid: "retiring", old[1].kid: "active"}
    assert not (data_dir / "keys.json").exists()
    assert (data_dir / "keys.json.imported").exists()
    dump = "\n".join(sqlite3.connect(data_dir / "authgate.sqlite3").iterdump())
    assert "PRIVATE KEY" not in dump


def test_a_server_started_with_a_new_algorithm_stages_a_key_and_commands_never_do(
    data_dir: Path,
) -> None:
    created(data_dir, "alice@example.com")
    [first] = key_list(data_dir)
    assert key_list(data_dir, env={"AUTHGATE_ALGORITHM": "ES256"}) == {first: "active"}

    server = ServerProcess(data_dir, {"AUTHGATE_ALGORITHM": "ES256"}).start()
    assert server.stop() == 0, server.log

    listing = key_list(data_dir)
    [staged] = [kid for kid in listing if kid != first]
    assert listing == {first: "active", staged: "next"}
    result = authgate(data_dir, "keys", "list")
    assert [line.split()[1] for line in result.stdout.splitlines()[1:]] == ["EdDSA", "ES256"]
