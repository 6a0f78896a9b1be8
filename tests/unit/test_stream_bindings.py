"""What a gateway binds on ``ai.stream`` to hear one message: nothing for the final state of a
message posted through it (its start-up binding hears those), its words only while asked, and
another gateway's messages one binding each."""

import uuid

from contracts.names import stream_key
from gateway.streams import StreamHub


def _matches(binding: str, key: str) -> bool:
    """A topic binding of one-word wildcards (``*``), as RabbitMQ matches them."""
    pattern, words = binding.split("."), key.split(".")
    return len(pattern) == len(words) and all(
        p in ("*", w) for p, w in zip(pattern, words, strict=True)
    )


def test_a_message_posted_here_needs_a_binding_only_for_its_words() -> None:
    hub = StreamHub("amqp://unused")
    own = hub.new_message_id()
    assert hub._binding(own, tokens=False) is None
    at_start = f"final.{own.hex[:8]}.*"
    assert _matches(at_start, stream_key(own, final=True))
    words = hub._binding(own, tokens=True)
    assert words is not None
    assert _matches(words, stream_key(own))
    assert not _matches(words, stream_key(own, final=True))  # the start-up binding has those


def test_another_gateways_message_is_bound_for_what_is_watched() -> None:
    hub = StreamHub("amqp://unused")
    other = uuid.uuid4()
    final_only = hub._binding(other, tokens=False)
    assert final_only is not None
    assert _matches(final_only, stream_key(other, final=True))
    assert not _matches(final_only, stream_key(other))
    both = hub._binding(other, tokens=True)
    assert both is not None
    assert _matches(both, stream_key(other, final=True))
    assert _matches(both, stream_key(other))
    assert not _matches(both, stream_key(uuid.uuid4()))
