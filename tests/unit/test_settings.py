"""Settings.from_env: the documented defaults, AUTHGATE_* parsing, flags over variables."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from authgate.process.settings import Settings
from authgate.store.database_url import parse_database_url

# The README's operator-facing table of variables and defaults.
DOCUMENTED_DEFAULTS = {
    "AUTHGATE_HTTP_ADDR": ("http_addr", "127.0.0.1:8000"),
    "AUTHGATE_GRPC_ADDR": ("grpc_addr", "127.0.0.1:50051"),
    "AUTHGATE_DATA_DIR": ("data_dir", Path("./var")),
    "AUTHGATE_DATABASE_URL": ("database_url", ""),
    "AUTHGATE_ALGORITHM": ("algorithm", "EdDSA"),
    "AUTHGATE_ACCESS_TOKEN_LIFETIME": ("access_token_lifetime", 300),
    "AUTHGATE_REFRESH_TOKEN_LIFETIME": ("refresh_token_lifetime", 86400),
    "AUTHGATE_BOOTSTRAP_EMAIL": ("bootstrap_email", ""),
    "AUTHGATE_BOOTSTRAP_PASSWORD": ("bootstrap_password", ""),
}


def env_names() -> dict[str, str]:
    return {field.name: field.metadata["env"] for field in dataclasses.fields(Settings)}


@pytest.mark.parametrize(("variable", "field_and_default"), DOCUMENTED_DEFAULTS.items())
def test_default_matches_the_design_table(
    variable: str, field_and_default: tuple[str, object]
) -> None:
    name, default = field_and_default

    value = getattr(Settings.from_env({}), name)

    assert value == default
    assert type(value) is type(default)


@pytest.mark.parametrize(("variable", "field_and_default"), DOCUMENTED_DEFAULTS.items())
def test_documented_variable_names_its_field(
    variable: str, field_and_default: tuple[str, object]
) -> None:
    assert env_names()[field_and_default[0]] == variable


def test_every_variable_is_namespaced_and_unique() -> None:
    names = list(env_names().values())

    assert all(name.startswith("AUTHGATE_") for name in names)
    assert len(set(names)) == len(names)


def test_default_database_is_sqlite_in_the_data_dir() -> None:
    settings = Settings.from_env({"AUTHGATE_DATA_DIR": "/srv/authgate"})

    assert settings.resolved_database_url == "sqlite:////srv/authgate/authgate.sqlite3"


def test_explicit_database_url_is_used_as_is() -> None:
    url = "postgresql://user@db/authgate"

    assert Settings.from_env({"AUTHGATE_DATABASE_URL": url}).resolved_database_url == url


def test_unrelated_variables_are_ignored() -> None:
    settings = Settings.from_env({"HOME": "/root", "AUTHGATE_UNKNOWN": "x", "PORT": "1"})

    assert settings == Settings()


@pytest.mark.parametrize(
    ("variable", "raw", "name", "value"),
    [
        ("AUTHGATE_ACCESS_TOKEN_LIFETIME", "60", "access_token_lifetime", 60),
        ("AUTHGATE_REFRESH_TOKEN_LIFETIME", " 3600 ", "refresh_token_lifetime", 3600),
        ("AUTHGATE_MAX_BODY_BYTES", "1024", "max_body_bytes", 1024),
        ("AUTHGATE_SHUTDOWN_GRACE_SECONDS", "2.5", "shutdown_grace_seconds", 2.5),
    ],
)
def test_numbers_are_parsed_from_the_environment(
    variable: str, raw: str, name: str, value: object
) -> None:
    parsed = getattr(Settings.from_env({variable: raw}), name)

    assert parsed == value
    assert type(parsed) is type(value)


def test_data_dir_is_parsed_as_a_path() -> None:
    settings = Settings.from_env({"AUTHGATE_DATA_DIR": "/srv/authgate"})

    assert settings.data_dir == Path("/srv/authgate")
    assert isinstance(settings.data_dir, Path)


@pytest.mark.parametrize(
    ("variable", "raw", "name"),
    [
        ("AUTHGATE_HTTP_ADDR", "0.0.0.0:0", "http_addr"),
        ("AUTHGATE_GRPC_ADDR", "[::1]:50052", "grpc_addr"),
        ("AUTHGATE_ALGORITHM", "RS256", "algorithm"),
        ("AUTHGATE_ISSUER", "https://auth.example", "issuer"),
        ("AUTHGATE_AUDIENCE", "orders-api", "audience"),
        ("AUTHGATE_BOOTSTRAP_EMAIL", "root@example.com", "bootstrap_email"),
        ("AUTHGATE_LOG_LEVEL", "DEBUG", "log_level"),
        ("AUTHGATE_EVENT_LOOP", "asyncio", "event_loop"),
    ],
)
def test_text_is_taken_from_the_environment_as_is(variable: str, raw: str, name: str) -> None:
    assert getattr(Settings.from_env({variable: raw}), name) == raw


@pytest.mark.parametrize(
    ("name", "override", "variable", "raw", "expected"),
    [
        ("http_addr", "127.0.0.1:9000", "AUTHGATE_HTTP_ADDR", "127.0.0.1:8080", "127.0.0.1:9000"),
        ("algorithm", "ES256", "AUTHGATE_ALGORITHM", "RS256", "ES256"),
        ("access_token_lifetime", 30, "AUTHGATE_ACCESS_TOKEN_LIFETIME", "60", 30),
        ("access_token_lifetime", "30", "AUTHGATE_ACCESS_TOKEN_LIFETIME", "60", 30),
        ("data_dir", Path("/flag"), "AUTHGATE_DATA_DIR", "/env", Path("/flag")),
    ],
)
def test_override_beats_the_environment(
    name: str, override: object, variable: str, raw: str, expected: object
) -> None:
    settings = Settings.from_env({variable: raw}, **{name: override})

    assert getattr(settings, name) == expected


def test_string_override_is_parsed_like_the_variable() -> None:
    settings = Settings.from_env({}, access_token_lifetime="30")

    assert settings.access_token_lifetime == 30


def test_none_override_leaves_the_environment_in_charge() -> None:
    settings = Settings.from_env({"AUTHGATE_MAX_BODY_BYTES": "3"}, max_body_bytes=None)

    assert settings.max_body_bytes == 3


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.algorithm = "HS256"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"AUTHGATE_ALGORITHM": "XX"}, "algorithm"),
        ({"AUTHGATE_ALGORITHM": "none"}, "algorithm"),
        ({"AUTHGATE_ALGORITHM": "eddsa"}, "algorithm"),
        ({"AUTHGATE_ACCESS_TOKEN_LIFETIME": "-1"}, "access_token_lifetime"),
        ({"AUTHGATE_ACCESS_TOKEN_LIFETIME": "0"}, "access_token_lifetime"),
        ({"AUTHGATE_REFRESH_TOKEN_LIFETIME": "-60"}, "refresh_token_lifetime"),
        ({"AUTHGATE_MAX_BODY_BYTES": "0"}, "max_body_bytes"),
        ({"AUTHGATE_HTTP_ADDR": "nohost"}, "http_addr"),
        ({"AUTHGATE_HTTP_ADDR": ":8000"}, "http_addr"),
        ({"AUTHGATE_HTTP_ADDR": "127.0.0.1:65536"}, "http_addr"),
        ({"AUTHGATE_GRPC_ADDR": "127.0.0.1:port"}, "grpc_addr"),
        ({"AUTHGATE_ACCESS_TOKEN_LIFETIME": "5m"}, "AUTHGATE_ACCESS_TOKEN_LIFETIME"),
        ({"AUTHGATE_MAX_BODY_BYTES": "1.5"}, "AUTHGATE_MAX_BODY_BYTES"),
        ({"AUTHGATE_DATABASE_URL": "mysql://db/x"}, "database_url"),
        # One connection per store thread: each would see its own empty in-memory database.
        ({"AUTHGATE_DATABASE_URL": "sqlite://"}, "database_url"),
        ({"AUTHGATE_DATABASE_URL": "sqlite:///:memory:"}, "database_url"),
        ({"AUTHGATE_EVENT_LOOP": "tokio"}, "event_loop"),
        ({"AUTHGATE_EVENT_LOOP": "UVLOOP"}, "event_loop"),
    ],
)
def test_invalid_value_raises_value_error_naming_it(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Settings.from_env(environ)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"algorithm": "XX"}, "algorithm"),
        ({"access_token_lifetime": -1}, "access_token_lifetime"),
        ({"grpc_addr": "nohost"}, "grpc_addr"),
    ],
)
def test_invalid_override_raises_value_error_naming_it(
    overrides: dict[str, object], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        Settings.from_env({}, **overrides)


def test_every_problem_is_reported_at_once() -> None:
    environ = {"AUTHGATE_ALGORITHM": "XX", "AUTHGATE_ACCESS_TOKEN_LIFETIME": "-1"}

    with pytest.raises(ValueError, match="algorithm") as caught:
        Settings.from_env(environ)

    assert "access_token_lifetime" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "backend", "target", "for_sqlalchemy"),
    [
        ("sqlite:////srv/a.sqlite3", "sqlite", "/srv/a.sqlite3", "sqlite:////srv/a.sqlite3"),
        ("sqlite:///var/a.sqlite3", "sqlite", "var/a.sqlite3", "sqlite:///var/a.sqlite3"),
        ("postgresql://u@h/db", "postgresql", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        (
            "postgresql+psycopg://u@h/db",
            "postgresql",
            "postgresql://u@h/db",
            "postgresql+psycopg://u@h/db",
        ),
    ],
)
def test_database_url_names_one_backend_and_target(
    url: str, backend: str, target: str, for_sqlalchemy: str
) -> None:
    parsed = parse_database_url(url)

    assert (parsed.backend, parsed.target, parsed.for_sqlalchemy) == (
        backend,
        target,
        for_sqlalchemy,
    )


@pytest.mark.parametrize(
    "url", ["auth.example.com", "ftp://auth.example.com", "https://", "https://a.example/?x=1"]
)
def test_a_public_url_that_is_no_base_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="public_url"):
        Settings.from_env({"AUTHGATE_PUBLIC_URL": url})


def test_a_public_url_with_a_path_is_accepted() -> None:
    settings = Settings.from_env({"AUTHGATE_PUBLIC_URL": "https://gw.example/auth"})

    assert settings.public_url == "https://gw.example/auth"
