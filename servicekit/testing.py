"""The fast test seam: use cases run in process, with fake units of work, in milliseconds.

``InProcessRpc`` is the bus without a broker (what FastStream's ``TestRabbitBroker`` is for a
FastStream app): a command is encoded, decoded and dispatched exactly as ``RpcServer`` does it,
domain errors come back as ``RemoteError`` with the typed reply, so a test sees what a caller
on the bus would. ``FakeUnitOfWork`` keeps what would be committed in memory.
"""

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from contracts.base import Command, Event
from contracts.rpc import REPLY_ERROR, ErrorReply
from servicekit.rpc_client import RemoteError, RpcTimeout
from servicekit.rpc_server import dispatch
from servicekit.uow import UnitOfWork
from servicekit.usecases import Route, UseCases


class FakeUnitOfWork(UnitOfWork):
    """A unit of work whose commit hands its events to ``published`` (a fake outbox shared by
    every unit of work of a test) and counts itself."""

    def __init__(self, published: list[Event]) -> None:
        super().__init__()
        self.published = published
        self.commits = 0

    async def commit(self) -> None:
        self.published.extend(self.events.take())
        self.commits += 1


class InProcessRpc:
    """Serves the use cases of any number of services to ``call(command)``, in this process."""

    def __init__(self) -> None:
        self._routes: dict[str, tuple[Route, Callable[[], Any]]] = {}
        self.calls: list[str] = []
        """The queues called, in order."""

    def serve(self, use_cases: UseCases[Any], units_of_work: Callable[[], Any]) -> None:
        for queue, route in use_cases.routes.items():
            self._routes[queue] = (route, units_of_work)

    async def call(self, command: Command, *, timeout: float | None = None) -> bytes:
        return await self.request(type(command).queue, command, timeout=timeout)

    async def request(
        self, queue: str, payload: BaseModel, *, timeout: float | None = None
    ) -> bytes:
        self.calls.append(queue)
        if queue not in self._routes:
            raise RpcTimeout(f"{queue} did not answer: nothing serves it in this test")
        route, units_of_work = self._routes[queue]
        reply_type, body = await dispatch(route, units_of_work, payload.model_dump_json().encode())
        if reply_type == REPLY_ERROR:
            raise RemoteError(ErrorReply.model_validate_json(body))
        return body
