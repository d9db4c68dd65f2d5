"""The floors' work: PyJWT EdDSA encode and decode with AuthGate's claims, a fixed page, and
a login (argon2id verify at AuthGate's parameters in a thread pool, then a token pair).

Both floors (floor_rest.py, floor_grpc.py) and throughput.py (which mints the floor's tokens)
import this. No key ring, no `kid` lookup, no database: what remains is the least any service
answering these operations with these tokens must do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from authgate.v1 import auth_pb2

ISSUER = "authgate"
KID = "floor"
REQUIRED = ["exp", "iat", "jti", "sub", "token_type"]
ACCESS_LIFETIME = 3600
REFRESH_LIFETIME = 86400

_keys: dict[str, Any] = {}

# AuthGate's argon2id parameters (OWASP: m=19 MiB, t=2, p=1). The floor knows one account.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
_account: dict[str, Any] = {}


def write_new_key(path: Path) -> None:
    """A fresh Ed25519 private key, PEM, for one benchmark run."""
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def load_key(path: Path) -> None:
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    _keys["private"], _keys["public"] = private, private.public_key()


def set_account(email: str, password: str, workers: int) -> None:
    """The one account `login` accepts, hashed now; and, as AuthGate does, a hashing pool of
    this process's share of the cores (at least one thread)."""
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    _account.update(
        email=email,
        hash=_HASHER.hash(password),
        pool=ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2"),
    )


class WrongCredentials(Exception):
    """The email or password is not the floor's account's."""


def load_args(args: argparse.Namespace) -> None:
    """The key, and the account when `--login` names one."""
    load_key(args.key_file)
    if args.login:
        set_account(*args.login, workers=args.workers)


async def login(email: str, password: str) -> tuple[str, str]:
    """(refresh, access) for the floor's account: one argon2id verify off the event loop,
    whatever the email, then two tokens."""
    if not _account:
        raise WrongCredentials("this floor was started without --login")
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(_account["pool"], _verify, password)
    if not ok or email.strip().lower() != _account["email"]:
        raise WrongCredentials("No active account found with the given credentials")
    return encode("floor-user", "refresh"), encode("floor-user", "access")


def _verify(password: str) -> bool:
    try:
        return _HASHER.verify(_account["hash"], password)
    except VerificationError:
        return False


def encode(user_id: str, kind: str) -> str:
    """A signed token; `kind` is the token_type claim, "access" or "refresh"."""
    now = int(time.time())
    lifetime = ACCESS_LIFETIME if kind == "access" else REFRESH_LIFETIME
    claims = {
        "iss": ISSUER,
        "sub": user_id,
        "user_id": user_id,
        "token_type": kind,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + lifetime,
        "ver": 0,
    }
    typ = "at+jwt" if kind == "access" else "JWT"
    return jwt.encode(claims, _keys["private"], algorithm="EdDSA", headers={"kid": KID, "typ": typ})


class InvalidToken(Exception):
    """The token is not a valid floor token of the expected type."""


def decode(token: str, token_type: str | None) -> dict[str, Any]:
    """Verify signature, issuer, expiry and the required claims; `None` accepts either type."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _keys["public"],
            algorithms=["EdDSA"],
            issuer=ISSUER,
            options={"require": REQUIRED},
        )
    except jwt.InvalidTokenError as error:
        raise InvalidToken(str(error)) from error
    if token_type is not None and claims["token_type"] != token_type:
        raise InvalidToken("wrong token type")
    return claims


def fixed_page(size: int = 50) -> auth_pb2.ListUsersResponse:
    """`size` users shaped like AuthGate's (ULID-length ids, emails, timestamps), built once."""
    created = Timestamp(seconds=1_795_000_000, nanos=123_456_000)
    users = [
        auth_pb2.User(
            id=f"01FL00R{n:019d}",
            email=f"floor-user-{n}@example.com",
            is_active=True,
            is_staff=False,
            create_time=created,
        )
        for n in range(size)
    ]
    # An AIP-158 page token of the shape AuthGate hands out (base64url of {"after": id}).
    after = "eyJhZnRlciI6IjAxRkwwMFIwMDAwMDAwMDAwMDAwMDAwMDQ5In0"
    return auth_pb2.ListUsersResponse(users=users, next_page_token=after)


def fixed_page_json(size: int = 50) -> dict[str, Any]:
    """The same page in the protobuf JSON mapping AuthGate's REST door uses."""
    return json_format.MessageToDict(fixed_page(size), always_print_fields_with_no_presence=True)


# --------------------------------------------------------------------------- processes


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--key-file", type=Path, required=True, help="Ed25519 private key, PEM")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--login", nargs=2, metavar=("EMAIL", "PASSWORD"), help="the one account login accepts"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def start_siblings(script: str, args: argparse.Namespace, port: int) -> list[subprocess.Popen[str]]:
    """`args.workers - 1` more processes of `script` on `port` (SO_REUSEPORT), once ready.

    As `authgate serve --workers N`: every process binds its own listening socket to the
    same port and the kernel spreads connections among them.
    """
    children = []
    for _ in range(args.workers - 1):
        command = [sys.executable, script, "--key-file", str(args.key_file)]
        command += ["--workers", str(args.workers)]
        command += ["--login", *args.login] if args.login else []
        command += ["--port", str(port), "--child"]
        children.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 - ourselves
        )
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            stop_siblings(children)
            raise SystemExit(f"{script}: a worker did not start")
    return children


def announce_child_ready() -> None:
    print("ready", flush=True)


def stop_siblings(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
