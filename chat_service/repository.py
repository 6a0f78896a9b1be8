"""Queries of the ``chat`` schema. Returns rows and models; raises nothing HTTP-ish."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat_service.models import Chat, Message
from contracts.enums import MessageStatus
from servicekit.pagination import Key, keyset_past


class ChatRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_chat(self, *, user_id: uuid.UUID, title: str) -> Chat:
        chat = Chat(user_id=user_id, title=title)
        self.session.add(chat)
        await self.session.flush()
        await self.session.refresh(chat)
        return chat

    async def get_chat(self, chat_id: uuid.UUID) -> Chat | None:
        return await self.session.get(Chat, chat_id)

    async def chats_page(
        self, *, user_id: uuid.UUID | None, after: Key | None, limit: int
    ) -> list[Chat]:
        """Newest first, ``limit + 1`` rows."""
        stmt = select(Chat).order_by(Chat.created_at.desc(), Chat.id.desc()).limit(limit + 1)
        if user_id is not None:
            stmt = stmt.where(Chat.user_id == user_id)
        if after is not None:
            stmt = stmt.where(keyset_past(Chat.created_at, Chat.id, after, newest_first=True))
        return list((await self.session.execute(stmt)).scalars())

    async def delete_chats_of(self, user_id: uuid.UUID) -> int:
        result = await self.session.execute(delete(Chat).where(Chat.user_id == user_id))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def get_message(self, message_id: uuid.UUID) -> tuple[Message, Chat] | None:
        stmt = (
            select(Message, Chat)
            .join(Chat, Chat.id == Message.chat_id)
            .where(Message.id == message_id)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return (row[0], row[1]) if row else None

    async def message_by_key(self, chat_id: uuid.UUID, key: str) -> Message | None:
        stmt = select(Message).where(Message.chat_id == chat_id, Message.idempotency_key == key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_message(self, *, chat_id: uuid.UUID, user_input: str, key: str | None) -> Message:
        message = Message(chat_id=chat_id, user_input=user_input, idempotency_key=key)
        self.session.add(message)
        await self.session.flush()
        await self.session.refresh(message)
        return message

    async def messages_page(
        self, chat_id: uuid.UUID, *, after: Key | None, limit: int
    ) -> list[Message]:
        """Oldest first, ``limit + 1`` rows."""
        stmt = (
            select(Message)
            .where(Message.chat_id == chat_id)
            .order_by(Message.created_at, Message.id)
            .limit(limit + 1)
        )
        if after is not None:
            stmt = stmt.where(
                keyset_past(Message.created_at, Message.id, after, newest_first=False)
            )
        return list((await self.session.execute(stmt)).scalars())

    async def recent_turns(self, chat_id: uuid.UUID, before: datetime, limit: int) -> list[Message]:
        """The chat's last answered messages before ``before``, oldest first."""
        stmt = (
            select(Message)
            .where(
                Message.chat_id == chat_id,
                Message.status == MessageStatus.SEALED,
                Message.created_at < before,
            )
            .order_by(Message.created_at.desc())
            .limit(limit)
        )
        return list(reversed((await self.session.execute(stmt)).scalars().all()))

    async def finish_pending(self, message_id: uuid.UUID, **values: Any) -> Message | None:
        """Move a pending message to its final state; None if it was not pending (idempotent)."""
        stmt = (
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.PENDING)
            .values(**values)
            .returning(Message)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def reopen_failed(self, message_id: uuid.UUID) -> Message | None:
        stmt = (
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.FAILED)
            .values(status=MessageStatus.PENDING, error=None, emissions=1, emitted_at=func.now())
            .returning(Message)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def claim_stale_pending(self, older_than_seconds: float, limit: int) -> list[Message]:
        """Pending messages not (re-)emitted for a while, locked for this sweeper alone."""
        stmt = (
            select(Message)
            .where(
                Message.status == MessageStatus.PENDING,
                Message.emitted_at
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_seconds),
            )
            .order_by(Message.emitted_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars())
