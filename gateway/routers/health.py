"""Liveness and readiness."""

import asyncio

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from contracts.names import SERVICES, ping_queue
from contracts.rpc import Ping, Pong
from gateway.problems import problem
from gateway.rpc import Rpc
from servicekit.rpc_client import RpcError

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """200 while this process is alive."""
    return {"status": "ok"}


async def _check(rpc: Rpc, service: str, timeout: float) -> str:
    try:
        pong = Pong.model_validate_json(
            await rpc.request(ping_queue(service), Ping(), timeout=timeout)
        )
    except RpcError as exc:
        return f"no answer: {exc}"
    return "ok" if pong.database else "database unreachable"


@router.get("/ready", responses={503: {"description": "a dependency is not ready"}})
async def ready(request: Request, rpc: Rpc) -> Response:
    """200 when the broker and every service answer a ping within the timeout, else 503."""
    timeout = request.app.state.settings.ready_timeout
    if not rpc.connected:
        return problem(
            503,
            "service_unavailable",
            "message broker unreachable",
            checks={"broker": "unreachable"},
        )
    results = await asyncio.gather(*(_check(rpc, s, timeout) for s in SERVICES))
    checks = {"broker": "ok", **dict(zip(SERVICES, results, strict=True))}
    checks["revocations"] = "ok" if request.app.state.revocations.loaded else "loading"
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        return problem(
            503, "service_unavailable", f"not ready: {', '.join(failing)}", checks=checks
        )
    return Response(orjson.dumps({"status": "ok", "checks": checks}), media_type="application/json")
