"""Verifier checks AuthGate's access tokens locally, against a live AuthGate: what it
accepts and refuses, how it follows a key rotation, how little a flood of forged key ids
costs AuthGate, and how long it serves while AuthGate is down."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest
from authgate_client import InvalidToken, Principal, VerificationUnavailable, Verifier
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from live_server import ClientCredentials, admin_tokens, client_token, make_client
from servers import ServerProcess, cli, logged_fields, running_server, wait_for

# conftest.py's `start_server` fixture (conftest itself is no module to import: tests/ has one too).
StartServer = Callable[..., ServerProcess]


class FakeClock:
    """The verifier's cache clock, moved by the test (token expiry keeps the real one)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def billing(server: ServerProcess) -> ClientCredentials:
    return make_client(server, "users:read")


@pytest.fixture(scope="module")
def elsewhere(
    server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A second AuthGate on the same store, so signing with the same keys, but with another
    issuer and an audience: its tokens are genuine, and not `server`'s."""
    kek = (server.data_dir / "key-encryption-key").read_text().strip()
    with running_server(
        tmp_path_factory.mktemp("elsewhere"),
        database_url=server.database_url,
        key_encryption_key=kek,
        issuer="https://elsewhere.example",
        audience="other-service",
    ) as process:
        yield process


def forged(kid: str, **claims: object) -> str:
    """An access token in AuthGate's form, signed by a key of the test's own."""
    now = int(time.time())
    payload = {
        "iss": "authgate", "sub": "intruder", "token_type": "access", "jti": uuid.uuid4().hex,
        "iat": now, "exp": now + 300, "scope": "users:read users:write", **claims,
    }  # fmt: skip
    key = Ed25519PrivateKey.generate()
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})


def header_of(token: str) -> dict[str, object]:
    return dict(jwt.get_unverified_header(token))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def refusal(verifier: Verifier, token: str) -> str:
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    return str(refused.value)


def jwks_fetches(server: ServerProcess) -> int:
    """The JWKS requests `server` has answered, once its access log has caught up."""
    marker = uuid.uuid4().hex
    httpx.get(f"{server.http_url}/healthz", headers={"x-request-id": marker}, timeout=30)
    wait_for(lambda: marker in server.log, 30)
    return sum(
        1
        for line in list(server.lines)
        if (fields := logged_fields(line, "authgate.access"))
        and fields["path"] == "/.well-known/jwks.json"
    )


def test_a_clients_token_gives_its_principal(server: ServerProcess, billing: ClientCredentials):
    principal = Verifier(server.http_url).verify(client_token(server, billing))
    assert principal == Principal(
        billing.client_id, frozenset({"users:read"}), billing.client_id, {}
    )
    assert principal.claims["token_type"] == "access"


def test_a_users_token_names_no_client(server: ServerProcess):
    principal = Verifier(server.http_url).verify(admin_tokens(server)["access"])
    assert principal.client_id is None
    assert principal.scopes == {"users:read", "users:write"}


async def test_averify_accepts_the_same_token(server: ServerProcess, billing: ClientCredentials):
    principal = await Verifier(server.http_url).averify(client_token(server, billing))
    assert principal.subject == billing.client_id


def test_a_tampered_token_is_refused(server: ServerProcess, billing: ClientCredentials):
    header, payload, signature = client_token(server, billing).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "users:read users:write"
    tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert refusal(Verifier(server.http_url), tampered) == "the token's signature does not verify"


def test_a_token_signed_by_another_key_under_authgates_kid_is_refused(
    server: ServerProcess, billing: ClientCredentials
):
    kid = str(header_of(client_token(server, billing))["kid"])
    assert (
        refusal(Verifier(server.http_url), forged(kid)) == "the token's signature does not verify"
    )


def test_the_algorithm_comes_from_the_key_never_from_the_token(
    server: ServerProcess, billing: ClientCredentials
):
    """RFC 8725 §3.1: a token naming HS256, "signed" with the public key as an HMAC secret,
    and one naming no algorithm, both under AuthGate's kid."""
    verifier = Verifier(server.http_url)
    genuine = client_token(server, billing)
    kid = str(header_of(genuine)["kid"])
    public = httpx.get(f"{server.http_url}/.well-known/jwks.json").json()["keys"][0]
    secret = base64.urlsafe_b64decode(public["x"] + "==")
    payload = genuine.split(".")[1]
    for alg in ("HS256", "none"):
        header = b64(json.dumps({"alg": alg, "kid": kid, "typ": "at+jwt"}).encode())
        signed = f"{header}.{payload}".encode()
        signature = hmac.new(secret, signed, hashlib.sha256).digest() if alg == "HS256" else b""
        token = f"{header}.{payload}.{b64(signature)}"
        assert refusal(verifier, token) == "the token is malformed or lacks a claim", alg


def test_a_refresh_token_is_refused(server: ServerProcess):
    refresh = admin_tokens(server)["refresh"]
    assert refusal(Verifier(server.http_url), refresh) == "the token is not an access token"


def test_an_expired_token_is_refused_beyond_the_leeway(start_server: StartServer):
    short = start_server(access_token_lifetime="1")
    token = client_token(short, make_client(short, "users:read"))
    expires = int(jwt.decode(token, options={"verify_signature": False})["exp"])
    wait_for(lambda: time.time() > expires + 1, 30)
    assert refusal(Verifier(short.http_url, leeway=0), token) == "the token has expired"
    assert Verifier(short.http_url, leeway=60).verify(token).scopes == {"users:read"}


def test_a_token_from_another_issuer_is_refused(server: ServerProcess, elsewhere: ServerProcess):
    theirs = client_token(elsewhere, make_client(elsewhere, "users:read"))
    assert refusal(Verifier(server.http_url), theirs) == "the token is from another issuer"


def test_a_token_for_another_audience_is_refused(elsewhere: ServerProcess):
    theirs = client_token(elsewhere, make_client(elsewhere, "users:read"))
    assert Verifier(elsewhere.http_url, audience="other-service").verify(theirs)
    for verifier in (
        Verifier(elsewhere.http_url, audience="billing"),
        Verifier(elsewhere.http_url),
    ):
        assert refusal(verifier, theirs) == "the token is for another audience"


def test_a_staged_rotation_fails_no_verification(start_server: StartServer):
    rotating = start_server(key_publish_ahead="3")
    client = make_client(rotating, "users:read")
    verifier = Verifier(rotating.http_url)
    first = client_token(rotating, client)
    old_kid = header_of(first)["kid"]
    rotation = threading.Thread(target=cli, args=(rotating, "keys", "rotate"))
    rotation.start()
    failures, new_key_verified = [], 0
    deadline = time.monotonic() + 120
    while new_key_verified < 20 and time.monotonic() < deadline:
        token = client_token(rotating, client)
        for each in (token, first):
            try:
                verifier.verify(each)
            except InvalidToken as error:
                failures.append((header_of(each)["kid"], str(error)))
        new_key_verified += header_of(token)["kid"] != old_kid
    rotation.join()
    assert failures == []
    assert new_key_verified == 20, "the new key never signed"


def test_a_flood_of_unknown_kids_refetches_the_jwks_at_most_once_per_30_s(
    server: ServerProcess, billing: ClientCredentials
):
    clock = FakeClock()
    verifier = Verifier(server.http_url, clock=clock)
    good = client_token(server, billing)
    verifier.verify(good)
    before = jwks_fetches(server)

    def flood(at: float) -> None:
        clock.now = at
        tokens = [forged(uuid.uuid4().hex) for _ in range(100)]
        with ThreadPoolExecutor(8) as pool:
            refusals = set(pool.map(lambda token: refusal(verifier, token), tokens))
        assert refusals == {"the token is signed by a key AuthGate does not publish"}

    for at in (1000.0, 1010.0, 1029.0):
        flood(at)
    assert jwks_fetches(server) == before
    for at in (1031.0, 1040.0, 1060.0):
        flood(at)
    assert jwks_fetches(server) == before + 1
    assert verifier.verify(good).subject == billing.client_id


async def test_an_async_flood_of_unknown_kids_refetches_the_jwks_at_most_once(
    server: ServerProcess, billing: ClientCredentials
):
    verifier = Verifier(server.http_url)
    await verifier.averify(client_token(server, billing))
    before = jwks_fetches(server)
    tokens = [forged(uuid.uuid4().hex) for _ in range(200)]
    outcomes = await asyncio.gather(*map(verifier.averify, tokens), return_exceptions=True)
    assert all(isinstance(outcome, InvalidToken) for outcome in outcomes)
    assert jwks_fetches(server) == before


def test_it_serves_for_its_stale_bound_while_authgate_is_down(start_server: StartServer):
    stopping = start_server()
    token = client_token(stopping, make_client(stopping, "users:read"))
    clock = FakeClock()
    verifier = Verifier(stopping.http_url, stale_for=60, clock=clock)
    verifier.verify(token)
    max_age = int(httpx.get(f"{stopping.http_url}/.well-known/jwks.json").headers[
        "cache-control"].rpartition("max-age=")[2])  # fmt: skip
    stopping.stop()
    for elapsed in (1, max_age - 1, max_age + 1, max_age + 30, max_age + 59):
        clock.now = 1000.0 + elapsed
        assert verifier.verify(token).scopes == {"users:read"}, elapsed
    clock.now = 1000.0 + max_age + 61
    with pytest.raises(VerificationUnavailable):
        verifier.verify(token)


def test_it_fails_closed_when_authgate_was_never_reached():
    verifier = Verifier("http://127.0.0.1:1")
    with pytest.raises(VerificationUnavailable):
        verifier.verify(forged("any"))
