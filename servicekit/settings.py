"""Settings read from the environment, one object per process."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"
PlanCacheMode = Literal["auto", "force_custom_plan", "force_generic_plan"]
"""Postgres' ``plan_cache_mode``."""


class ServiceSettings(BaseSettings):
    """What every process needs: where Postgres and RabbitMQ are, and how to behave."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/support"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    log_level: str = "INFO"
    log_json: bool = False
    access_log: bool = False
    """A log line per HTTP request (gateway), command answered and event handled (services)."""
    rpc_timeout: float = Field(default=5.0, gt=0, le=120)
    rpc_prefetch: int = Field(default=64, ge=1, le=1000)
    event_prefetch: int = Field(default=32, ge=1, le=1000)
    event_delivery_limit: int = Field(default=5, ge=1, le=100)
    db_pool_size: int = Field(default=10, ge=1, le=100)
    db_plan_cache_mode: PlanCacheMode = "auto"
    """Postgres' ``plan_cache_mode`` on this service's connections. ``auto`` lets a prepared
    statement settle on one generic plan from its sixth run on: right for statements whose
    best plan does not depend on their values."""
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    amqp_shortcuts: bool = True
    """Publish and ack straight through aiormq, and join queued frames into one write
    (``servicekit.amqp_shortcuts``); false: aio-pika's own publish and ack."""


class AuthSettings(ServiceSettings):
    """Token settings shared by the issuer (users service) and the verifier (gateway)."""

    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "support-desk"
    jwt_audience: str = "support-desk-api"
    access_token_ttl: int = Field(default=900, ge=10)
    refresh_token_ttl: int = Field(default=30 * 24 * 3600, ge=60)

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> "AuthSettings":
        if self.environment == "production" and (
            self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32
        ):
            raise ValueError("set JWT_SECRET to a random string of 32+ characters in production")
        return self
