"""``docker-compose.yml``, checked without Docker or a network: against the Compose
Specification JSON schema, and every command, dependency, healthcheck and setting it names
against the code itself."""

import json
import re

import jsonschema  # type: ignore[import-untyped]

from support.manifests import (
    COMPOSE_SCHEMA,
    EXTERNAL_ENV_PREFIXES,
    MIGRATIONS_MODULE,
    ROOT,
    built_services,
    compose,
    compose_environment,
    compose_services,
    gateway_serves,
    http_paths_in,
    local_modules,
    python_code_in,
    python_module,
    runnable_module_problem,
    setting_names,
)


def test_compose_schema_is_present() -> None:
    assert COMPOSE_SCHEMA.is_file(), (
        f"the Compose Specification schema is missing: expected it at {COMPOSE_SCHEMA} "
        "(the shared folder next to this repository)"
    )


def test_compose_file_matches_compose_spec() -> None:
    assert COMPOSE_SCHEMA.is_file(), f"missing {COMPOSE_SCHEMA}"
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(compose()))
    assert not errors, "\n".join(
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in errors
    )


def test_compose_built_services_run_repo_modules() -> None:
    assert built_services(), "no Compose service is built from the Dockerfile"
    for name, service in built_services().items():
        assert service["build"]["context"] == ".", f"{name} builds from another context"
        assert (ROOT / service["build"].get("dockerfile", "Dockerfile")).is_file()
        module = python_module(service.get("command"), f"compose service {name}")
        assert runnable_module_problem(module) is None, runnable_module_problem(module)


def test_compose_runs_every_process_and_the_migration() -> None:
    modules = [python_module(s["command"], n) for n, s in built_services().items()]
    assert sorted(modules) == sorted([*local_modules(), MIGRATIONS_MODULE])


def test_compose_migration_runs_once_after_postgres() -> None:
    (migrate,) = [
        service
        for name, service in built_services().items()
        if python_module(service["command"], name) == MIGRATIONS_MODULE
    ]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_compose_services_wait_for_broker_and_migration() -> None:
    (migrate_name,) = [
        name for name, s in built_services().items() if s["command"][-1] == MIGRATIONS_MODULE
    ]
    for name, service in built_services().items():
        if name == migrate_name:
            continue
        depends = service["depends_on"]
        assert depends["rabbitmq"]["condition"] == "service_healthy", name
        assert depends[migrate_name]["condition"] == "service_completed_successfully", name
        assert service["restart"] == "unless-stopped", name


def test_compose_healthy_conditions_have_healthchecks() -> None:
    for name, service in compose_services().items():
        for dependency, condition in service.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in compose_services()[dependency], (
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck"
                )


def test_compose_infrastructure_images() -> None:
    rabbitmq, postgres = compose_services()["rabbitmq"], compose_services()["postgres"]
    assert rabbitmq["image"] == "rabbitmq:3.13-management"
    assert any(str(port).endswith(":15672") for port in rabbitmq["ports"])
    assert rabbitmq["healthcheck"]["test"][1:] == ["rabbitmq-diagnostics", "-q", "ping"]
    assert postgres["image"] == "postgres:16"
    assert postgres["healthcheck"]["test"][1] == "pg_isready"
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"], f"postgres data must be a named volume: {volume}"


def test_compose_requires_a_jwt_secret_in_production() -> None:
    for name, service in built_services().items():
        environment = compose_environment(service)
        assert environment["ENVIRONMENT"] == "production", name
        assert re.fullmatch(r"\$\{JWT_SECRET:\?.+\}", environment["JWT_SECRET"]), (
            f"{name}: JWT_SECRET must come from the environment, with an error if unset"
        )


def test_compose_passes_optional_settings_through() -> None:
    """Unset in the shell means unset in the container (a null value), never an empty one."""
    wanted = {
        "users_service": {"BOOTSTRAP_ADMIN_EMAIL", "BOOTSTRAP_ADMIN_PASSWORD"},
        "ai_worker": {"OPENAI_API_KEY", "OPENAI_BASE_URL", "AI_MODEL"},
    }
    for name, service in built_services().items():
        environment = compose_environment(service)
        for variable in wanted.get(service["command"][-1], set()):
            assert variable in environment, f"{name} does not pass {variable} through"
            assert environment[variable] is None, f"{name}: {variable} must be a pass-through"


def test_compose_gateway_listens_on_all_interfaces() -> None:
    (gateway,) = [s for s in built_services().values() if s["command"][-1] == "gateway"]
    environment = compose_environment(gateway)
    assert environment["GATEWAY_HOST"] == "0.0.0.0"
    port = str(environment.get("GATEWAY_PORT", 8000))
    assert f"{port}:{port}" in [str(p) for p in gateway["ports"]]
    assert http_paths_in(gateway["healthcheck"]["test"]), "the gateway healthcheck is not HTTP"


def test_compose_healthcheck_paths_are_gateway_routes() -> None:
    for name, service in compose_services().items():
        for path in http_paths_in(service.get("healthcheck", {}).get("test")):
            assert gateway_serves(path), f"{name} healthcheck: no gateway route for GET {path}"


def test_compose_python_healthchecks_compile() -> None:
    for name, service in compose_services().items():
        code = python_code_in(service.get("healthcheck", {}).get("test"))
        if code is not None:
            compile(code, f"{name} healthcheck", "exec")


def test_compose_environment_names_are_settings() -> None:
    for name, service in compose_services().items():
        names = set(compose_environment(service))
        if "build" in service:
            unknown = names - setting_names()
        else:
            prefix = EXTERNAL_ENV_PREFIXES[service["image"].split(":")[0]]
            unknown = {n for n in names if not n.startswith(prefix)}
        assert not unknown, f"compose service {name} sets unknown variables {sorted(unknown)}"
