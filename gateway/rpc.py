"""The RPC client as a request dependency, and replies passed through as HTTP responses."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from contracts.base import Command
from servicekit.rpc_client import RpcClient


async def _rpc(request: Request) -> RpcClient:
    client: RpcClient = request.app.state.rpc
    return client


Rpc = Annotated[RpcClient, Depends(_rpc)]


async def relay(
    rpc: RpcClient,
    command: Command,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Call ``command`` and answer with the service's JSON as it came (no re-encoding)."""
    body = await rpc.call(command)
    return Response(body, status_code=status, media_type="application/json", headers=headers)
