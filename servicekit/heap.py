"""The garbage collector, set for a long-running service once its startup is done.

CPython collects its youngest generation every 700 new container objects. A request through
our stack allocates thousands (pydantic models, AMQP frames, asyncpg records, ASGI scopes),
nearly all freed by reference counting as soon as the request is done, so at 700 most young
collections find nothing to free and still walk every young object alive at that moment. A
full collection also walks the whole heap the service built at startup (modules, classes, the
ORM's mappers, the worker's knowledge base), though none of it will ever become garbage.

``settle()`` moves what startup built out of the collector's sight (``gc.freeze()``) and lets
the young generation grow to ``YOUNG`` objects before a collection. Cycles are still found,
later and in fewer passes.
"""

import gc

YOUNG = 10_000
"""Container objects allocated, less those freed, before the youngest generation is collected
(CPython's default: 700)."""


def settle() -> None:
    """Call once, when startup is done: freeze what exists, collect the young less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
