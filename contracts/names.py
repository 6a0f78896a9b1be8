"""Exchange, queue and routing-key names: the addresses on the bus."""

from typing import Final

EVENTS_EXCHANGE: Final = "support.events"
"""Topic exchange of CloudEvents; routing key = event type without the ``support.`` prefix."""
DEAD_LETTER_EXCHANGE: Final = "support.dlx"
"""Direct exchange where consumers' queues dead-letter; routing key = the queue's name."""
AI_STREAM_EXCHANGE: Final = "ai.stream"
"""Transient topic exchange of answer chunks; routing key ``message.<id[:8]>.<message id>``."""


class Commands:
    """One durable RPC queue per command; the queue name is the command's name."""

    USERS_CREATE: Final = "users.create"
    USERS_GET: Final = "users.get"
    USERS_UPDATE: Final = "users.update"
    USERS_LIST: Final = "users.list"
    USERS_DELETE: Final = "users.delete"
    USERS_RESTORE: Final = "users.restore"
    AUTH_LOGIN: Final = "auth.login"
    AUTH_REFRESH: Final = "auth.refresh"
    AUTH_LOGOUT: Final = "auth.logout"
    AUTH_REVOCATIONS: Final = "auth.revocations"
    CHAT_CREATE: Final = "chat.create"
    CHAT_GET: Final = "chat.get"
    CHAT_LIST: Final = "chat.list"
    MESSAGE_ADD: Final = "chat.message.add"
    MESSAGE_GET: Final = "chat.message.get"
    MESSAGE_LIST: Final = "chat.message.list"
    MESSAGE_SEAL: Final = "chat.message.seal"
    MESSAGE_FAIL: Final = "chat.message.fail"
    MESSAGE_RETRY: Final = "chat.message.retry"
    MESSAGE_REF: Final = "chat.message.ref"
    TICKET_CREATE: Final = "tickets.create"
    TICKET_GET: Final = "tickets.get"
    TICKET_UPDATE: Final = "tickets.update"
    TICKET_LIST: Final = "tickets.list"
    TICKET_HISTORY: Final = "tickets.history"
    TICKET_OF_MESSAGE: Final = "tickets.of_message"
    TICKET_STATS: Final = "tickets.stats"
    TICKET_EXPORT_PAGE: Final = "tickets.export_page"


def stream_key(message_id: object, *, final: bool = False) -> str:
    """Routing key on ``ai.stream`` of one message's words as they are written (``token.``,
    resets included) or of its final state, sealed or failed (``final.``).

    The id's first eight hex digits are a word of their own, so a gateway that picks the ids of
    the messages posted through it with its own prefix hears all of their final states through
    one binding, ``final.<prefix>.*``, instead of binding and unbinding for each message; and a
    client that only waits for the answer costs no delivery of its words."""
    text = str(message_id)
    return f"{'final' if final else 'token'}.{text[:8]}.{text}"


def ping_queue(service: str) -> str:
    """The queue on which ``service`` answers health pings."""
    return f"{service}.ping"


SERVICES: Final = ("users", "chat", "tickets", "ai")
"""Every service that answers a ping (the gateway's readiness check asks them all)."""


def routing_key(event_type: str) -> str:
    """Routing key of an event type: ``support.ticket.created`` -> ``ticket.created``."""
    return event_type.removeprefix("support.")
