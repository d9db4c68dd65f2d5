"""Every setting in one frozen dataclass, read from AUTHGATE_* variables in one place.

Each field names its variable and meaning; `authgate serve` turns the same table into flags
(`--http-addr` for AUTHGATE_HTTP_ADDR, ...), and a flag overrides its variable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import limits

from authgate.store.database_url import parse_database_url

ALGORITHMS = ("EdDSA", "ES256", "RS256", "HS256")
EVENT_LOOPS = ("uvloop", "asyncio")


def _setting(default: Any, env: str, help: str, *, flag: bool = True) -> Any:
    return field(default=default, metadata={"env": env, "help": help, "flag": flag})


@dataclass(frozen=True)
class Settings:
    http_addr: str = _setting(
        "127.0.0.1:8000", "AUTHGATE_HTTP_ADDR", "REST door address (host:port; port 0 picks one)"
    )
    grpc_addr: str = _setting(
        "127.0.0.1:50051", "AUTHGATE_GRPC_ADDR", "gRPC door address (host:port; port 0 picks one)"
    )
    data_dir: Path = _setting(Path("var"), "AUTHGATE_DATA_DIR", "SQLite file and generated keys")  # noqa: RUF009
    database_url: str = _setting(
        "", "AUTHGATE_DATABASE_URL", "database URL; empty means SQLite in the data directory"
    )
    algorithm: str = _setting(
        "EdDSA",
        "AUTHGATE_ALGORITHM",
        "EdDSA, ES256, RS256 or HS256; a change stages a key like `keys rotate`",
    )
    key_publish_ahead: int = _setting(
        1800,
        "AUTHGATE_KEY_PUBLISH_AHEAD",
        "seconds a new key is in the JWKS before it signs: longer than verifiers cache it"
        " (Envoy 10 min, Istio 20)",
    )
    # Environment only: a flag would show the key in the process list.
    key_encryption_key: str = _setting(
        "",
        "AUTHGATE_KEY_ENCRYPTION_KEY",
        "seals the private signing keys in the store (AES-256-GCM; `authgate keys new-kek`);"
        " required with PostgreSQL, generated into the data directory with SQLite",
        flag=False,
    )
    previous_key_encryption_key: str = _setting(
        "",
        "AUTHGATE_PREVIOUS_KEY_ENCRYPTION_KEY",
        "the KEK being replaced: it still opens keys until `authgate keys rewrap`",
        flag=False,
    )
    # Environment only: a flag would show the key in the process list.
    django_secret_key: str = _setting(
        "",
        "AUTHGATE_DJANGO_SECRET_KEY",
        "the key a Django project's simplejwt signs with (its SECRET_KEY by default): its"
        " refresh tokens are accepted until they expire; empty: refused",
        flag=False,
    )
    access_token_lifetime: int = _setting(
        300, "AUTHGATE_ACCESS_TOKEN_LIFETIME", "access token lifetime, seconds"
    )
    refresh_token_lifetime: int = _setting(
        86400, "AUTHGATE_REFRESH_TOKEN_LIFETIME", "refresh token lifetime, seconds"
    )
    rotate_refresh_tokens: bool = _setting(
        False, "AUTHGATE_ROTATE_REFRESH_TOKENS", "return a new refresh token on refresh"
    )
    rotation_grace_seconds: int = _setting(
        0, "AUTHGATE_ROTATION_GRACE_SECONDS", "retry window for a spent refresh token, seconds"
    )
    redis_url: str = _setting(
        "", "AUTHGATE_REDIS_URL", "Redis URL for shared throttling counters; empty: in memory"
    )
    login_limit_per_account: str = _setting(
        "10/minute", "AUTHGATE_LOGIN_LIMIT_PER_ACCOUNT", "failed logins allowed per account"
    )
    login_limit_per_address: str = _setting(
        "100/minute", "AUTHGATE_LOGIN_LIMIT_PER_ADDRESS", "failed logins allowed per client address"
    )
    issuer: str = _setting("authgate", "AUTHGATE_ISSUER", "the `iss` claim of issued tokens")
    audience: str = _setting(
        "", "AUTHGATE_AUDIENCE", "the `aud` claim, required on decode when set; empty: none"
    )
    public_url: str = _setting(
        "",
        "AUTHGATE_PUBLIC_URL",
        "the REST door's URL as clients reach it, for discovery; empty: its bound address",
    )
    bootstrap_email: str = _setting(
        "", "AUTHGATE_BOOTSTRAP_EMAIL", "first staff user, created when the store is empty"
    )
    # Environment only: a flag would show the password in the process list.
    bootstrap_password: str = _setting(
        "", "AUTHGATE_BOOTSTRAP_PASSWORD", "password of the bootstrap user", flag=False
    )
    max_body_bytes: int = _setting(
        65536, "AUTHGATE_MAX_BODY_BYTES", "largest REST request body, bytes (413 beyond)"
    )
    shutdown_grace_seconds: float = _setting(
        10.0, "AUTHGATE_SHUTDOWN_GRACE_SECONDS", "how long SIGTERM waits for in-flight calls"
    )
    migrate_on_start: bool = _setting(
        True, "AUTHGATE_MIGRATE_ON_START", "apply migrations at start (false: `authgate migrate`)"
    )
    workers: int = _setting(1, "AUTHGATE_WORKERS", "processes sharing both ports")
    cache_staleness_ms: int = _setting(
        100,
        "AUTHGATE_CACHE_STALENESS_MS",
        "the longest a revocation may take to reach every process, ms; past it caches are"
        " bypassed (0: no caches, every check reads the store)",
    )
    cache_entries: int = _setting(
        10000, "AUTHGATE_CACHE_ENTRIES", "entries each cache of a process holds at the most"
    )
    event_loop: str = _setting(
        "uvloop", "AUTHGATE_EVENT_LOOP", "the loop serving both doors: uvloop, or asyncio's own"
    )
    log_format: str = _setting(
        "text", "AUTHGATE_LOG_FORMAT", "text, or json for one JSON object per line"
    )
    log_level: str = _setting("INFO", "AUTHGATE_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR")

    def __post_init__(self) -> None:
        problems = []
        if self.algorithm not in ALGORITHMS:
            problems.append(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        for name in ("access_token_lifetime", "refresh_token_lifetime", "max_body_bytes"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        for name in ("http_addr", "grpc_addr"):
            try:
                split_address(getattr(self, name))
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if self.database_url:
            try:
                parse_database_url(self.database_url)
            except ValueError as exc:
                problems.append(f"database_url: {exc}")
        if self.public_url and not _is_base_url(self.public_url):
            problems.append("public_url: expected http(s)://host[:port][/path], no query")
        if self.log_format not in ("text", "json"):
            problems.append("log_format must be text or json")
        if self.event_loop not in EVENT_LOOPS:
            problems.append(f"event_loop must be one of {', '.join(EVENT_LOOPS)}")
        if self.workers < 1:
            problems.append("workers must be at least 1")
        if self.cache_staleness_ms < 0:
            problems.append("cache_staleness_ms must not be negative")
        if self.cache_entries < 1:
            problems.append("cache_entries must be at least 1")
        if self.key_publish_ahead < 0:
            problems.append("key_publish_ahead must not be negative")
        if self.rotation_grace_seconds < 0:
            problems.append("rotation_grace_seconds must not be negative")
        for name in ("login_limit_per_account", "login_limit_per_address"):
            try:
                limits.parse(getattr(self, name))
            except ValueError:
                problems.append(f"{name}: expected a rate such as 10/minute")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'authgate.sqlite3'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Build from AUTHGATE_* variables; `overrides` (flags) win over the environment."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if overrides.get(f.name) is not None:
                values[f.name] = _convert(f, overrides[f.name])
            elif f.metadata["env"] in environ:
                values[f.name] = _convert(f, environ[f.metadata["env"]])
        return cls(**values)


def _convert(f: dataclasses.Field[Any], raw: Any) -> Any:
    kind: type[Any] = type(f.default)
    if not isinstance(raw, str):
        return raw
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{f.metadata['env']}: expected true or false, got {raw!r}")
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            raise ValueError(f"{f.metadata['env']}: expected a number, got {raw!r}") from None
    if isinstance(f.default, Path):
        return Path(raw)
    return raw


def _is_base_url(url: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not (parts.query or parts.fragment)
    )


def split_address(address: str) -> tuple[str, int]:
    """'host:port' (or '[::1]:port') to (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)
