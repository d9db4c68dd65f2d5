"""Discovery (RFC 8414, and what JWT verifiers read of OpenID Connect discovery), validated
by Authlib's metadata validators; every URL comes from AUTHGATE_PUBLIC_URL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from in_process import Service, serving

PUBLIC = "https://auth.example.com"


@pytest_asyncio.fixture(scope="module")
async def public(tmp_path_factory) -> AsyncIterator[Service]:
    """A deployment as production runs one: an https issuer and public URL."""
    async with serving(
        tmp_path_factory.mktemp("discovery"), issuer=PUBLIC, public_url=PUBLIC + "/"
    ) as running:
        yield running


@pytest_asyncio.fixture
async def http(public: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=public.http_url, timeout=10) as client:
        yield client


async def test_the_metadata_passes_authlibs_validators(http):
    answer = await http.get("/.well-known/oauth-authorization-server")
    metadata = AuthorizationServerMetadata(answer.json())

    for check in ("issuer", "token_endpoint", "jwks_uri", "introspection_endpoint"):
        getattr(metadata, f"validate_{check}")()
    metadata.validate_grant_types_supported()
    metadata.validate_token_endpoint_auth_methods_supported()
    metadata.validate_scopes_supported()
    assert metadata["issuer"] == PUBLIC
    assert metadata["token_endpoint"] == PUBLIC + "/api/v1/oauth/token"
    assert metadata["introspection_endpoint"] == PUBLIC + "/api/v1/oauth/introspect"
    assert metadata["jwks_uri"] == PUBLIC + "/.well-known/jwks.json"
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert metadata["scopes_supported"] == ["revocations:watch", "users:read", "users:write"]
    assert "revocation_endpoint" not in metadata  # no RFC 7009 endpoint is served


async def test_the_issuer_is_the_tokens_iss(public, http):
    client = await public.make_client()
    issued = await public.runtime.core.issue_client_token(client.client_id, client.secret, None)
    introspected = await public.runtime.core.introspect(issued.access_token)
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()

    assert introspected is not None and introspected.iss == metadata["issuer"] == PUBLIC


async def test_verifier_discovery_names_the_issuer_keys_and_algorithm(http):
    configuration = (await http.get("/.well-known/openid-configuration")).json()

    assert configuration["issuer"] == PUBLIC
    assert configuration["jwks_uri"] == PUBLIC + "/.well-known/jwks.json"
    assert configuration["id_token_signing_alg_values_supported"] == ["EdDSA"]


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
)
async def test_urls_never_come_from_the_host_header(http, path):
    answer = await http.get(path, headers={"Host": "evil.example", "X-Forwarded-Host": "x.y"})

    assert "evil.example" not in answer.text and "x.y" not in answer.text
    assert answer.headers["cache-control"] == "public, max-age=300"


async def test_without_a_public_url_the_urls_are_the_bound_address(service):
    async with httpx.AsyncClient(base_url=service.http_url) as http:
        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()

    assert metadata["token_endpoint"] == f"{service.http_url}/api/v1/oauth/token"
