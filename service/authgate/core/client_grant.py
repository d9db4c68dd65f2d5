"""The OAuth 2.0 client credentials grant (RFC 6749 §4.4): a client's id and secret for a
scoped access token, and the client such a token speaks for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from authgate.core.access import Caller, format_scope
from authgate.core.audit import audit
from authgate.core.clients import Client, could_be_credentials
from authgate.core.errors import AuthError, Reason, token_not_valid
from authgate.core.subject_states import SubjectStates
from authgate.core.throttle import LoginThrottle
from authgate.core.tokens import TokenClaims, TokenCodec
from authgate.store.clients import ClientStore

# The failure counters of clients and of people never meet (an email has no such prefix).
_THROTTLE_ACCOUNT = "client:"


@dataclass(frozen=True)
class ClientToken:
    """RFC 6749 §5.1: a bearer access token, its lifetime and the scopes it holds."""

    access_token: str
    expires_in: int
    scope: str


def invalid_client() -> AuthError:
    # RFC 6749 §5.2: one answer whether the id is unknown, the secret wrong or the client off.
    return AuthError(Reason.INVALID_CLIENT, "Client authentication failed.")


class ClientCredentialsGrant:
    def __init__(
        self,
        clients: ClientStore,
        tokens: TokenCodec,
        throttle: LoginThrottle,
        subjects: SubjectStates,
    ) -> None:
        self.clients = clients
        self.tokens = tokens
        self.throttle = throttle
        self.subjects = subjects

    async def authenticate_client(self, client_id: str, client_secret: str, address: str) -> Client:
        """The active client these credentials are; throttled per client and address as
        logins are, and one answer (invalid_client) for every way of being wrong."""
        account = _THROTTLE_ACCOUNT + client_id
        try:
            await self.throttle.check(account, address)
        except AuthError as error:
            if error.reason is Reason.THROTTLED:
                audit("client_throttled", user_id=client_id, client=address)
            raise
        client = None
        if could_be_credentials(client_id, client_secret):
            now = datetime.now(UTC)
            client = await self.clients.verify_secret(client_id, client_secret, now)
        if client is None:
            await self.throttle.record_failure(account, address)
            audit("client_auth_failed", user_id=client_id, client=address, reason="invalid")
            raise invalid_client()
        return client

    async def issue(
        self, client_id: str, client_secret: str, scope: str | None, address: str
    ) -> ClientToken:
        """A token for an authenticated client, holding `scope` (space-delimited; every scope
        of the client when None) if the client may hold it (RFC 6749 §3.3)."""
        client = await self.authenticate_client(client_id, client_secret, address)
        requested = client.scopes if scope is None else frozenset(scope.split())
        if not requested <= client.scopes:
            raise AuthError(
                Reason.INVALID_SCOPE,
                f"The client may not hold {format_scope(requested - client.scopes)}.",
            )
        await self.tokens.fresh_keys()
        token, lifetime = self.tokens.encode_for_client(client.id, requested)
        audit("client_token_issued", user_id=client.id, client=address)
        return ClientToken(token, lifetime, format_scope(requested))

    async def caller(self, claims: TokenClaims) -> Caller:
        """The client a client's token speaks for, holding the token's scopes it still may."""
        client_id = claims.user_id
        client = await self.subjects.client(client_id, lambda: self.clients.get(client_id))
        if client is None or not client.is_active:
            raise token_not_valid("Client is inactive or deleted.")
        return Caller(client.id, (claims.scopes or frozenset()) & client.scopes)
