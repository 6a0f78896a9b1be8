"""Command and event handlers: decode, call the use case, return the reply. No rules, no SQL."""

from chat_service.service import ChatService
from contracts.chat import (
    AddMessage,
    ChatPublic,
    CreateChat,
    FailMessage,
    GetChat,
    GetMessage,
    GetMessageRef,
    ListChats,
    ListMessages,
    MessagePublic,
    MessageRef,
    RetryMessage,
    SealMessage,
)
from contracts.events import CloudEvent, UserDeleted
from contracts.names import Commands
from contracts.rpc import Page
from servicekit.consumer import Delivery, EventHandler
from servicekit.rpc_server import RpcRouter

router: RpcRouter[ChatService] = RpcRouter()


@router.command(Commands.CHAT_CREATE)
async def create_chat(command: CreateChat, chats: ChatService) -> ChatPublic:
    return await chats.create_chat(actor=command.actor, title=command.data.title)


@router.command(Commands.CHAT_GET)
async def get_chat(command: GetChat, chats: ChatService) -> ChatPublic:
    return await chats.get_chat(actor=command.actor, chat_id=command.chat_id)


@router.command(Commands.CHAT_LIST)
async def list_chats(command: ListChats, chats: ChatService) -> Page[ChatPublic]:
    return await chats.list_chats(
        actor=command.actor, user_id=command.user_id, limit=command.limit, cursor=command.cursor
    )


@router.command(Commands.MESSAGE_ADD)
async def add_message(command: AddMessage, chats: ChatService) -> MessagePublic:
    return await chats.add_message(
        actor=command.actor,
        chat_id=command.chat_id,
        content=command.content,
        idempotency_key=command.idempotency_key,
        message_id=command.message_id,
    )


@router.command(Commands.MESSAGE_GET)
async def get_message(command: GetMessage, chats: ChatService) -> MessagePublic:
    return await chats.get_message(
        actor=command.actor, message_id=command.message_id, chat_id=command.chat_id
    )


@router.command(Commands.MESSAGE_REF)
async def message_ref(command: GetMessageRef, chats: ChatService) -> MessageRef:
    return await chats.message_ref(actor=command.actor, message_id=command.message_id)


@router.command(Commands.MESSAGE_LIST)
async def list_messages(command: ListMessages, chats: ChatService) -> Page[MessagePublic]:
    return await chats.list_messages(
        actor=command.actor, chat_id=command.chat_id, limit=command.limit, cursor=command.cursor
    )


@router.command(Commands.MESSAGE_SEAL)
async def seal_message(command: SealMessage, chats: ChatService) -> MessagePublic:
    return await chats.seal_message(
        message_id=command.message_id,
        ai_response=command.ai_response,
        references=command.references,
        model=command.model,
    )


@router.command(Commands.MESSAGE_FAIL)
async def fail_message(command: FailMessage, chats: ChatService) -> MessagePublic:
    return await chats.fail_message(message_id=command.message_id, error=command.error)


@router.command(Commands.MESSAGE_RETRY)
async def retry_message(command: RetryMessage, chats: ChatService) -> MessagePublic:
    return await chats.retry_message(
        actor=command.actor, chat_id=command.chat_id, message_id=command.message_id
    )


def on_user_deleted(chats: ChatService) -> EventHandler:
    """``support.user.deleted``: a hard delete takes the user's chats and messages with it."""

    async def handle(event: CloudEvent, _: Delivery) -> None:
        deleted = UserDeleted.model_validate(event.data)
        if deleted.hard:
            await chats.forget_user(deleted.user_id)

    return handle
