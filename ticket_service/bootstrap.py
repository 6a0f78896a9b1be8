"""Wiring of the ticket service: its use cases, served on the bus in units of work on
Postgres, and the directory of the other services it asks."""

from servicekit.rpc_client import RpcClient
from servicekit.service import ServiceRuntime
from servicekit.usecases import UseCases
from ticket_service.directory import RpcDirectory
from ticket_service.schema import outbox
from ticket_service.settings import TicketSettings
from ticket_service.tickets.use_cases import use_cases as tickets
from ticket_service.uow import SqlTicketsUnitOfWork, TicketsUnitOfWork

USE_CASES: UseCases[TicketsUnitOfWork] = UseCases.joined([tickets])


async def main() -> None:
    settings = TicketSettings()
    async with ServiceRuntime("tickets", settings, outbox=outbox) as runtime:
        rpc = RpcClient(
            settings.amqp_url, timeout=settings.rpc_timeout, name="tickets", spans=runtime.spans
        )
        await rpc.start()
        directory = RpcDirectory(rpc)

        def unit_of_work() -> SqlTicketsUnitOfWork:
            return SqlTicketsUnitOfWork(runtime.database, directory)

        await runtime.serve(USE_CASES, unit_of_work)
        await runtime.react("tickets.user-deleted", USE_CASES, unit_of_work)
        runtime.relay_outbox()
        try:
            await runtime.wait_for_shutdown()
        finally:
            await rpc.close()
