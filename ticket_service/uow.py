"""The unit of work of a ticket service request: its tickets, and the directory of the
services it asks (whose message is this, what role has a user)."""

from servicekit.uow import Database, SqlUnitOfWork, UnitOfWork
from ticket_service.directory import Directory
from ticket_service.tickets.repository import TicketRepository, TicketStore


class TicketsUnitOfWork(UnitOfWork):
    """What the ticket use cases work with (on Postgres, or faked in unit tests)."""

    tickets: TicketStore
    directory: Directory


class SqlTicketsUnitOfWork(SqlUnitOfWork, TicketsUnitOfWork):
    def __init__(self, database: Database, directory: Directory) -> None:
        super().__init__(database)
        self.tickets = TicketRepository(self)
        self.directory = directory
