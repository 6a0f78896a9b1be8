"""What a gateway binds on ``ai.stream`` to hear one message: nothing for a message posted
through it (its start-up bindings hear its words and final state), another gateway's prefix for
one of that gateway's."""

import uuid

from contracts.names import final_key, token_key
from gateway.streams import StreamHub


def _matches(binding: str, key: str) -> bool:
    """A topic binding of one-word wildcards (``*``), as RabbitMQ matches them."""
    pattern, words = binding.split("."), key.split(".")
    return len(pattern) == len(words) and all(
        p in ("*", w) for p, w in zip(pattern, words, strict=True)
    )


def test_a_message_posted_here_needs_no_binding_of_its_own() -> None:
    hub = StreamHub("amqp://unused")
    own = hub.new_message_id()
    assert hub._ours(own)
    at_start = [f"final.{own.hex[:8]}.*", token_key(own.hex[:8])]
    assert _matches(at_start[0], final_key(own))
    assert token_key(str(own)[:8]) == at_start[1]


def test_another_gateways_message_binds_its_prefix_words_only_if_asked() -> None:
    hub = StreamHub("amqp://unused")
    other = uuid.uuid4()
    assert not hub._ours(other)
    final_only = hub._foreign_keys(other, words=False)
    assert len(final_only) == 1 and _matches(final_only[0], final_key(other))
    both = hub._foreign_keys(other, words=True)
    assert _matches(both[0], final_key(other))
    assert both[1] == token_key(str(other)[:8])
    assert not _matches(both[0], final_key(uuid.uuid4()))
