"""The ticket service's unit of work in memory: tickets and history in dicts, a directory of
messages and users the test fills in."""

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.base import Event
from contracts.chat import MessageRef
from contracts.enums import IssueType, MessageStatus, Role, TicketStatus
from contracts.rpc import Actor
from contracts.tickets import Change, HistoryEntry, TicketFilter, TicketPublic
from servicekit.db import NOW
from servicekit.errors import NotFound
from servicekit.pagination import Key
from servicekit.testing import FakeUnitOfWork
from ticket_service.tickets.repository import Counts
from ticket_service.uow import TicketsUnitOfWork


class Clock:
    """Time that moves a millisecond every time it is read: every row has its own moment."""

    def __init__(self) -> None:
        self._ticks = itertools.count()
        self._start = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._start + timedelta(milliseconds=next(self._ticks))


@dataclass
class TicketsDb:
    """What every fake unit of work of one test shares: the tables and the published events."""

    clock: Clock = field(default_factory=Clock)
    tickets: dict[uuid.UUID, TicketPublic] = field(default_factory=dict)
    history: list[tuple[uuid.UUID, HistoryEntry]] = field(default_factory=list)
    published: list[Event] = field(default_factory=list)
    messages: dict[uuid.UUID, MessageRef] = field(default_factory=dict)
    roles: dict[uuid.UUID, Role] = field(default_factory=dict)

    def message_of(self, owner: uuid.UUID) -> MessageRef:
        """A sealed message in a chat of ``owner``'s, known to the directory."""
        ref = MessageRef(
            message_id=uuid.uuid4(),
            chat_id=uuid.uuid4(),
            user_id=owner,
            status=MessageStatus.SEALED,
        )
        self.messages[ref.message_id] = ref
        return ref


class FakeTicketStore:
    def __init__(self, db: TicketsDb) -> None:
        self._db = db

    async def get(self, ticket_id: uuid.UUID) -> TicketPublic | None:
        return self._db.tickets.get(ticket_id)

    async def for_message(self, message_id: uuid.UUID) -> TicketPublic | None:
        return next((t for t in self._db.tickets.values() if t.message_id == message_id), None)

    def _matching(self, flt: TicketFilter) -> list[TicketPublic]:
        wanted = {k: v for k, v in flt.model_dump().items() if v is not None}
        return [
            t
            for t in self._db.tickets.values()
            if all(getattr(t, name) == value for name, value in wanted.items())
        ]

    async def page(self, flt: TicketFilter, *, after: Key | None, limit: int) -> list[TicketPublic]:
        rows = sorted(self._matching(flt), key=lambda t: (t.created_at, t.id), reverse=True)
        if after is not None:
            rows = [t for t in rows if (t.created_at, t.id) < after]
        return rows[: limit + 1]

    async def count(self, flt: TicketFilter) -> int:
        return len(self._matching(flt))

    async def counts(self) -> Counts:
        tickets = list(self._db.tickets.values())
        rows: Counts = []
        for status in {t.status for t in tickets}:
            rows.append((status.value, None, sum(t.status == status for t in tickets)))
        for kind in {t.issue_type for t in tickets}:
            rows.append((None, kind.value, sum(t.issue_type == kind for t in tickets)))
        rows.append((None, None, len(tickets)))
        return rows

    async def history(self, ticket_id: uuid.UUID) -> list[HistoryEntry]:
        return [entry for owner, entry in self._db.history if owner == ticket_id]

    async def add_unless_filed(
        self,
        *,
        message_id: uuid.UUID,
        chat_id: uuid.UUID,
        user_id: uuid.UUID,
        reporter_id: uuid.UUID,
        issue_type: IssueType,
        description: str | None,
    ) -> TicketPublic | None:
        if await self.for_message(message_id) is not None:
            return None
        now = self._db.clock.now()
        ticket = TicketPublic(
            id=uuid.uuid4(),
            message_id=message_id,
            chat_id=chat_id,
            user_id=user_id,
            reporter_id=reporter_id,
            issue_type=issue_type,
            status=TicketStatus.OPEN,
            priority="normal",
            assignee_id=None,
            description=description,
            created_at=now,
            updated_at=now,
            resolved_at=None,
        )
        self._db.tickets[ticket.id] = ticket
        return ticket

    async def id_for_message(self, message_id: uuid.UUID) -> uuid.UUID | None:
        ticket = await self.for_message(message_id)
        return None if ticket is None else ticket.id

    async def lock(self, ticket_id: uuid.UUID) -> TicketPublic | None:
        return self._db.tickets.get(ticket_id)

    async def change(self, ticket_id: uuid.UUID, values: dict[str, Any]) -> TicketPublic:
        now = self._db.clock.now()
        update = {name: now if value is NOW else value for name, value in values.items()}
        changed = self._db.tickets[ticket_id].model_copy(update={**update, "updated_at": now})
        self._db.tickets[ticket_id] = changed
        return changed

    async def record(
        self, ticket_id: uuid.UUID, actor_id: uuid.UUID, changes: list[Change]
    ) -> None:
        at = self._db.clock.now()
        for change in changes:
            entry = HistoryEntry(
                at=at,
                actor_id=actor_id,
                field=change.field,
                from_value=change.from_value,
                to_value=change.to_value,
            )
            self._db.history.append((ticket_id, entry))

    async def delete_for_user(self, user_id: uuid.UUID) -> int:
        doomed = [t.id for t in self._db.tickets.values() if t.user_id == user_id]
        for ticket_id in doomed:
            del self._db.tickets[ticket_id]
        return len(doomed)


class FakeDirectory:
    def __init__(self, db: TicketsDb) -> None:
        self._db = db

    async def message(self, actor: Actor, message_id: uuid.UUID) -> MessageRef:
        ref = self._db.messages.get(message_id)
        if ref is None or (actor.id != ref.user_id and actor.role == Role.CUSTOMER):
            raise NotFound("message not found")
        return ref

    async def role_of(self, user_id: uuid.UUID) -> Role | None:
        return self._db.roles.get(user_id)


class FakeTicketsUnitOfWork(FakeUnitOfWork, TicketsUnitOfWork):
    def __init__(self, db: TicketsDb) -> None:
        super().__init__(db.published)
        self.tickets = FakeTicketStore(db)
        self.directory = FakeDirectory(db)
