"""Exchange, queue and routing-key names: the addresses on the bus."""

from typing import Final

EVENTS_EXCHANGE: Final = "support.events"
"""Topic exchange of CloudEvents; routing key = event type without the ``support.`` prefix."""
DEAD_LETTER_EXCHANGE: Final = "support.dlx"
"""Direct exchange where consumers' queues dead-letter; routing key = the queue's name."""
AI_STREAM_EXCHANGE: Final = "ai.stream"
"""Transient topic exchange of answer chunks; routing key ``message.<id[:8]>.<message id>``."""


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
