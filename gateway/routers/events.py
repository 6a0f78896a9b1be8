"""The AsyncAPI document of the events any team can subscribe to."""

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.asyncapi import asyncapi_json

router = APIRouter(tags=["events"])


@router.get(
    "/asyncapi.json",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "AsyncAPI 3.0"}},
)
async def asyncapi() -> Response:
    """The AsyncAPI 3.0 document of ``support.events``: every event type and its payload."""
    # Cached bytes: the document is the same for everyone, so no auth and no re-encoding.
    return Response(asyncapi_json(), media_type="application/json")
