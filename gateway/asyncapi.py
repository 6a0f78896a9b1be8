"""The AsyncAPI document of ``support.events``: every event type, its routing key and payload.

FastStream generates it from one documented publisher per event type. We then add what its
generator leaves out (each message's name, description and content type) and put every map in
a fixed order, so the document is byte-for-byte the same in every process.
"""

from functools import cache
from typing import Any, Final

import orjson
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field, create_model

from contracts.events import CONTENT_TYPE, EVENT_CATALOG, CloudEvent
from contracts.names import EVENTS_EXCHANGE, routing_key

ASYNCAPI_VERSION: Final = "3.0.0"
TITLE: Final = "Support Desk events"
VERSION: Final = "0.1.0"
DESCRIPTION: Final = (
    "Every change the Support Desk services make is published as a CloudEvents 1.0 JSON "
    f"envelope on the durable topic exchange `{EVENTS_EXCHANGE}`, with the event type without "
    "its `support.` prefix as the routing key (`support.ticket.created` -> `ticket.created`). "
    "Bind your own durable queue with the keys you need (`ticket.#` for every ticket event).\n\n"
    "Delivery is at least once: an event can arrive more than once, so consumers must dedupe "
    "by the CloudEvent `id` (also the AMQP `message_id`). Consumers ignore fields they do not "
    "know: producers only ever add fields."
)
# The address of a local RabbitMQ as `make run` uses it; other environments give their own.
SERVER_URL: Final = "amqp://127.0.0.1:5672/"
SERVER_DESCRIPTION: Final = "RabbitMQ. This is the local default; use your environment's AMQP_URL."


def envelope_name(event_type: str) -> str:
    """Schema name of an event's envelope: ``support.ticket.created`` -> ``TicketCreatedEvent``."""
    words = routing_key(event_type).replace(".", "_").split("_")
    return "".join(word.capitalize() for word in words) + "Event"


def message_title(event_type: str) -> str:
    """Human title of an event: ``support.ticket.status_changed`` -> ``Ticket status changed``."""
    return routing_key(event_type).replace(".", " ").replace("_", " ").capitalize()


def envelope(event_type: str, data_model: type[BaseModel], description: str) -> type[CloudEvent]:
    """The CloudEvent envelope of ``event_type``, its ``data`` typed as ``data_model``."""
    return create_model(
        envelope_name(event_type),
        __base__=CloudEvent,
        __doc__=f"The CloudEvents 1.0 envelope of `{event_type}`: {description}",
        type=(str, Field(json_schema_extra={"const": event_type})),
        data=(data_model, ...),
    )


def _broker() -> RabbitBroker:
    """A broker that is never connected: it only carries one documented publisher per event."""
    broker = RabbitBroker(SERVER_URL, specification_url=SERVER_URL, description=SERVER_DESCRIPTION)
    exchange = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
    for event_type, (model, description) in EVENT_CATALOG.items():
        # The options mirror how servicekit.outbox publishes: persistent messages with
        # publisher confirms, not mandatory (an event nobody has bound to yet is not an error).
        broker.publisher(
            exchange=exchange,
            routing_key=routing_key(event_type),
            title=event_type,
            description=description,
            schema=envelope(event_type, model, description),
            persist=True,
            mandatory=False,
            content_type=CONTENT_TYPE,
            message_type=event_type,
        )
    return broker


def _in_catalog_order(items: dict[str, Any], key: str) -> dict[str, Any]:
    """``items``, keyed by ``key`` formatted with each event type, in the catalog's order."""
    keys = [key.format(event_type) for event_type in EVENT_CATALOG]
    if set(keys) != set(items):  # a FastStream upgrade changed its naming: fail, don't guess
        raise RuntimeError(f"AsyncAPI entries {sorted(items)} do not match the catalog")
    return {name: items[name] for name in keys}


def _build() -> dict[str, Any]:
    """Generate the document with FastStream, then complete and order it."""
    specification = AsyncAPI(
        _broker(),
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        schema_version=ASYNCAPI_VERSION,
    ).to_specification()
    generated: dict[str, Any] = specification.to_jsonable()
    components = generated["components"]
    messages = _in_catalog_order(components["messages"], "{}:Message")
    for event_type, (_, description) in EVENT_CATALOG.items():
        key = f"{event_type}:Message"
        # Rebuilt rather than patched: FastStream also documents a correlation id, which events
        # do not carry (their AMQP message_id is the event id).
        messages[key] = {
            "name": event_type,
            "title": message_title(event_type),
            "description": description,
            "contentType": CONTENT_TYPE,
            "payload": messages[key]["payload"],
        }
    # FastStream keeps publishers in a WeakSet, so its order changes from process to process.
    return {
        "asyncapi": generated["asyncapi"],
        "info": generated["info"],
        "defaultContentType": CONTENT_TYPE,
        "servers": generated["servers"],
        "channels": _in_catalog_order(generated["channels"], "{}"),
        "operations": _in_catalog_order(generated["operations"], "{}"),
        "components": {
            "messages": messages,
            "schemas": dict(sorted(components["schemas"].items())),
        },
    }


@cache
def asyncapi_json() -> bytes:
    """The document as JSON bytes, generated once per process."""
    return orjson.dumps(_build())


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event on ``support.events`` (a fresh copy)."""
    # Decoding the cached bytes is cheap and gives each caller its own dict to mutate.
    document: dict[str, Any] = orjson.loads(asyncapi_json())
    return document
