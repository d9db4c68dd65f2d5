"""Discovery documents: RFC 8414 authorization server metadata, and the subset of OpenID
Connect discovery that JWT verifiers read. Every URL is built on AUTHGATE_PUBLIC_URL."""

from __future__ import annotations

from typing import Any

from connexion import request

from authgate.core.access import SCOPES
from authgate.core.operations import AuthCore

# Discovery documents change only with a deployment: verifiers may cache them for a while.
CACHEABLE = {"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def _base() -> tuple[AuthCore, str]:
    return request.state.core, request.state.public_url


async def authorization_server_metadata() -> Any:
    """GET /.well-known/oauth-authorization-server (RFC 8414 §2)."""
    core, base = _base()
    metadata = {
        "issuer": core.tokens.issuer,
        "token_endpoint": f"{base}/api/v1/oauth/token",
        "introspection_endpoint": f"{base}/api/v1/oauth/introspect",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        # No authorization endpoint: the client credentials grant needs none.
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "scopes_supported": sorted(SCOPES),
    }
    return metadata, 200, CACHEABLE


async def openid_configuration() -> Any:
    """GET /.well-known/openid-configuration: what a JWT verifier reads (the issuer, the key
    set, the signing algorithms). AuthGate is no OpenID Provider: it issues no ID tokens."""
    core, base = _base()
    keys = await core.tokens.fresh_keys()
    now = core.tokens.clock()
    algorithms = {jwk["alg"] for jwk in keys.jwks(now)} or {keys.signing(now).algorithm}
    configuration = {
        "issuer": core.tokens.issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/api/v1/oauth/token",
        "id_token_signing_alg_values_supported": sorted(algorithms),
        "scopes_supported": sorted(SCOPES),
    }
    return configuration, 200, CACHEABLE
