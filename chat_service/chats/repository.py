"""Where chats are kept: what the use cases need (``ChatStore``) and its SQL.

Reads are single statements on the engine's own connections (no transaction); changes run in
the unit of work's session, inside ``async with uow:``.
"""

import uuid
from typing import Protocol

from sqlalchemy import bindparam, delete, insert, select

from chat_service.chats.models import Chat
from contracts.chat import ChatPublic
from servicekit.db import Sql
from servicekit.pagination import Key, keyset_past
from servicekit.uow import SqlUnitOfWork


class ChatStore(Protocol):
    async def add(self, *, user_id: uuid.UUID, title: str) -> ChatPublic:
        """A new chat of ``user_id``, as it is once written."""
        ...

    async def get(self, chat_id: uuid.UUID) -> ChatPublic | None: ...

    async def page(
        self, *, user_id: uuid.UUID | None, after: Key | None, limit: int
    ) -> list[ChatPublic]:
        """Newest first (of ``user_id``, or everyone's if None), ``limit + 1`` rows."""
        ...

    async def delete_for_user(self, user_id: uuid.UUID) -> int:
        """Delete the chats of ``user_id`` and, by cascade, their messages; how many chats."""
        ...


CHAT_COLUMNS = tuple(Chat.__table__.c[name] for name in ChatPublic.model_fields)
_GET = Sql.of(select(*CHAT_COLUMNS).where(Chat.id == bindparam("chat_id")))


class ChatRepository:
    """``ChatStore`` on Postgres."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, *, user_id: uuid.UUID, title: str) -> ChatPublic:
        stmt = insert(Chat).values(user_id=user_id, title=title).returning(*CHAT_COLUMNS)
        row = (await self._uow.session.execute(stmt)).mappings().one()
        return ChatPublic.model_validate(dict(row))

    async def get(self, chat_id: uuid.UUID) -> ChatPublic | None:
        return await self._uow.queries.one_as(ChatPublic, _GET, chat_id=chat_id)

    async def page(
        self, *, user_id: uuid.UUID | None, after: Key | None, limit: int
    ) -> list[ChatPublic]:
        stmt = (
            select(*CHAT_COLUMNS).order_by(Chat.created_at.desc(), Chat.id.desc()).limit(limit + 1)
        )
        if user_id is not None:
            stmt = stmt.where(Chat.user_id == user_id)
        if after is not None:
            stmt = stmt.where(keyset_past(Chat.created_at, Chat.id, after, newest_first=True))
        return await self._uow.queries.all_as(ChatPublic, stmt)

    async def delete_for_user(self, user_id: uuid.UUID) -> int:
        result = await self._uow.session.execute(delete(Chat).where(Chat.user_id == user_id))
        return int(result.rowcount)  # type: ignore[attr-defined]
