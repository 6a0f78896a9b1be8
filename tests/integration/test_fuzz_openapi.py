"""schemathesis against the gateway's own OpenAPI document: for every operation, generated
requests (valid and not) never get a server error, and every answer matches the document.

Driven through schemathesis's Python API (its pytest plugin does not run on pytest 9 yet):
one hypothesis run per operation, every failure collected and reported together."""

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support.api import User
from support.stack import Stack

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_operation_conforms(stack: Stack, admin: User) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/api/openapi.json")
    failures: dict[str, str] = {}
    tried: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures[f"schema error {len(failures)}"] = str(result.err())
            continue
        operation = result.ok()
        tried.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            nonlocal sent
            sent += 1
            case.call_and_validate(
                base_url=stack.base_url, headers=admin.headers, checks=CHECKS, timeout=40
            )

        try:
            check()
        except Exception as exc:  # collect them all: one failing operation hides no other
            failures[operation.label] = str(exc)[:2000]
    assert len(tried) >= 20, tried
    assert sent >= 5 * len(tried), f"only {sent} requests for {len(tried)} operations"
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
