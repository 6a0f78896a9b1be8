"""The unit of work of a chat service request: its chats and messages, the limits the use
cases go by, and where final states are announced."""

from chat_service.chats.repository import ChatRepository, ChatStore
from chat_service.messages.finals import FinalStates
from chat_service.messages.repository import MessageRepository, MessageStore
from chat_service.settings import ChatLimits
from servicekit.uow import Database, SqlUnitOfWork, UnitOfWork


class ChatUnitOfWork(UnitOfWork):
    """What the chat use cases work with (on Postgres, or faked in unit tests)."""

    chats: ChatStore
    messages: MessageStore
    limits: ChatLimits
    finals: FinalStates
    """Announces a message's final state once it is committed."""


class SqlChatUnitOfWork(SqlUnitOfWork, ChatUnitOfWork):
    def __init__(self, database: Database, *, limits: ChatLimits, finals: FinalStates) -> None:
        super().__init__(database)
        self.chats = ChatRepository(self)
        self.messages = MessageRepository(self)
        self.limits = limits
        self.finals = finals
