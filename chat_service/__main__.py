"""``python -m chat_service``: chats, messages, the message life cycle and its sweeper."""

import asyncio
import logging

from chat_service.handlers import on_user_deleted, router
from chat_service.models import SCHEMA
from chat_service.service import ChatLimits, ChatService
from chat_service.settings import ChatSettings
from contracts.chat import MessagePublic, StreamChunk
from contracts.names import AI_STREAM_EXCHANGE, stream_key
from servicekit.bus import NOT_PERSISTENT, Properties, Publisher
from servicekit.service import ServiceRuntime, run

log = logging.getLogger("chat_service")


async def sweep_forever(chats: ChatService, interval: float) -> None:
    """Now and then, re-emit messages stuck pending, so none waits forever."""
    while True:
        await asyncio.sleep(interval)
        try:
            if swept := await chats.sweep():
                log.info("swept %d stale pending messages", swept)
        except Exception:
            log.exception("sweep failed, will try again")


async def main() -> None:
    settings = ChatSettings()
    async with ServiceRuntime("chat", settings, schema=SCHEMA) as runtime:
        stream = Publisher(await runtime.channel(), AI_STREAM_EXCHANGE)

        async def announce_final(message: MessagePublic) -> None:
            chunk = StreamChunk(type=message.status.value, message=message)
            try:
                await stream.publish(
                    chunk.model_dump_json().encode(),
                    routing_key=stream_key(message.id, final=True),
                    properties=Properties(delivery_mode=NOT_PERSISTENT),
                )
            except Exception as exc:  # best effort: waiting clients re-read the message
                log.warning("final state of %s not announced: %s", message.id, exc)

        chats = ChatService(
            runtime.sessions,
            runtime.queries,
            on_final=announce_final,
            limits=ChatLimits(
                recent_turns=settings.recent_turns,
                sweep_after_seconds=settings.sweep_after_seconds,
                max_emissions=settings.sweep_max_emissions,
            ),
        )
        await runtime.serve(router, chats)
        await runtime.consume("chat.user-deleted", ["user.deleted"], on_user_deleted(chats))
        await runtime.relay_outbox()
        runtime.background(sweep_forever(chats, settings.sweep_interval_seconds))
        await runtime.wait_for_shutdown()


if __name__ == "__main__":
    run(main())
