"""The tables, in SQLAlchemy Core. Alembic migrations create them; this mirrors the head."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(26), primary_key=True),
    # Stored normalized (trimmed, lower case), so the unique index is case-insensitive.
    Column("email", String(254), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("is_staff", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login", DateTime(timezone=True), nullable=True),
    # Tokens carry the version they were issued under; bumping it revokes them all
    # (logout everywhere, password change).
    Column("token_version", Integer, nullable=False, server_default="0"),
    Index("users_email_key", "email", unique=True),
)

# Every refresh token issued, so one can be revoked, spent once (rotation), or have its whole
# family (every token descended from one login) revoked on reuse (RFC 9700 §4.14.2).
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False),
    Column("user_id", String(26), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("spent_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("refresh_tokens_family_idx", "family_id"),
    Index("refresh_tokens_user_idx", "user_id"),
    Index("refresh_tokens_expiry_idx", "expires_at"),
)

# Clients (service accounts): the scopes each may ask for, space-delimited.
clients = Table(
    "clients",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("scopes", String(1000), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A client's live secrets, as SHA-256 digests: one, or two while a rotation overlaps (the old
# one then has an `expires_at`).
client_secrets = Table(
    "client_secrets",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("client_id", String(40), ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Index("client_secrets_client_idx", "client_id"),
)

# The change log (store/change_log.py): every write that changes whether a subject's tokens are
# good, by `seq`, which serving processes tail and outside verifiers resume from.
changes = Table(
    "changes",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("subject", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("version", Integer, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("changes_at_idx", "at"),
    sqlite_autoincrement=True,
)

# Signing keys (store/signing_keys.py): each key's state follows from its dates (core/keys.py);
# the private key is sealed under the key-encryption key, and NULL once the key is retired.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("public_jwk", Text, nullable=True),
    Column("private_key", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("activates_at", DateTime(timezone=True), nullable=False),
    Column("deactivates_at", DateTime(timezone=True), nullable=True),
    Column("retired_at", DateTime(timezone=True), nullable=True),
)

# Users imported from Django (store/django_users.py): the Django primary key of each, which
# simplejwt refresh tokens name; the user's token version at import (those tokens are good
# while it is current); and the work of the Django hash still stored, in PBKDF2-SHA256
# iterations (NULL once rehashed), whose maximum every failed login matches (core/passwords.py).
django_users = Table(
    "django_users",
    metadata,
    Column("django_pk", String(64), primary_key=True),
    Column("user_id", String(26), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_version", Integer, nullable=False),
    Column("legacy_cost", Integer, nullable=True),
    Index("django_users_user_key", "user_id", unique=True),
    Index("django_users_legacy_cost_idx", "legacy_cost"),
)
