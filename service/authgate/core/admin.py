"""Operator actions (the `authgate users` commands and the bootstrap user); no door serves them."""

from __future__ import annotations

from datetime import UTC, datetime

from authgate.core.audit import audit
from authgate.core.errors import AuthError, Reason, invalid_request
from authgate.core.users import User, new_account_problems
from authgate.store.refresh_tokens import RefreshTokenRegistry
from authgate.store.users import UserStore


class Administration:
    def __init__(self, store: UserStore, registry: RefreshTokenRegistry) -> None:
        self.store = store
        self.registry = registry

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


def _found(user: User | None) -> User:
    if user is None:
        raise AuthError(Reason.NOT_FOUND, "No user with that email.")
    return user
