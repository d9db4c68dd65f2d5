"""The admin API (CreateUser, UpdateUser, DeleteUser), part of AuthCore: each call has been
authorized for `users:write` by the door, from what the proto declares."""

from __future__ import annotations

from authgate.core.access import Caller
from authgate.core.audit import audit
from authgate.core.errors import AuthError, Reason, invalid_request
from authgate.core.users import USER_ID_SHAPE, User, new_account_problems
from authgate.store.users import UserStore

# AIP-134: the fields an UpdateUser mask may name.
UPDATABLE = frozenset({"is_active", "is_staff"})


def _not_found() -> AuthError:
    return AuthError(Reason.NOT_FOUND, "No user with that id.")


class UserAdministration:
    store: UserStore

    async def create_user(
        self, caller: Caller, email: str, password: str, is_staff: bool, client: str = ""
    ) -> User:
        problems = new_account_problems(email, password)
        if problems:
            raise invalid_request(problems)
        user = await self.store.create_user(email, password, is_staff=is_staff)
        audit("user_created", user_id=user.id, client=client, reason=f"by {caller.subject}")
        return user

    async def update_user(
        self,
        caller: Caller,
        user_id: str,
        mask: list[str],
        *,
        is_active: bool,
        is_staff: bool,
        client: str = "",
    ) -> User:
        """Set the fields `mask` names; deactivation and losing staff take effect at once."""
        unknown = sorted(set(mask) - UPDATABLE)
        if not mask or unknown:
            names = ", ".join(sorted(UPDATABLE))
            raise invalid_request({"update_mask": [f"Name one or more of {names}."]})
        if USER_ID_SHAPE.fullmatch(user_id) is None:
            raise _not_found()
        user = await self.store.update_flags(
            user_id,
            is_active=is_active if "is_active" in mask else None,
            is_staff=is_staff if "is_staff" in mask else None,
        )
        if user is None:
            raise _not_found()
        changed = ", ".join(f"{name}={getattr(user, name)}" for name in sorted(set(mask)))
        audit(
            "user_updated", user_id=user.id, client=client, reason=f"{changed} by {caller.subject}"
        )
        return user

    async def delete_user(self, caller: Caller, user_id: str, client: str = "") -> None:
        """Delete a user and their refresh tokens; their tokens stop working at once."""
        if USER_ID_SHAPE.fullmatch(user_id) is None or not await self.store.delete(user_id):
            raise _not_found()
        audit("user_deleted", user_id=user_id, client=client, reason=f"by {caller.subject}")
