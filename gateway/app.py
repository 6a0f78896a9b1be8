"""The FastAPI application: routes under ``/api``, problems for every error."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import openapi, problems
from gateway.limits import BodySizeLimit, RequestTelemetry
from gateway.ratelimit import RateLimits
from gateway.revocations import RevocationList
from gateway.routers import auth, chats, events, health, tickets, users
from gateway.security import TokenVerifier
from gateway.settings import GatewaySettings
from gateway.streams import StreamHub
from servicekit import bus, heap
from servicekit.logs import configure_logging
from servicekit.rpc_client import RpcClient
from servicekit.tracing import configure_tracing, exporters_from_env


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json=settings.log_json)
        spans = configure_tracing("gateway")
        bus.configure(shortcuts=settings.amqp_shortcuts)
        app.state.rpc = RpcClient(
            settings.amqp_url, timeout=settings.rpc_timeout, name="gateway", spans=spans
        )
        app.state.streams = StreamHub(settings.amqp_url)
        app.state.revocations = RevocationList(
            settings.amqp_url, app.state.rpc, token_ttl=settings.access_token_ttl
        )
        app.state.tokens = TokenVerifier(settings, app.state.revocations)
        await app.state.rpc.start()
        await app.state.streams.start()
        await app.state.revocations.start()
        heap.settle()
        yield
        await app.state.revocations.close()
        await app.state.streams.close()
        await app.state.rpc.close()

    app = FastAPI(
        title="Support Desk API",
        version="0.1.0",
        summary="AI chat support: chats with an AI assistant, and tickets on its answers.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        lifespan=lifespan,
        # With tracing on, FastAPI makes the HTTP server span itself (from the client's
        # traceparent) with the provider servicekit.tracing installs. Its per-operation spans
        # (dependencies, endpoint, serialization) would triple a traced request's cost; its HTTP
        # metrics duplicate Prometheus'; its OTel logs duplicate ours; it must add no exporter
        # of its own. With tracing off, all off: its per-request check then costs next to nothing.
        telemetry={
            "tracing": bool(exporters_from_env(os.environ)),
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "auto_configure": False,
        },
    )
    app.state.settings = settings
    app.state.rate_limits = RateLimits(settings)
    problems.install(app)
    openapi.install(app)
    api = APIRouter(prefix="/api")
    api.include_router(health.router)
    api.include_router(auth.router)
    api.include_router(users.router)
    api.include_router(chats.router)
    api.include_router(tickets.router)
    api.include_router(events.router)
    app.include_router(api)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestTelemetry, access_log=settings.access_log)
    app.add_route("/metrics", _metrics, include_in_schema=False)
    return app


async def _metrics(_: Request) -> Response:
    """Prometheus text of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
