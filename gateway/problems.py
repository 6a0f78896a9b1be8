"""Every error as an RFC 9457 problem (``application/problem+json``), never a bare 500."""

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.enums import ErrorCode
from gateway.ratelimit import RateLimited
from servicekit.rpc_client import BrokerUnavailable, RemoteError, RpcTimeout
from servicekit.tracing import TRACE_ID_HEADER, current_trace_id

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
BEARER = {"WWW-Authenticate": "Bearer"}

STATUS_OF = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TICKET_EXISTS: 409,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.VALIDATION: 422,
    ErrorCode.INVALID_CURSOR: 422,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UPSTREAM_TIMEOUT: 504,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}
_CODE_OF_HTTP_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class Unauthenticated(Exception):
    """No token, or one that does not verify: 401 with ``WWW-Authenticate: Bearer``."""


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": f"urn:support-desk:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _validation_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "invalid_json", "the request body is not valid JSON")
    listed = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in errors
    ]
    return problem(422, ErrorCode.VALIDATION, "the request is not valid", errors=listed)


def _model_problem(_: Request, exc: Exception) -> Response:
    """Input that passed the HTTP layer but not a command's model (e.g. a header's bounds)."""
    assert isinstance(exc, ValidationError)
    listed = [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)
    ]
    return problem(422, ErrorCode.VALIDATION, "the request is not valid", errors=listed)


def _http_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_OF_HTTP_STATUS.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, code, detail, headers=dict(exc.headers or {}))


def _remote_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RemoteError)
    reply = exc.reply
    status = STATUS_OF.get(reply.code, 500)
    extra: dict[str, Any] = dict(reply.extra)
    if reply.errors:
        extra["errors"] = [e.model_dump() for e in reply.errors]
    headers = BEARER if status == 401 else None
    return problem(status, reply.code, reply.detail, headers=headers, **extra)


def _unauthenticated(_: Request, exc: Exception) -> Response:
    return problem(401, ErrorCode.UNAUTHORIZED, str(exc), headers=BEARER)


def _timeout(_: Request, exc: Exception) -> Response:
    return problem(504, ErrorCode.UPSTREAM_TIMEOUT, str(exc))


def _unavailable(_: Request, exc: Exception) -> Response:
    return problem(503, ErrorCode.UNAVAILABLE, str(exc), headers={"Retry-After": "1"})


def _rate_limited(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    headers = {"Retry-After": str(exc.retry_after)}
    return problem(429, ErrorCode.RATE_LIMITED, str(exc), headers=headers)


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    # Answered outside RequestTelemetry (by Starlette's outermost middleware): the trace id the
    # operators will look for in the logs is added here.
    trace_id = current_trace_id()
    headers = {TRACE_ID_HEADER: trace_id} if trace_id else None
    return problem(
        500, ErrorCode.INTERNAL, "internal error, logged for the operators", headers=headers
    )


def install(app: FastAPI) -> None:
    """Register the problem handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(StarletteHTTPException, _http_problem)
    app.add_exception_handler(ValidationError, _model_problem)
    app.add_exception_handler(RemoteError, _remote_problem)
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(RpcTimeout, _timeout)
    app.add_exception_handler(BrokerUnavailable, _unavailable)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(Exception, _unexpected)
