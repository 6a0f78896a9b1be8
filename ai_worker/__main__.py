"""``python -m ai_worker``: answer new messages from the knowledge base, with or without an LLM."""

import logging

import openai

from ai_worker.answerers import Answerer, OfflineAnswerer, OpenAIAnswerer, RetryPolicy
from ai_worker.http import model_http_client
from ai_worker.knowledge import KnowledgeBase
from ai_worker.settings import AiSettings
from ai_worker.streaming import AnswerStreams, serve_replays
from ai_worker.worker import AnswerWorker
from contracts.names import AI_STREAM_EXCHANGE
from servicekit.bus import Publisher
from servicekit.rpc_client import RpcClient
from servicekit.service import ServiceRuntime, run

log = logging.getLogger("ai_worker")


def make_answerer(settings: AiSettings) -> Answerer:
    if settings.openai_api_key is None:
        log.info("no OPENAI_API_KEY: answering offline from the knowledge base")
        return OfflineAnswerer()
    client = openai.AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        max_retries=0,  # we retry ourselves, with a bound and a reason to report
        http_client=model_http_client(settings.event_prefetch),
    )
    log.info("answering with %s at %s", settings.ai_model, client.base_url)
    retry = RetryPolicy(
        settings.ai_max_attempts, settings.ai_retry_base_seconds, settings.ai_timeout
    )
    return OpenAIAnswerer(
        client, model=settings.ai_model, temperature=settings.ai_temperature, retry=retry
    )


async def main() -> None:
    settings = AiSettings()
    async with ServiceRuntime("ai", settings) as runtime:
        knowledge = KnowledgeBase.from_directory(settings.kb_dir)
        log.info("knowledge base: %d passages from %s", len(knowledge), settings.kb_dir)
        rpc = RpcClient(
            settings.amqp_url, timeout=settings.rpc_timeout, name="ai", spans=runtime.spans
        )
        await rpc.start()
        words = await runtime.channel()
        streams = AnswerStreams(
            Publisher(words, AI_STREAM_EXCHANGE), interval=settings.ai_stream_interval
        )
        await serve_replays(words, streams)
        worker = AnswerWorker(
            knowledge=knowledge,
            answerer=make_answerer(settings),
            rpc=rpc,
            streams=streams,
            top_k=settings.ai_top_k,
        )
        await runtime.consume("ai.message-created", ["message.created"], worker.handle)
        try:
            await runtime.wait_for_shutdown()
        finally:
            await streams.close()
            await rpc.close()


if __name__ == "__main__":
    run(main())
