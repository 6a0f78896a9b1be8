"""What the ticket service asks other services: whose message is this, what role has a user.

By RPC, not a read model fed by events: a ticket may be filed on a message created a moment
ago, which a read model could not know of yet, and filing a ticket is rare enough that one
round trip to the message's owner (the chat service) costs nothing that matters.
"""

import uuid
from typing import Protocol

from contracts.base import Command
from contracts.chat import GetMessageRef, MessageRef
from contracts.enums import ErrorCode, Role
from contracts.rpc import Actor
from contracts.users import GetUser, UserPublic
from servicekit.errors import DependencyUnavailable, NotFound
from servicekit.rpc_client import RemoteError, RpcError

SYSTEM = Actor(id=uuid.UUID(int=2), role=Role.ADMIN)
"""The identity under which the ticket service looks users up."""


class Directory(Protocol):
    async def message(self, actor: Actor, message_id: uuid.UUID) -> MessageRef: ...

    async def role_of(self, user_id: uuid.UUID) -> Role | None: ...


class Caller(Protocol):
    """What calls commands: the bus's ``RpcClient``, or ``InProcessRpc`` in tests."""

    async def call(self, command: Command, *, timeout: float | None = None) -> bytes: ...


class RpcDirectory:
    def __init__(self, rpc: Caller) -> None:
        self._rpc = rpc

    async def message(self, actor: Actor, message_id: uuid.UUID) -> MessageRef:
        """The message, if ``actor`` may see it; NotFound otherwise."""
        command = GetMessageRef(actor=actor, message_id=message_id)
        return MessageRef.model_validate_json(await self._call(command))

    async def role_of(self, user_id: uuid.UUID) -> Role | None:
        """The role of a live user, or None if there is no such user (or it is deleted)."""
        try:
            raw = await self._call(GetUser(actor=SYSTEM, user_id=user_id))
        except NotFound:
            return None
        user = UserPublic.model_validate_json(raw)
        return None if user.deleted_at else user.role

    async def _call(self, command: Command) -> bytes:
        try:
            return await self._rpc.call(command)
        except RemoteError as exc:
            if exc.reply.code == ErrorCode.NOT_FOUND:
                raise NotFound(exc.reply.detail) from None
            raise DependencyUnavailable(f"{command.queue} failed: {exc.reply.detail}") from None
        except RpcError as exc:
            raise DependencyUnavailable(f"{command.queue} did not answer: {exc}") from None
