"""The accounts every tier's servers start with, and the password of users the tests create."""

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "change-me-please"  # the README's guide uses it too
# The environment that makes a server create that admin at start.
BOOTSTRAP_ADMIN = {
    "AUTHGATE_BOOTSTRAP_EMAIL": ADMIN_EMAIL,
    "AUTHGATE_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD,
}
PASSWORD = "correct horse battery"

# The key-encryption key of every test server on PostgreSQL, where one is required: the same
# for every process of the run (servers, replicas, the CLI), as it is for a deployment's.
KEY_ENCRYPTION_KEY = "dGVzdHMtb25seS1rZXktZW5jcnlwdGlvbi1rZXktMzI="


def with_key_encryption_key(env: dict[str, str]) -> dict[str, str]:
    """`env` with the tests' key-encryption key, when its store is PostgreSQL and it has none."""
    if "postgresql" in env.get("AUTHGATE_DATABASE_URL", ""):
        return {"AUTHGATE_KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY, **env}
    return env
