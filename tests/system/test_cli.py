"""The `authgate` command line, run as a real subprocess on a throwaway data directory."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from authgate.store.database import Database
from authgate.store.users import UserStore

from servers import ServerProcess

PASSWORD = "correct horse battery"
ERROR_PREFIX = "authgate: error:"
# The INFO/DEBUG lines cli.main's logging.basicConfig writes ("2026-01-01 12:00:00,000 INFO ...").
_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO) ")
# Runs in the child: make the pseudo-terminal its controlling terminal (what getpass opens as
# /dev/tty), then become the real CLI.
_ON_A_TERMINAL = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'authgate', *sys.argv[1:]])\n"
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def cli_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any AUTHGATE_* setting, on `data_dir`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    return {**inherited, "AUTHGATE_DATA_DIR": str(data_dir), **(extra or {})}


def authgate(
    data_dir: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "authgate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=cli_env(data_dir, env),
        timeout=60,
        check=False,
    )


def create(
    data_dir: Path, email: str, *flags: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    args = ["users", "create", "--email", email, "--password-stdin", *flags]
    return authgate(data_dir, *args, stdin=password + "\n")


def created(data_dir: Path, email: str, *flags: str) -> None:
    result = create(data_dir, email, *flags)
    assert result.returncode == 0, result.stderr


def listed(data_dir: Path) -> dict[str, set[str]]:
    """`users list` as {email: flags}; flags are "staff" and "inactive"."""
    result = authgate(data_dir, "users", "list")
    assert result.returncode == 0, result.stderr
    users: dict[str, set[str]] = {}
    for line in result.stdout.splitlines():
        _id, email, *flags = line.split()
        assert email not in users, result.stdout
        users[email] = set(",".join(flags).split(",")) - {""}
    return users


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a failed command, apart from INFO log lines; never a trace."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if not _LOG_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(ERROR_PREFIX), result.stderr
    return lines[0]


async def verify_password(data_dir: Path, email: str, password: str) -> bool:
    """Whether the store accepts this login, checked in-process on the same SQLite file."""
    database = Database(f"sqlite:///{data_dir / 'authgate.sqlite3'}")
    try:
        return await UserStore(database).verify_credentials(email, password) is not None
    finally:
        database.close()


def on_terminal(
    data_dir: Path, args: list[str], answers: list[tuple[str, str]], timeout: float = 30.0
) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, typing each answer once its prompt has appeared.

    Returns the exit code and everything the terminal showed (prompts, echo, output).
    """
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _ON_A_TERMINAL, *args],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=cli_env(data_dir),
            start_new_session=True,
        )
    finally:
        os.close(terminal)
    shown = bytearray()
    deadline = time.monotonic() + timeout

    def read_some() -> bool:
        """Read what is there; False at the end of output (the child closed the terminal)."""
        ready, _, _ = select.select([controller], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"no output from the CLI; so far: {shown.decode()!r}")
        try:
            chunk = os.read(controller, 4096)
        except OSError as error:  # Linux reports a closed terminal as EIO
            if error.errno != errno.EIO:
                raise
            return False
        shown.extend(chunk)
        return bool(chunk)

    try:
        seen = 0
        for prompt, answer in answers:
            while (found := shown.find(prompt.encode(), seen)) < 0:
                assert read_some(), f"no prompt {prompt!r} in {shown.decode()!r}"
            seen = found + len(prompt)
            os.write(controller, answer.encode() + b"\n")
        while read_some():
            pass
        return process.wait(max(0.0, deadline - time.monotonic())), shown.decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)


# users create


def test_create_prints_the_email_and_exits_zero(data_dir: Path) -> None:
    result = create(data_dir, "alice@example.com")

    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if "alice@example.com" in line]


def test_create_never_prints_the_password(data_dir: Path) -> None:
    result = create(data_dir, "alice@example.com")

    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr


async def test_created_user_can_log_in_with_the_password_from_stdin(data_dir: Path) -> None:
    # The CLI runs to completion on a thread: the event loop is free while it does.
    await asyncio.to_thread(created, data_dir, "alice@example.com")

    assert await verify_password(data_dir, "alice@example.com", PASSWORD)


def test_create_makes_an_active_non_staff_user_by_default(data_dir: Path) -> None:
    created(data_dir, "alice@example.com")

    assert listed(data_dir) == {"alice@example.com": set()}


def test_create_with_staff_flag_makes_a_staff_user(data_dir: Path) -> None:
    created(data_dir, "boss@example.com", "--staff")

    assert listed(data_dir) == {"boss@example.com": {"staff"}}


def test_list_shows_every_user(data_dir: Path) -> None:
    emails = {"a@example.com", "b@example.com", "c@example.com"}
    for email in emails:
        created(data_dir, email)

    assert set(listed(data_dir)) == emails


@pytest.mark.parametrize(
    "again", ["alice@example.com", "ALICE@Example.COM", "  alice@example.com  "]
)
def test_create_refuses_an_email_already_taken(data_dir: Path, again: str) -> None:
    created(data_dir, "alice@example.com")

    error_line(create(data_dir, again))
    assert list(listed(data_dir)) == ["alice@example.com"]


@pytest.mark.parametrize("email", ["not-an-email", "a@b", ""])
def test_create_refuses_a_malformed_email_naming_the_email(data_dir: Path, email: str) -> None:
    line = error_line(create(data_dir, email))

    assert "email" in line


def test_create_refuses_a_short_password_naming_the_password(data_dir: Path) -> None:
    line = error_line(create(data_dir, "alice@example.com", password="1234567"))

    assert "password" in line


# users deactivate / activate


def test_deactivate_marks_the_user_inactive(data_dir: Path) -> None:
    created(data_dir, "alice@example.com")

    result = authgate(data_dir, "users", "deactivate", "--email", "alice@example.com")

    assert result.returncode == 0, result.stderr
    assert listed(data_dir) == {"alice@example.com": {"inactive"}}


def test_activate_undoes_deactivate(data_dir: Path) -> None:
    created(data_dir, "alice@example.com")
    assert authgate(data_dir, "users", "deactivate", "--email", "alice@example.com").returncode == 0

    result = authgate(data_dir, "users", "activate", "--email", "alice@example.com")

    assert result.returncode == 0, result.stderr
    assert listed(data_dir) == {"alice@example.com": set()}


def test_deactivate_of_an_unknown_email_fails(data_dir: Path) -> None:
    created(data_dir, "alice@example.com")

    error_line(authgate(data_dir, "users", "deactivate", "--email", "nobody@example.com"))


# clients

# Well-formed (the prefix and 26 Crockford characters) but never created.
UNKNOWN_CLIENT_ID = "svc-01ARZ3NDEKTSV4RRFFQ69G5FAV"
# What `clients create` and `clients rotate-secret` print without --json.
_SHOWN_SECRET = re.compile(r"client_id: (\S+)\nclient_secret: (\S+)\n")


def create_client(data_dir: Path, name: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return authgate(data_dir, "clients", "create", "--name", name, *flags)


def created_client(data_dir: Path, name: str, *scopes: str) -> dict[str, str]:
    """`clients create --json` with these scopes; its {client_id, client_secret}."""
    scope_flags = [flag for scope in scopes for flag in ("--scope", scope)]
    result = create_client(data_dir, name, *scope_flags, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def shown_secret(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The client id and secret a command printed (without --json): exactly those two lines."""
    assert result.returncode == 0, result.stderr
    shown = _SHOWN_SECRET.fullmatch(result.stdout)
    assert shown, result.stdout
    return shown.group(1), shown.group(2)


def listed_clients(data_dir: Path) -> dict[str, tuple[str, set[str], set[str]]]:
    """`clients list` as {client_id: (name, scopes, flags)}; the one flag is "inactive"."""
    result = authgate(data_dir, "clients", "list")
    assert result.returncode == 0, result.stderr
    clients: dict[str, tuple[str, set[str], set[str]]] = {}
    for line in result.stdout.splitlines():
        client_id, name, scopes, *flags = line.split("  ")
        assert client_id not in clients, result.stdout
        clients[client_id] = (name, set(scopes.split(" ")), set(flags))
    return clients


# clients create / list


def test_clients_create_prints_the_client_id_and_secret(data_dir: Path) -> None:
    client_id, secret = shown_secret(create_client(data_dir, "billing"))

    assert secret
    assert list(listed_clients(data_dir)) == [client_id]


def test_clients_create_json_prints_only_the_client_id_and_secret(data_dir: Path) -> None:
    result = create_client(data_dir, "billing", "--json")

    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1, result.stdout
    shown = json.loads(result.stdout)
    assert set(shown) == {"client_id", "client_secret"}
    assert shown["client_secret"]
    assert list(listed_clients(data_dir)) == [shown["client_id"]]


def test_created_client_is_listed_active_with_its_name_and_scopes(data_dir: Path) -> None:
    client = created_client(data_dir, "billing", "users:read", "revocations:watch")

    assert listed_clients(data_dir) == {
        client["client_id"]: ("billing", {"users:read", "revocations:watch"}, set())
    }


def test_client_without_scopes_is_listed_with_a_dash(data_dir: Path) -> None:
    client = created_client(data_dir, "cron")

    assert listed_clients(data_dir) == {client["client_id"]: ("cron", {"-"}, set())}


def test_clients_list_shows_every_client(data_dir: Path) -> None:
    ids = {created_client(data_dir, name)["client_id"] for name in ("a", "b", "c")}

    assert set(listed_clients(data_dir)) == ids


def test_clients_create_refuses_an_unknown_scope_naming_it(data_dir: Path) -> None:
    line = error_line(create_client(data_dir, "billing", "--scope", "users:everything"))

    assert "users:everything" in line
    assert listed_clients(data_dir) == {}


@pytest.mark.parametrize("name", ["", "   "], ids=["empty", "spaces"])
def test_clients_create_refuses_a_blank_name_naming_the_name(data_dir: Path, name: str) -> None:
    line = error_line(create_client(data_dir, name))

    assert "name" in line
    assert listed_clients(data_dir) == {}


# clients rotate-secret


def test_rotate_secret_prints_a_new_secret_for_the_same_client(data_dir: Path) -> None:
    client = created_client(data_dir, "billing")

    result = authgate(data_dir, "clients", "rotate-secret", "--client-id", client["client_id"])

    client_id, secret = shown_secret(result)
    assert client_id == client["client_id"]
    assert secret and secret != client["client_secret"]


def test_rotate_secret_json_prints_only_the_client_id_and_a_new_secret(data_dir: Path) -> None:
    client = created_client(data_dir, "billing")

    result = authgate(
        data_dir, "clients", "rotate-secret", "--client-id", client["client_id"], "--json"
    )

    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1, result.stdout
    shown = json.loads(result.stdout)
    assert set(shown) == {"client_id", "client_secret"}
    assert shown["client_id"] == client["client_id"]
    assert shown["client_secret"] and shown["client_secret"] != client["client_secret"]


def test_rotate_secret_refuses_a_negative_keep_old_naming_it(data_dir: Path) -> None:
    client = created_client(data_dir, "billing")

    args = ["clients", "rotate-secret", "--client-id", client["client_id"], "--keep-old", "-5"]

    line = error_line(authgate(data_dir, *args))

    assert re.search(r"keep[_-]old", line)


# clients deactivate / activate


def test_clients_deactivate_marks_the_client_inactive(data_dir: Path) -> None:
    client = created_client(data_dir, "billing", "users:read")

    result = authgate(data_dir, "clients", "deactivate", "--client-id", client["client_id"])

    assert result.returncode == 0, result.stderr
    assert listed_clients(data_dir) == {
        client["client_id"]: ("billing", {"users:read"}, {"inactive"})
    }


def test_clients_activate_undoes_deactivate(data_dir: Path) -> None:
    client = created_client(data_dir, "billing", "users:read")
    deactivated = authgate(data_dir, "clients", "deactivate", "--client-id", client["client_id"])
    assert deactivated.returncode == 0, deactivated.stderr

    result = authgate(data_dir, "clients", "activate", "--client-id", client["client_id"])

    assert result.returncode == 0, result.stderr
    assert listed_clients(data_dir) == {client["client_id"]: ("billing", {"users:read"}, set())}


@pytest.mark.parametrize("command", ["rotate-secret", "deactivate", "activate"])
def test_client_command_on_an_unknown_client_id_fails(data_dir: Path, command: str) -> None:
    client = created_client(data_dir, "billing")

    error_line(authgate(data_dir, "clients", command, "--client-id", UNKNOWN_CLIENT_ID))
    assert listed_clients(data_dir) == {client["client_id"]: ("billing", {"-"}, set())}


# settings


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        ([], {"AUTHGATE_ALGORITHM": "XX"}, "algorithm"),
        (["--access-token-lifetime", "-5"], {}, "access_token_lifetime"),
    ],
    ids=["algorithm-variable", "lifetime-flag"],
)
def test_invalid_setting_exits_2_with_one_line_naming_it(
    data_dir: Path, flags: list[str], env: dict[str, str], named: str
) -> None:
    result = authgate(data_dir, "users", "list", *flags, env=env)

    assert result.returncode == 2, result.stderr
    assert named in error_line(result)


def test_failing_command_writes_nothing_but_the_error_to_stderr(data_dir: Path) -> None:
    created(data_dir, "alice@example.com")

    result = create(data_dir, "alice@example.com")

    assert result.returncode != 0
    assert result.stderr.splitlines() == [error_line(result)]


# the interactive prompt


def test_prompt_does_not_echo_the_password(data_dir: Path) -> None:
    typed = "typed-on-a-tty-9"
    code, shown = on_terminal(
        data_dir,
        ["users", "create", "--email", "tty@example.com"],
        [("Password: ", typed), ("Password (again): ", typed)],
    )

    assert code == 0, shown
    assert "tty@example.com" in shown
    assert typed not in shown


async def test_prompted_password_is_the_one_stored(data_dir: Path) -> None:
    typed = "typed-on-a-tty-9"
    # The terminal session and `users list` block on the CLI: they run on a thread, so the
    # event loop is free while they do.
    code, shown = await asyncio.to_thread(
        on_terminal,
        data_dir,
        ["users", "create", "--email", "tty@example.com"],
        [("Password: ", typed), ("Password (again): ", typed)],
    )

    assert code == 0, shown
    assert await asyncio.to_thread(listed, data_dir) == {"tty@example.com": set()}
    assert await verify_password(data_dir, "tty@example.com", typed)


def test_mismatched_prompted_passwords_fail_with_one_line_error(data_dir: Path) -> None:
    code, shown = on_terminal(
        data_dir,
        ["users", "create", "--email", "tty@example.com"],
        [("Password: ", "first-password-1"), ("Password (again): ", "second-password-2")],
    )

    assert code != 0, shown
    assert "Traceback" not in shown
    errors = [line for line in shown.splitlines() if line.startswith(ERROR_PREFIX)]
    assert len(errors) == 1, shown
    assert "match" in errors[0]
    assert listed(data_dir) == {}


# bootstrap


def bootstrap_once(data_dir: Path, email: str) -> None:
    env = {"AUTHGATE_BOOTSTRAP_EMAIL": email, "AUTHGATE_BOOTSTRAP_PASSWORD": PASSWORD}
    server = ServerProcess(data_dir, env)
    server.start()
    assert server.stop() == 0, server.log


def test_bootstrap_creates_one_staff_user_on_an_empty_store(data_dir: Path) -> None:
    bootstrap_once(data_dir, "root@example.com")

    assert listed(data_dir) == {"root@example.com": {"staff"}}


def test_bootstrap_does_nothing_once_a_user_exists(data_dir: Path) -> None:
    bootstrap_once(data_dir, "root@example.com")

    bootstrap_once(data_dir, "other-root@example.com")

    assert listed(data_dir) == {"root@example.com": {"staff"}}


def test_an_old_schema_is_refused_when_migrations_are_left_to_the_operator(
    data_dir: Path,
) -> None:
    manual = {"AUTHGATE_MIGRATE_ON_START": "false"}

    refused = authgate(data_dir, "users", "list", env=manual)
    migrated = authgate(data_dir, "migrate", env=manual)
    listed_after = authgate(data_dir, "users", "list", env=manual)

    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("run `authgate migrate` first")
    assert migrated.returncode == 0, migrated.stderr
    assert listed_after.returncode == 0, listed_after.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("clients", "create"),
        ("clients", "rotate-secret", "--client-id", "x", "--keep-old", "abc"),
        ("users", "create"),
        ("no-such-command",),
    ],
)
def test_a_usage_mistake_is_one_error_line_and_exit_2(tmp_path, args):
    result = authgate(tmp_path, *args)

    assert result.returncode == 2
    assert "usage:" not in result.stderr
    error_line(result)
