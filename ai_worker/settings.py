"""Settings of the AI worker."""

from pathlib import Path

from pydantic import Field, SecretStr

from ai_worker.knowledge import DEFAULT_KB_DIR
from servicekit.settings import ServiceSettings


class AiSettings(ServiceSettings):
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    ai_model: str = "gpt-4o-mini"
    ai_timeout: float = Field(default=60.0, gt=0, description="seconds per LLM attempt")
    ai_max_attempts: int = Field(default=3, ge=1, le=10)
    ai_retry_base_seconds: float = Field(default=1.0, ge=0)
    ai_top_k: int = Field(default=3, ge=1, le=10)
    ai_stream_interval: float = Field(
        default=0.05, ge=0, le=5, description="seconds between batches of answers' words"
    )
    ai_temperature: float = Field(default=0.2, ge=0, le=2)
    event_prefetch: int = Field(default=1024, ge=1, le=10000)
    """Answers written at once (and connections to the model): a model call waits on the
    network, so a thousand conversations fit in one worker."""
    kb_dir: Path = DEFAULT_KB_DIR
