"""ASGI middlewares: bodies over the limit answer 413 before the application reads them;
every request gets a trace context, its trace id answered in ``X-Trace-Id``, and is timed for
the metrics (and logged, with ``ACCESS_LOG``)."""

import logging
import re
import time

from fastapi.routing import iter_route_contexts
from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import problem
from servicekit import tracing
from servicekit.metrics import HTTP_REQUESTS

access_log = logging.getLogger("gateway.access")


class BodySizeLimit:
    """Pure ASGI middleware: buffers at most ``limit`` bytes of a body, else answers 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._reject(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413, "payload_too_large", f"request bodies are limited to {self.limit} bytes"
        )
        await response(scope, receive, send)


PATH_PARAMETER = re.compile(r"\{[^}]*\}")


def _template(path: str) -> str:
    """A route's path as a label: its parameters all ``{id}`` (``/api/chats/{id}/messages``)."""
    return PATH_PARAMETER.sub("{id}", path)


class RouteLabels:
    """The label of a request's route: the template of the route that took it, never the path
    a client made up (each value is a series kept forever); ``unmatched`` for every path no
    route took. A route of an included router knows only its own part of the path, so the
    whole templates are looked up once in the app's routes, by route."""

    def __init__(self) -> None:
        self._by_route: dict[int, str] = {}

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        label = self._by_route.get(id(route))
        if label is None:
            self._by_route = {
                id(context.original_route): _template(context.path_format)
                for context in iter_route_contexts(scope["app"].routes)
                if context.path_format
            }
            own = getattr(route, "path", None)  # not among them: a router's, say
            label = _template(own) if isinstance(own, str) else "unmatched"
            label = self._by_route.setdefault(id(route), label)
        return label


class RequestTelemetry:
    """Pure ASGI middleware, the outermost: a trace context for each request, its trace id in
    the ``X-Trace-Id`` response header, and the request's duration by method, route template
    and status in the metrics (and a log line, if ``access_log``).

    With tracing on, FastAPI has already opened the request's server span (from the client's
    ``traceparent``) around the whole middleware stack, and that span is the context. With it
    off, the client's ``traceparent`` if valid, else a new random trace, is made current as it
    is, without a span: the services and the logs see the same trace id either way.
    """

    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app, self.access_log = app, access_log
        self.routes = RouteLabels()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        span_context = trace.get_current_span().get_span_context()
        token = None
        if span_context.is_valid:  # FastAPI's server span: tracing is on
            trace_id = f"{span_context.trace_id:032x}"
        else:
            carried = tracing.from_http_headers(scope["headers"])
            token = otel_context.attach(trace.set_span_in_context(carried))
            trace_id = carried.trace_id
        trace_header = (b"x-trace-id", trace_id.encode())

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), trace_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        except BaseException:
            # Starlette's outermost handler answers an unexpected error after we are gone: keep
            # the trace context current for its log line (and X-Trace-Id, see problems). The
            # request's task ends with it.
            token = None
            raise
        finally:
            route = self.routes.of(scope)
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).observe(elapsed)
            if self.access_log:
                access_log.info(
                    "%s %s %d %.1fms",
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                    extra={"method": scope["method"], "route": route, "status": status},
                )
            if token is not None:
                otel_context.detach(token)
