"""``servicekit.heap.settle()``: startup's heap frozen, the young collected less often, and
cycles still freed."""

import gc
import weakref
from collections.abc import Iterator

import pytest

from servicekit import heap


@pytest.fixture
def settled() -> Iterator[None]:
    before = gc.get_threshold()
    heap.settle()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_what_startup_built_is_frozen_and_the_young_generation_grows(settled: None) -> None:
    assert gc.get_freeze_count() > 1000
    assert gc.get_threshold()[0] == heap.YOUNG


def test_a_cycle_made_later_is_still_freed_without_an_explicit_collection(settled: None) -> None:
    first, second = Node(), Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    assert gone() is not None  # a cycle: reference counting alone never frees it
    survivors: list[list[int]] = [[] for _ in range(3 * heap.YOUNG)]  # noqa: F841 (allocations drive the collector)
    assert gone() is None
