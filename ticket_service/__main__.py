"""``python -m ticket_service``: tickets on messages, their workflow and their events."""

from servicekit.rpc_client import RpcClient
from servicekit.service import ServiceRuntime, run
from ticket_service.directory import RpcDirectory
from ticket_service.handlers import on_user_deleted, router
from ticket_service.models import SCHEMA
from ticket_service.service import TicketService
from ticket_service.settings import TicketSettings


async def main() -> None:
    settings = TicketSettings()
    async with ServiceRuntime("tickets", settings, schema=SCHEMA) as runtime:
        rpc = RpcClient(settings.amqp_url, timeout=settings.rpc_timeout, name="tickets")
        await rpc.start()
        tickets = TicketService(runtime.sessions, runtime.queries, RpcDirectory(rpc))
        await runtime.serve(router, tickets)
        await runtime.consume("tickets.user-deleted", ["user.deleted"], on_user_deleted(tickets))
        await runtime.relay_outbox()
        try:
            await runtime.wait_for_shutdown()
        finally:
            await rpc.close()


if __name__ == "__main__":
    run(main())
