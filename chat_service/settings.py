"""Settings of the chat service."""

from dataclasses import dataclass

from pydantic import Field

from servicekit.settings import ServiceSettings


@dataclass(frozen=True)
class ChatLimits:
    """The numbers the message use cases go by (from the settings, or a test's own)."""

    recent_turns: int = 6
    """How many earlier turns of the chat go with a new message to the AI worker."""
    sweep_after_seconds: float = 60.0
    """A message pending this long since it was emitted is emitted again."""
    max_emissions: int = 3
    """After so many emissions without an answer, a message fails."""


class ChatSettings(ServiceSettings):
    recent_turns: int = Field(default=6, ge=0, le=50)
    sweep_interval_seconds: float = Field(default=15.0, gt=0)
    # Must exceed the AI worker's worst case (AI_MAX_ATTEMPTS x AI_TIMEOUT plus backoff), or a
    # message still being answered is re-emitted and answered twice (only one answer is kept).
    sweep_after_seconds: float = Field(default=600.0, gt=0)
    sweep_max_emissions: int = Field(default=3, ge=1)

    def limits(self) -> ChatLimits:
        return ChatLimits(
            recent_turns=self.recent_turns,
            sweep_after_seconds=self.sweep_after_seconds,
            max_emissions=self.sweep_max_emissions,
        )
