"""Wiring of the chat service: its use cases, served on the bus in units of work on Postgres,
final states announced on ``ai.stream``, and the sweeper of messages left pending."""

import asyncio
import logging
from collections.abc import Callable

from chat_service.chats.use_cases import use_cases as chats
from chat_service.messages.finals import StreamFinals
from chat_service.messages.use_cases import sweep
from chat_service.messages.use_cases import use_cases as messages
from chat_service.schema import outbox
from chat_service.settings import ChatSettings
from chat_service.uow import ChatUnitOfWork, SqlChatUnitOfWork
from contracts.names import AI_STREAM_EXCHANGE
from servicekit.bus import Publisher
from servicekit.service import ServiceRuntime
from servicekit.usecases import UseCases

log = logging.getLogger("chat_service")
USE_CASES: UseCases[ChatUnitOfWork] = UseCases.joined([chats, messages])


async def sweep_forever(units_of_work: Callable[[], ChatUnitOfWork], interval: float) -> None:
    """Now and then, emit again the messages stuck pending, so none waits forever."""
    while True:
        await asyncio.sleep(interval)
        try:
            if swept := await sweep(units_of_work()):
                log.info("swept %d stale pending messages", swept)
        except Exception:
            log.exception("sweep failed, will try again")


async def main() -> None:
    settings = ChatSettings()
    limits = settings.limits()
    async with ServiceRuntime("chat", settings, outbox=outbox) as runtime:
        finals = StreamFinals(Publisher(await runtime.channel(), AI_STREAM_EXCHANGE))

        def unit_of_work() -> SqlChatUnitOfWork:
            return SqlChatUnitOfWork(runtime.database, limits=limits, finals=finals)

        await runtime.serve(USE_CASES, unit_of_work)
        await runtime.react("chat.user-deleted", USE_CASES, unit_of_work)
        runtime.relay_outbox()
        runtime.background(sweep_forever(unit_of_work, settings.sweep_interval_seconds))
        await runtime.wait_for_shutdown()
