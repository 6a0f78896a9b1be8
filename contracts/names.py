"""Exchange, queue and routing-key names: the addresses on the bus."""

from typing import Final

EVENTS_EXCHANGE: Final = "support.events"
"""Topic exchange of CloudEvents; routing key = event type without the ``support.`` prefix."""
DEAD_LETTER_EXCHANGE: Final = "support.dlx"
"""Direct exchange where consumers' queues dead-letter; routing key = the queue's name."""
AI_STREAM_EXCHANGE: Final = "ai.stream"
"""Transient topic exchange of answers being written: their words (``token.<prefix>``), their
final states (``final.<prefix>.<message id>``), and gateways' requests for the words written
so far (``replay.<prefix>.<message id>``)."""


def message_prefix(message_id: object) -> str:
    """The first eight hex digits of a message id: the prefix of the gateway that chose it.

    A gateway gives the messages posted through it ids with a prefix of its own, so it hears
    all of their words and final states through two bindings made at start (``token_key``,
    ``final.<prefix>.*``) rather than binding and unbinding for each message."""
    return str(message_id)[:8]


def final_key(message_id: object) -> str:
    """Routing key on ``ai.stream`` of one message's final state, sealed or failed."""
    text = str(message_id)
    return f"final.{text[:8]}.{text}"


def token_key(prefix: str) -> str:
    """Routing key on ``ai.stream`` of the words written for the messages of one gateway
    prefix: batches of deltas of many answers at once (``contracts.chat.AnswerDeltas``)."""
    return f"token.{prefix}"


def replay_key(message_id: object) -> str:
    """Routing key on ``ai.stream`` of a request for what is written so far of one message's
    answer: the worker writing it answers with a snapshot; every worker hears them all."""
    text = str(message_id)
    return f"replay.{text[:8]}.{text}"


def ping_queue(service: str) -> str:
    """The queue on which ``service`` answers health pings."""
    return f"{service}.ping"


SERVICES: Final = ("users", "chat", "tickets", "ai")
"""Every service that answers a ping (the gateway's readiness check asks them all)."""


def routing_key(event_type: str) -> str:
    """Routing key of an event type: ``support.ticket.created`` -> ``ticket.created``."""
    return event_type.removeprefix("support.")
