"""A real Django project with djangorestframework-simplejwt, made in a directory by the tests.

It serves the guide's API the way teams moving to AuthGate serve it (simplejwt's token views),
makes its users with Django's own hashers and its refresh tokens with simplejwt's
`RefreshToken.for_user`, and dumps them with `manage.py dumpdata`: what
`authgate users import-django` and AUTHGATE_DJANGO_SECRET_KEY take.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SECRET_KEY = "django-insecure-tests-only-0123456789abcdefghijklmnopqrstuvwxyz-secret"
DJANGO_PASSWORD = "django-era password"  # every user's password in the Django project

# The hashers the project may use; the first, Django's default, hashes set_password().
HASHERS = ("pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256")

_SETTINGS = f"""
from datetime import timedelta
SECRET_KEY = {SECRET_KEY!r}
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = [
    "django.contrib.contenttypes", "django.contrib.auth", "rest_framework",
    "rest_framework_simplejwt",
]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
ROOT_URLCONF = "project_urls"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
]
REST_FRAMEWORK = {{
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
}}
SIMPLE_JWT = {{"REFRESH_TOKEN_LIFETIME": timedelta(days=1)}}
"""

_URLS = """
from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

urlpatterns = [
    path("api/v1/token/", TokenObtainPairView.as_view()),
    path("api/v1/token/refresh/", TokenRefreshView.as_view()),
]
"""

# Run by `manage.py shell`: each user hashed by the hasher its email names (users named
# "<hasher>-<anything>@example.com"), the others by the default; prints their refresh tokens.
_MAKE_USERS = """
import json, sys
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from rest_framework_simplejwt.tokens import RefreshToken

tokens = {}
for spec in json.load(open("users.json")):
    email = spec["email"]
    hasher = email.split("-")[0] if email.split("-")[0] in HASHERS else "default"
    user = User(username=email.split("@")[0], email=email, is_staff=spec.get("staff", False),
                is_active=spec.get("active", True))
    user.password = make_password(PASSWORD, hasher=hasher)
    user.save()
    tokens[email] = str(RefreshToken.for_user(user))
print(json.dumps(tokens))
"""


@dataclass(frozen=True)
class DjangoProject:
    directory: Path
    dump: Path  # `manage.py dumpdata auth.user`
    refresh_tokens: dict[str, str]  # email -> a simplejwt refresh token of that user
    users: list[dict[str, object]]  # what dumpdata says of each user


def make_django_project(directory: Path, users: list[dict[str, object]]) -> DjangoProject:
    """The project, its users (`{"email", "staff"?, "active"?}`), their tokens and the dump."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "project_settings.py").write_text(_SETTINGS)
    (directory / "project_urls.py").write_text(_URLS)
    (directory / "users.json").write_text(json.dumps(users))
    manage(directory, "migrate", "--verbosity", "0")
    script = f"HASHERS = {HASHERS!r}\nPASSWORD = {DJANGO_PASSWORD!r}\n" + _MAKE_USERS
    tokens = json.loads(manage(directory, "shell", "--command", script).splitlines()[-1])
    dump = directory / "dump.json"
    manage(directory, "dumpdata", "auth.user", "--indent", "2", "--output", str(dump))
    return DjangoProject(directory, dump, tokens, json.loads(dump.read_text()))


def manage(directory: Path, *args: str) -> str:
    """`django-admin` with the project's settings, in its directory; its standard output."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project_settings", "PYTHONPATH": "."}
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
