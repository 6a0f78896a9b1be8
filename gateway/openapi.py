"""The OpenAPI document, with the error answers every operation can give spelled out.

FastAPI documents only the success answer and a 422 of its own shape; our errors are RFC 9457
problems, so each operation lists them (and clients and schemathesis can check against them).
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict

PROBLEM_STATUSES = {
    "400": "Malformed request (e.g. invalid JSON)",
    "401": "No or bad bearer token",
    "403": "Your role may not do this",
    "404": "Not found, or not yours",
    "409": "Conflict with the current state",
    "413": "Body over the size limit",
    "422": "Invalid input; `errors` lists each problem",
    "429": "Too many requests; see Retry-After",
    "500": "Unexpected error (logged, no details)",
    "503": "A dependency is unavailable; try again",
    "504": "A service did not answer in time",
}


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldProblem] | None = None


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with problem answers on every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in (Problem, FieldProblem):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path in document["paths"].values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                for status, description in PROBLEM_STATUSES.items():
                    responses[status] = {"description": description, "content": problem}
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
