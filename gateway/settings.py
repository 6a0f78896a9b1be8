"""Settings of the gateway."""

from limits import parse
from pydantic import Field, field_validator

from servicekit.settings import AuthSettings


class GatewaySettings(AuthSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    ready_timeout: float = Field(default=1.0, gt=0)
    stream_max_seconds: float = Field(default=300.0, gt=0)
    rate_limit_login: str = "10/minute"
    rate_limit_messages: str = "30/minute"

    @field_validator("rate_limit_login", "rate_limit_messages")
    @classmethod
    def _parseable(cls, value: str) -> str:
        parse(value)  # "10/minute", "5 per second", "100/hour;1000/day" ...
        return value
