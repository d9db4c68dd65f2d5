"""The operations both doors serve. Protocol-free: plain values in, dataclasses or AuthError out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authgate.core import access, passwords
from authgate.core.access import Caller, Requirement, scopes_of
from authgate.core.audit import audit
from authgate.core.client_grant import ClientCredentialsGrant, ClientToken
from authgate.core.django_refresh import DjangoRefreshTokens
from authgate.core.errors import (
    AuthError,
    Reason,
    no_active_account,
    not_authenticated,
    token_not_valid,
)
from authgate.core.fields import require_text
from authgate.core.introspection import Introspection, introspection_of
from authgate.core.paging import MAX_PAGE_SIZE, decode_page_token, page_limit
from authgate.core.revocation_feed import FeedEvent, RevocationFeed
from authgate.core.subject_states import SubjectStates
from authgate.core.throttle import LoginThrottle
from authgate.core.tokens import TokenClaims, TokenCodec, TokenType
from authgate.core.user_admin import UserAdministration
from authgate.core.users import MAX_EMAIL_LENGTH, User, UserPage, normalize_email
from authgate.store.change_log import ChangeLog
from authgate.store.clients import ClientStore
from authgate.store.refresh_tokens import RefreshTokenRegistry, TokenState
from authgate.store.users import UserStore


@dataclass(frozen=True)
class TokenPair:
    refresh: str
    access: str


@dataclass(frozen=True)
class RefreshedTokens:
    access: str
    refresh: str | None = None  # set only when refresh-token rotation is on


@dataclass(frozen=True)
class RefreshPolicy:
    rotate: bool = False
    # How long a spent refresh token may be presented again (a client's own retry) before
    # it counts as reuse and revokes its family.
    grace: timedelta = timedelta(0)


class AuthCore(UserAdministration):
    def __init__(
        self,
        store: UserStore,
        tokens: TokenCodec,
        registry: RefreshTokenRegistry,
        throttle: LoginThrottle,
        policy: RefreshPolicy,
        clients: ClientStore,
        subjects: SubjectStates | None = None,
        jwks_max_age: int = 300,
        django_refresh: DjangoRefreshTokens | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.registry = registry
        self.throttle = throttle
        self.policy = policy
        # What the store said of users, clients and refresh tokens, while the change log
        # keeps it true; without it, every check reads the store.
        self.subjects = subjects or SubjectStates.uncached()
        self.client_grant = ClientCredentialsGrant(clients, tokens, throttle, self.subjects)
        # The change log, streamed to verifiers outside AuthGate (WatchRevocations).
        self.revocations = RevocationFeed(ChangeLog(store.database), self.subjects.follower)
        # How long a verifier may cache the JWKS: at most half the publish-ahead, so a staged
        # key is in every verifier's copy before it signs.
        self.jwks_max_age = jwks_max_age
        self.django_refresh = django_refresh

    async def issue_client_token(
        self, client_id: str, client_secret: str, scope: str | None, client: str = ""
    ) -> ClientToken:
        """The client credentials grant (RFC 6749 §4.4); `client` is the caller's address."""
        return await self.client_grant.issue(client_id, client_secret, scope, client)

    async def issue_token_pair(self, email: str, password: str, client: str = "") -> TokenPair:
        require_text(email=(email, MAX_EMAIL_LENGTH), password=(password, passwords.MAX_LENGTH))
        account = normalize_email(email)
        try:
            await self.throttle.check(account, client)
        except AuthError as error:
            if error.reason is Reason.THROTTLED:
                audit("login_throttled", client=client, reason="too many failures")
            raise
        user = await self.store.verify_credentials(email, password)
        if user is None:
            await self.throttle.record_failure(account, client)
            audit("login_failed", client=client, reason="no active account")
            raise no_active_account()
        await self.tokens.fresh_keys()
        refresh, claims = self.tokens.encode_with_claims(
            user.id, TokenType.REFRESH, version=user.token_version
        )
        expires = datetime.fromtimestamp(claims.expires_at, UTC)
        await self.registry.register_login(claims.jti, user.id, expires, _now())
        audit("login_succeeded", user_id=user.id, client=client)
        return TokenPair(refresh=refresh, access=self._access_for(user))

    def _access_for(self, user: User) -> str:
        """An access token for `user`, carrying the scopes the user holds now."""
        return self.tokens.encode(
            user.id, TokenType.ACCESS, version=user.token_version, scopes=scopes_of(user)
        )

    async def refresh_access_token(self, refresh: str, client: str = "") -> RefreshedTokens:
        require_text(refresh=(refresh, None))
        if self.django_refresh and (user := await self.django_refresh.holder(refresh, client)):
            return RefreshedTokens(access=self._access_for(user))
        claims = await self.tokens.checked(refresh, TokenType.REFRESH)
        if not self.policy.rotate:
            user = await self._current_holder(claims)
            audit("token_refreshed", user_id=user.id, client=client)
            return RefreshedTokens(access=self._access_for(user))
        user = await self._current_user(claims)
        successor, successor_claims = self.tokens.encode_with_claims(
            user.id, TokenType.REFRESH, version=user.token_version
        )
        expires = datetime.fromtimestamp(successor_claims.expires_at, UTC)
        registered = await self.registry.rotate(
            claims.jti, successor_claims.jti, user.id, expires, _now()
        )
        if registered.state is TokenState.SPENT and self._within_grace(registered.spent_at):
            # The client's own retry of a refresh whose answer it did not see.
            await self.registry.register(
                successor_claims.jti, registered.family_id, user.id, expires
            )
        elif registered.state is TokenState.SPENT:
            await self.registry.revoke_family(registered.family_id, _now())
            audit("refresh_reuse_detected", user_id=user.id, client=client, reason="family revoked")
            raise token_not_valid("Token has been revoked.")
        elif registered.state is not TokenState.LIVE:
            raise token_not_valid("Token has been revoked.")
        audit("token_refreshed", user_id=user.id, client=client, reason="rotated")
        return RefreshedTokens(access=self._access_for(user), refresh=successor)

    def _within_grace(self, spent_at: datetime | None) -> bool:
        return spent_at is not None and _now() - spent_at <= self.policy.grace

    async def authenticate(self, token: str) -> Caller:
        """Whom an access token speaks for, with the scopes it holds now; AuthError otherwise.

        A token's scopes are those it was issued with that its holder still holds, so taking
        staff away takes effect at once. A token issued before scopes existed holds its
        holder's current ones.
        """
        return await self._caller(await self.tokens.checked(token, TokenType.ACCESS))

    async def _caller(self, claims: TokenClaims) -> Caller:
        if claims.client_id is not None:
            return await self.client_grant.caller(claims)
        user = await self._current_user(claims)
        held = scopes_of(user)
        scopes = held if claims.scopes is None else claims.scopes & held
        return Caller(user.id, scopes, user)

    async def authorize(self, token: str | None, requirement: Requirement) -> Caller:
        """The caller of an operation that is not public, if its token meets `requirement`."""
        if token is None:
            raise not_authenticated()
        caller = await self.authenticate(token)
        access.check(caller, requirement)
        return caller

    async def introspect(self, token: str) -> Introspection | None:
        """RFC 7662: what `token` says if it is active now (valid, unexpired, unrevoked, its
        user or client active); None for anything else."""
        require_text(token=(token, None))
        try:
            claims = await self.tokens.checked(token, None)
            if claims.token_type is TokenType.REFRESH:
                scopes = scopes_of(await self._current_holder(claims))
            else:
                scopes = (await self._caller(claims)).scopes
        except AuthError as error:
            if error.reason is Reason.TOKEN_NOT_VALID:
                return None
            raise
        return introspection_of(claims, scopes, self.tokens.issuer)

    async def introspect_as_client(
        self, client_id: str, client_secret: str, token: str, client: str = ""
    ) -> Introspection | None:
        """Introspection for a caller that authenticates as a client (RFC 7662 §2.1)."""
        await self.client_grant.authenticate_client(client_id, client_secret, client)
        return await self.introspect(token)

    async def verify_token(self, token: str) -> None:
        """Any token of ours, access or refresh, that is valid and not revoked."""
        require_text(token=(token, None))
        claims = await self.tokens.checked(token, None)
        if claims.token_type is TokenType.REFRESH:
            await self._current_holder(claims)
        else:
            await self._caller(claims)

    async def revoke_token(self, refresh: str, client: str = "") -> None:
        require_text(refresh=(refresh, None))
        claims = await self.tokens.checked(refresh, TokenType.REFRESH)
        await self.registry.revoke(claims.jti, _now())
        audit("token_revoked", user_id=claims.user_id, client=client)

    async def revoke_all_tokens(self, caller: Caller, client: str = "") -> None:
        """Logout everywhere: the version bump refuses every token issued before now."""
        if caller.user is None:
            raise AuthError(
                Reason.PERMISSION_DENIED,
                "A client's tokens stop with the client: deactivate it, or rotate its secret.",
            )
        await self.store.bump_token_version(caller.subject)
        await self.registry.revoke_user(caller.subject, _now())
        audit("tokens_revoked_all", user_id=caller.subject, client=client)

    def watch_revocations(
        self, after_seq: int, still_authorized: Callable[[], Awaitable[object]]
    ) -> AsyncIterator[FeedEvent]:
        """The revocation feed after `after_seq` (core/revocation_feed.py); the door hands
        over its authorization of the watcher, which runs again at every heartbeat."""
        return self.revocations.watch(after_seq, still_authorized)

    async def public_keys(self) -> list[dict[str, str]]:
        """The JWKS `keys`: every public key that verifies now, the next one among them."""
        return (await self.tokens.fresh_keys()).jwks(self.tokens.clock())

    async def _current_user(self, claims: TokenClaims) -> User:
        user_id = claims.user_id
        return _still_valid(
            claims, await self.subjects.user(user_id, lambda: self.store.get(user_id))
        )

    async def _current_holder(self, claims: TokenClaims) -> User:
        """The user of a live (registered, unspent, unrevoked) refresh token.

        With rotation on, a refresh spends its token with no change-log row, so the registry
        is read every time; without it, a token the registry said was live stays live until a
        row of its user (a revocation among them) says otherwise.
        """
        cacheable = not self.policy.rotate
        if cacheable and self.subjects.refresh_is_live(claims.jti, claims.user_id):
            return await self._current_user(claims)
        ticket = self.subjects.follower.ticket()
        user, registered = await self.registry.lookup_with_holder(claims.jti, claims.user_id)
        user = _still_valid(claims, user)
        if registered.state is not TokenState.LIVE:
            raise token_not_valid("Token has been revoked.")
        if cacheable:
            self.subjects.remember_live_refresh(claims.jti, user, ticket)
        return user

    async def list_visible_users(self, caller: Caller, page_size: int, page_token: str) -> UserPage:
        """AIP-158 pages of the users `caller` may see (AIP-211): every user with the
        `users:read` scope, else only the caller's own user."""
        limit = page_limit(page_size)
        only = None if caller.may("users:read") else caller.subject
        return await self.page_users(page_token, limit, only)

    async def page_users(self, page_token: str, limit: int, only_id: str | None) -> UserPage:
        after_id = decode_page_token(page_token)

        async def load(rows: int) -> list[User]:
            return await self.store.page(after_id=after_id, limit=rows, only_id=only_id)

        return await self.subjects.pages.page(after_id, limit, only_id, load)

    async def list_all_users(self, page_token: str) -> UserPage:
        """Every user, a page at a time, for the operator's CLI."""
        return await self.page_users(page_token, MAX_PAGE_SIZE, only_id=None)


def _still_valid(claims: TokenClaims, user: User | None) -> User:
    # A deleted or deactivated user's tokens stop working at once (simplejwt: a 500), and
    # so do tokens issued before a logout everywhere or a password change.
    if user is None or not user.is_active:
        raise token_not_valid("User is inactive or deleted.")
    if claims.version != user.token_version:
        raise token_not_valid("Token has been revoked.")
    return user


def _now() -> datetime:
    return datetime.now(UTC)
