"""The accounts every tier's servers start with, and the password of users the tests create."""

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "change-me-please"  # the README's guide uses it too
# The environment that makes a server create that admin at start.
BOOTSTRAP_ADMIN = {
    "AUTHGATE_BOOTSTRAP_EMAIL": ADMIN_EMAIL,
    "AUTHGATE_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD,
}
PASSWORD = "correct horse battery"
