"""Settings of the chat service."""

from pydantic import Field

from servicekit.settings import ServiceSettings


class ChatSettings(ServiceSettings):
    recent_turns: int = Field(default=6, ge=0, le=50)
    sweep_interval_seconds: float = Field(default=15.0, gt=0)
    sweep_after_seconds: float = Field(default=120.0, gt=0)
    sweep_max_emissions: int = Field(default=3, ge=1)
