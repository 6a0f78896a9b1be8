"""Ending a user's sessions: what deleting a user, or changing their role or password, does."""

import uuid

from contracts.users import SessionsRevoked
from users_service.uow import UsersUnitOfWork


async def end_sessions(uow: UsersUnitOfWork, user_id: uuid.UUID) -> None:
    """Void the user's access tokens issued until now, everywhere (gateways hear the event).
    Inside ``async with uow:``."""
    revoked_at = await uow.revocations.revoke(user_id)
    uow.events.add(SessionsRevoked(user_id=user_id, revoked_at=revoked_at))
