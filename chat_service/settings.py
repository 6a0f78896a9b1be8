"""Settings of the chat service."""

from pydantic import Field

from servicekit.settings import ServiceSettings


class ChatSettings(ServiceSettings):
    recent_turns: int = Field(default=6, ge=0, le=50)
    sweep_interval_seconds: float = Field(default=15.0, gt=0)
    # Must exceed the AI worker's worst case (AI_MAX_ATTEMPTS x AI_TIMEOUT plus backoff), or a
    # message still being answered is re-emitted and answered twice (only one answer is kept).
    sweep_after_seconds: float = Field(default=600.0, gt=0)
    sweep_max_emissions: int = Field(default=3, ge=1)
