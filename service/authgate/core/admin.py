"""Operator actions (the `authgate users` and `authgate clients` commands, the bootstrap user)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authgate.core.audit import audit
from authgate.core.clients import Client, NewSecret, client_problems
from authgate.core.errors import AuthError, Reason, invalid_request
from authgate.core.users import User, new_account_problems
from authgate.store.clients import ClientStore
from authgate.store.refresh_tokens import RefreshTokenRegistry
from authgate.store.users import UserStore


class Administration:
    def __init__(
        self, store: UserStore, registry: RefreshTokenRegistry, clients: ClientStore
    ) -> None:
        self.store = store
        self.registry = registry
        self.clients = clients

    async def create_user(self, email: str, password: str, *, is_staff: bool = False) -> User:
        problems = new_account_problems(email, password)
        if problems:
            raise invalid_request(problems)
        return await self.store.create_user(email, password, is_staff=is_staff)

    async def set_active(self, email: str, active: bool) -> User:
        return _found(await self.store.set_active(email, active))

    async def set_password(self, email: str, password: str) -> User:
        """A new password; every token issued under the old one stops working."""
        problems = {
            k: v for k, v in new_account_problems(email, password).items() if k == "password"
        }
        if problems:
            raise invalid_request(problems)
        user = _found(await self.store.set_password(email, password))
        await self.registry.revoke_user(user.id, datetime.now(UTC))
        audit("password_changed", user_id=user.id, reason="operator")
        return user

    async def bootstrap(self, email: str, password: str) -> User | None:
        """Create the first staff user when the store is empty; None when it is not."""
        if not email or await self.store.count() > 0:
            return None
        return await self.create_user(email, password, is_staff=True)

    async def create_client(self, name: str, scopes: frozenset[str]) -> NewSecret:
        """A new service account; its secret, to be shown once."""
        problems = client_problems(name, scopes)
        if problems:
            raise invalid_request(problems)
        secret = await self.clients.create(name, scopes, datetime.now(UTC))
        audit("client_created", user_id=secret.client_id, reason="operator")
        return secret

    async def list_clients(self) -> list[Client]:
        return await self.clients.all()

    async def rotate_client_secret(self, client_id: str, keep_old_seconds: int) -> NewSecret:
        """A new secret; the current one keeps working `keep_old_seconds` more, then stops."""
        if keep_old_seconds < 0:
            raise invalid_request({"keep_old": ["Must not be negative."]})
        keep_old = timedelta(seconds=keep_old_seconds)
        secret = await self.clients.rotate_secret(client_id, keep_old, datetime.now(UTC))
        if secret is None:
            raise AuthError(Reason.NOT_FOUND, "No client with that id.")
        audit("client_secret_rotated", user_id=client_id, reason=f"old kept {keep_old_seconds} s")
        return secret

    async def set_client_active(self, client_id: str, active: bool) -> Client:
        """Deactivating refuses the client's tokens at once; activating undoes it."""
        client = await self.clients.set_active(client_id, active)
        if client is None:
            raise AuthError(Reason.NOT_FOUND, "No client with that id.")
        audit("client_activated" if active else "client_deactivated", user_id=client_id)
        return client


def _found(user: User | None) -> User:
    if user is None:
        raise AuthError(Reason.NOT_FOUND, "No user with that email.")
    return user
