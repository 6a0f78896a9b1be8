"""Use cases: one async function per command, registered by the command's type.

A use case is ``async def create_ticket(cmd: CreateTicket, uow: TicketsUnitOfWork) ->
TicketPublic``: the command (whose class names its queue, ``CreateTicket.queue``) and the unit of
work of a single request. A service's feature folders each keep a ``UseCases`` registry; the
service's bootstrap joins them and serves them on the bus (``RpcServer``), and unit tests call
them in process (``servicekit.testing.InProcessRpc``) with a fake unit of work.

Events a service reacts to are registered the same way, by the event's data model:
``@use_cases.reacts_to(UserDeleted)``.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_type_hints

from pydantic import BaseModel

from contracts.base import Command, Event

UowT = TypeVar("UowT")
Handler = Callable[[Any, Any], Awaitable[BaseModel | bytes | None]]
Reaction = Callable[[Any, Any], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class Route:
    """A command, the queue it comes on (the command's own, but for pings), and the use case
    that answers it."""

    queue: str
    command: type[BaseModel]
    handler: Handler


@dataclass(frozen=True)
class Subscription:
    """An event type and the use case that reacts to it."""

    event: type[Event]
    handler: Reaction


def _first_parameter_type(function: Callable[..., Any]) -> Any:
    hints = get_type_hints(function)
    hints.pop("return", None)
    return next(iter(hints.values()))


class UseCases(Generic[UowT]):
    """The use cases of one feature (or, joined, of one service), by command type."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.subscriptions: dict[str, Subscription] = {}

    def handles(self, use_case: F) -> F:
        """Register ``use_case`` for the command type its first parameter is annotated with."""
        command = _first_parameter_type(use_case)
        if not (isinstance(command, type) and issubclass(command, Command)):
            raise TypeError(f"{use_case.__name__}: its first parameter must be a Command")
        if command.queue in self.routes:
            raise ValueError(f"{command.__name__} already has a use case")
        self.routes[command.queue] = Route(command.queue, command, use_case)
        return use_case

    def reacts_to(self, event: type[Event]) -> Callable[[F], F]:
        """Register a use case that reacts to events whose data is ``event``."""

        def register(use_case: F) -> F:
            self.subscriptions[event.event_type] = Subscription(event, use_case)
            return use_case

        return register

    @classmethod
    def joined(cls, parts: Iterable["UseCases[UowT]"]) -> "UseCases[UowT]":
        """The use cases of several features together; a command handled twice is an error."""
        whole: UseCases[UowT] = cls()
        for part in parts:
            for queue, route in part.routes.items():
                if queue in whole.routes:
                    raise ValueError(f"{route.command.__name__} has two use cases")
                whole.routes[queue] = route
            whole.subscriptions.update(part.subscriptions)
        return whole

    def serve(self, queue: str, command: type[BaseModel], use_case: Handler) -> None:
        """Answer ``command`` on ``queue`` (a health ping, whose queue names its service)."""
        self.routes[queue] = Route(queue, command, use_case)
