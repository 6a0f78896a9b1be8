"""Use cases on chats: open one, read one, list them, forget a hard-deleted user's."""

import uuid

from chat_service.chats import policy
from chat_service.uow import ChatUnitOfWork
from contracts.chat import ChatCreated, ChatPublic, CreateChat, GetChat, ListChats
from contracts.rpc import Actor, Page
from contracts.users import UserDeleted
from servicekit.errors import NotFound
from servicekit.pagination import decode_cursor, page_of
from servicekit.usecases import UseCases

use_cases: UseCases[ChatUnitOfWork] = UseCases()
DEFAULT_TITLE = "New chat"


@use_cases.handles
async def create_chat(cmd: CreateChat, uow: ChatUnitOfWork) -> ChatPublic:
    """Open a chat owned by the caller."""
    async with uow:
        chat = await uow.chats.add(user_id=cmd.actor.id, title=cmd.data.title or DEFAULT_TITLE)
        uow.events.add(ChatCreated(**chat.model_dump()))
        await uow.commit()
    return chat


async def readable_chat(actor: Actor, chat_id: uuid.UUID, uow: ChatUnitOfWork) -> ChatPublic:
    """The chat, if it exists and ``actor`` may see it (404 otherwise)."""
    chat = await uow.chats.get(chat_id)
    if chat is None:
        raise NotFound("chat not found")
    policy.check_read(actor, chat.user_id)
    return chat


@use_cases.handles
async def get_chat(cmd: GetChat, uow: ChatUnitOfWork) -> ChatPublic:
    return await readable_chat(cmd.actor, cmd.chat_id, uow)


@use_cases.handles
async def list_chats(cmd: ListChats, uow: ChatUnitOfWork) -> Page[ChatPublic]:
    """Chats newest first: the caller's own, or for staff any user's."""
    owner = policy.listed_owner(cmd.actor, cmd.user_id)
    after = decode_cursor(cmd.cursor) if cmd.cursor else None
    rows = await uow.chats.page(user_id=owner, after=after, limit=cmd.limit)
    return page_of(rows, cmd.limit)


@use_cases.reacts_to(UserDeleted)
async def forget_user(event: UserDeleted, uow: ChatUnitOfWork) -> None:
    """A hard delete takes the user's chats and, by cascade, their messages along. Idempotent."""
    if event.hard:
        async with uow:
            await uow.chats.delete_for_user(event.user_id)
            await uow.commit()
