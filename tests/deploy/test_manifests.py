"""The deployment files, checked without Docker, kubectl or a network.

``docker-compose.yml`` is validated against the Compose Specification JSON schema, every object
under ``deploy/k8s`` against the Kubernetes schemas bundled with kubernetes-validate, and every
command, probe, port and setting they name against the code itself.
"""

import ast
import configparser
import copy
import functools
import importlib
import importlib.util
import json
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest
import yaml  # type: ignore[import-untyped]
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from starlette.routing import Match

from deploy.local import PROCESSES
from servicekit.settings import AuthSettings

ROOT: Final = Path(__file__).resolve().parents[2]
COMPOSE_FILE: Final = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA: Final = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
DOCKERFILE: Final = ROOT / "Dockerfile"
DOCKERIGNORE: Final = ROOT / ".dockerignore"
LOCK: Final = ROOT / "requirements.lock"
PYPROJECT: Final = ROOT / "pyproject.toml"
K8S: Final = ROOT / "deploy" / "k8s"

# Pinned on purpose (the newest that kubernetes-validate 1.37 bundles), so that a newer package
# does not silently change what "valid" means.
K8S_VERSION: Final = "1.37.0"
KUSTOMIZATION_NAMES: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MIGRATIONS_MODULE: Final = "servicekit.migrations"
DEV_ONLY_TOOLS: Final = frozenset({"pytest", "mypy", "ruff", "schemathesis", "testcontainers"})
# Containers of third-party images take their own settings, named with these prefixes.
EXTERNAL_ENV_PREFIXES: Final = {"postgres": "POSTGRES_", "rabbitmq": "RABBITMQ_"}
SKIPPING_CALLS: Final = frozenset({"skip", "skipif", "importorskip", "xfail"})

Doc = dict[str, Any]


# --------------------------------------------------------------------------------- loading


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_documents(path: Path) -> list[Doc]:
    """The non-empty documents of a (multi-document) YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@functools.cache
def compose() -> Doc:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict), f"{COMPOSE_FILE} is not a YAML mapping"
    return data


def compose_services() -> dict[str, Doc]:
    services = compose()["services"]
    assert isinstance(services, dict)
    return services


def built_services() -> dict[str, Doc]:
    """The Compose services built from the repository's Dockerfile."""
    return {name: svc for name, svc in compose_services().items() if "build" in svc}


def compose_environment(service: Mapping[str, Any]) -> dict[str, Any]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
    assert isinstance(environment, dict)
    return environment


def python_module(command: object, where: str) -> str:
    """The module of a ``["python", "-m", <module>]`` command."""
    assert isinstance(command, list), f"{where}: command must be an exec-form list: {command!r}"
    assert len(command) == 3, f"{where}: expected python -m <module>, got {command!r}"
    assert command[:2] == ["python", "-m"], f"{where}: expected python -m <module>: {command!r}"
    module = command[2]
    assert isinstance(module, str)
    return module


# ------------------------------------------------------------------------------ Dockerfile


@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    arguments: str


@functools.cache
def dockerfile() -> tuple[Instruction, ...]:
    """The Dockerfile's instructions, continuation lines joined, each with its stage's name."""
    instructions: list[Instruction] = []
    stage, pending = "", ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        pending = ""
        keyword = keyword.upper()
        if keyword == "FROM":
            words = arguments.split()
            stage = words[2] if len(words) == 3 and words[1].lower() == "as" else words[0]
        instructions.append(Instruction(stage, keyword, arguments.strip()))
    return tuple(instructions)


def final_stage() -> str:
    return dockerfile()[-1].stage


def image_user() -> str:
    """The uid the runtime image runs as (its last USER), or "" for root."""
    users = [i for i in dockerfile() if i.keyword == "USER" and i.stage == final_stage()]
    return users[-1].arguments.split(":")[0] if users else ""


def copy_sources(stage: str | None = None) -> list[str]:
    """Sources of the COPY instructions that read the build context (not ``--from``)."""
    sources: list[str] = []
    for instruction in dockerfile():
        if instruction.keyword != "COPY" or stage not in (None, instruction.stage):
            continue
        words = shlex.split(instruction.arguments)
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def image_packages() -> set[str]:
    """The top-level packages the runtime image holds."""
    return {source.strip("/") for source in copy_sources(final_stage())} & {
        path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()
    }


def env_assignments(stage: str | None = None) -> dict[str, str]:
    """What the ENV and ARG instructions set (``KEY=value`` forms)."""
    assigned: dict[str, str] = {}
    for instruction in dockerfile():
        if instruction.keyword in {"ENV", "ARG"} and stage in (None, instruction.stage):
            for word in shlex.split(instruction.arguments):
                key, _, value = word.partition("=")
                assigned[key] = value
    return assigned


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus ``**``) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` out (a match on a parent folder counts)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _glob_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def runnable_module_problem(module: str) -> str | None:
    """Why ``python -m module`` would not run from the image, or None if it would."""
    if module.split(".")[0] not in image_packages():
        return f"{module} is not in a package the Dockerfile copies ({sorted(image_packages())})"
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return f"{module} is not importable"
    origin = Path(spec.origin)
    if not origin.is_relative_to(ROOT):
        return f"{module} resolves outside the repository: {origin}"
    if spec.submodule_search_locations is not None:
        if not (origin.parent / "__main__.py").is_file():
            return f"package {module} has no __main__.py"
        return None
    if not _has_main_guard(ast.parse(origin.read_text())):
        return f"module {module} has no `if __name__ == '__main__':` block"
    return None


def _has_main_guard(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        for node in tree.body
    )


# ------------------------------------------------------------------------------ Kubernetes


def kustomization_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*") if p.name in KUSTOMIZATION_NAMES)


def kustomization(directory: Path) -> Doc:
    found = [directory / name for name in KUSTOMIZATION_NAMES if (directory / name).is_file()]
    assert found, f"{directory} has no kustomization.yaml"
    data = load_yaml(found[0])
    assert isinstance(data, dict)
    return data


def patch_paths(directory: Path, config: Mapping[str, Any]) -> list[Path]:
    """The patch files a kustomization names (they are fragments, not Kubernetes objects)."""
    named = [entry["path"] for entry in config.get("patches", []) if "path" in entry]
    named += [entry["path"] for entry in config.get("patchesJson6902", [])]
    named += list(config.get("patchesStrategicMerge", []))
    return [(directory / path).resolve() for path in named]


def manifest_files() -> list[Path]:
    """Every YAML file under deploy/k8s that holds Kubernetes objects."""
    patches = {p for k in kustomization_files() for p in patch_paths(k.parent, load_yaml(k))}
    return sorted(
        path
        for path in K8S.rglob("*")
        if path.suffix in {".yaml", ".yml"}
        and path.name not in KUSTOMIZATION_NAMES
        and path.resolve() not in patches
    )


def k8s_objects() -> list[tuple[Path, Doc]]:
    return [(path, doc) for path in manifest_files() for doc in load_documents(path)]


def objects_of(kind: str) -> list[Doc]:
    return [doc for _, doc in k8s_objects() if doc.get("kind") == kind]


def one_object(kind: str, name: str) -> Doc:
    matches = [doc for doc in objects_of(kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name!r}, found {len(matches)}"
    return matches[0]


def pod_specs() -> list[tuple[str, Doc]]:
    """The pod templates of the Deployments and Jobs, with the workload's name."""
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"])
        for doc in objects_of("Deployment") + objects_of("Job")
    ]


def containers() -> list[tuple[str, Doc, Doc]]:
    """(where, pod spec, container) for every container of every workload."""
    return [
        (f"{workload}/{container['name']}", pod, container)
        for workload, pod in pod_specs()
        for container in pod.get("initContainers", []) + pod["containers"]
    ]


def probes() -> Iterator[tuple[str, Doc, Doc]]:
    """(where, container, probe) for every probe of every container."""
    for where, _, container in containers():
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            if kind in container:
                yield f"{where} {kind}", container, container[kind]


def validation_problem(obj: Doc) -> str | None:
    """Why ``obj`` is not a valid Kubernetes object (strict: unknown fields fail), or None."""
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'.'.join(str(part) for part in exc.path)}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        return str(exc.message)
    return None


def build_kustomization(directory: Path) -> list[Doc]:
    """Enough of ``kustomize build`` to check what patches produce: resources and JSON 6902
    patches (namespace, labels and images only rename or add strings, so are left out)."""
    config = kustomization(directory)
    objects: list[Doc] = []
    for entry in config.get("resources", []):
        target = directory / entry
        objects += build_kustomization(target) if target.is_dir() else load_documents(target)
    for patch in config.get("patches", []):
        operations = load_yaml(directory / patch["path"]) if "path" in patch else patch["patch"]
        if isinstance(operations, str):
            operations = yaml.safe_load(operations)
        assert isinstance(operations, list), (
            f"{directory}: patches here are JSON 6902 lists, so tests can apply them: {patch}"
        )
        selected = [obj for obj in objects if _selected(obj, patch["target"])]
        assert selected, f"{directory}: patch {patch} selects no object"
        for obj in selected:
            for operation in operations:
                _apply(obj, operation, f"{directory.name}: {patch.get('path', patch)}")
    return objects


def _selected(obj: Doc, target: Mapping[str, str]) -> bool:
    """Whether a patch target (kind and name, regular expressions as in kustomize) picks obj."""
    unsupported = set(target) - {"kind", "name"}
    assert not unsupported, f"target selectors {unsupported} are not checked here"
    values = {"kind": obj["kind"], "name": obj["metadata"]["name"]}
    return all(re.fullmatch(pattern, values[field]) for field, pattern in target.items())


def _apply(obj: Doc, operation: Mapping[str, Any], where: str) -> None:
    """One JSON 6902 operation (add, replace or remove), strict like kustomize."""
    op, pointer = operation["op"], operation["path"]
    *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    node: Any = obj
    for token in parents:
        exists = token in node if isinstance(node, dict) else int(token) < len(node)
        assert exists, f"{where}: {pointer} does not exist in {obj['kind']} {obj['metadata']}"
        node = node[token] if isinstance(node, dict) else node[int(token)]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        present = index < len(node)
    else:
        index, present = -1, last in node
    assert op in {"add", "replace", "remove"}, f"{where}: unsupported op {op}"
    assert op == "add" or present, f"{where}: {op} {pointer}: no such field in {obj['kind']}"
    key: Any = index if isinstance(node, list) else last
    if op == "remove":
        del node[key]
    elif op == "add" and isinstance(node, list):
        node.insert(index, copy.deepcopy(operation["value"]))
    else:
        node[key] = copy.deepcopy(operation["value"])


def ini_option(name: str, section: str, option: str) -> str:
    parser = configparser.ConfigParser()
    parser.read(ROOT / name)
    return parser.get(section, option)


def overlay_directories() -> list[Path]:
    return sorted(p.parent for p in kustomization_files() if p.parent.parent.name == "overlays")


# ---------------------------------------------------------------------------- the code


def settings_modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"{package}.settings")
        for package in sorted(image_packages())
        if (ROOT / package / "settings.py").is_file()
    ]


def settings_classes() -> list[type[BaseSettings]]:
    """The settings classes the repository's packages define."""
    return [
        value
        for module in settings_modules()
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseSettings)
        and value.__module__ == module.__name__
    ]


@functools.cache
def setting_names() -> frozenset[str]:
    """Every environment variable a settings class reads: its fields, upper-cased."""
    names: set[str] = set()
    for settings in settings_classes():
        assert not settings.model_config.get("env_prefix"), f"{settings} has an env prefix"
        names |= {field.upper() for field in settings.model_fields}
    return frozenset(names)


@functools.cache
def gateway_routes() -> tuple[Any, ...]:
    """The gateway's routes, from ``create_app()`` without running its lifespan (which
    connects to RabbitMQ)."""
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    app = create_app(GatewaySettings(_env_file=None, environment="development"))
    return tuple(app.router.routes)


def gateway_serves(path: str) -> bool:
    """Whether a GET of ``path`` reaches a route, matched as the app's router matches it."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in gateway_routes())


def local_modules() -> set[str]:
    """The modules ``make run`` (deploy/local.py) starts, one process each."""
    return {module for _, module in PROCESSES}


def locked_names() -> set[str]:
    pins = (line.split("==")[0] for line in LOCK.read_text().splitlines() if "==" in line)
    return {canonicalize_name(name.strip()) for name in pins}


def runtime_dependency_closure() -> set[str]:
    """[project].dependencies and everything they need, from the installed metadata."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    pending = [Requirement(raw) for raw in project["dependencies"]]
    extras_of: dict[str, set[str]] = {}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in extras_of and set(requirement.extras) <= extras_of[name]:
            continue
        extras = extras_of.setdefault(name, set())
        extras |= requirement.extras
        for raw in metadata.requires(name) or []:
            dependency = Requirement(raw)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras | {""}):
                pending.append(dependency)
    return set(extras_of)


def http_paths_in(command: object) -> list[str]:
    return re.findall(r"https?://[^/\s'\"]+(/[^\s'\")]*)", json.dumps(command))


def python_code_in(command: object) -> str | None:
    """The code of a ``python -c <code>`` command (also inside a Compose CMD list)."""
    if isinstance(command, list):
        words = [word for word in command if word not in ("CMD", "CMD-SHELL")]
        if len(words) == 3 and words[:2] == ["python", "-c"]:
            return str(words[2])
    return None


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+)([KMG]i?)?", quantity)
    assert match, f"unexpected memory quantity {quantity!r}"
    return int(match[1]) * units.get(match[2] or "", 1)


K8S_OBJECTS: Final = k8s_objects()
OVERLAYS: Final = overlay_directories()


# ===================================================================== the tests themselves


def test_no_test_here_skips() -> None:
    """Each check either passes or fails: no skip, skipif, importorskip or xfail in this file."""
    tree = ast.parse(Path(__file__).read_text())
    found = [
        f"line {node.lineno}: {node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in SKIPPING_CALLS
    ]
    assert not found, f"tests here must not skip: {found}"


def test_parametrized_inputs_are_not_empty() -> None:
    """pytest skips a test whose parameter list is empty; fail instead."""
    assert K8S_OBJECTS, f"no Kubernetes objects found under {K8S}"
    assert OVERLAYS, f"no kustomize overlays found under {K8S / 'overlays'}"


# --- Compose


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


# --- Dockerfile and image


def test_dockerfile_builds_from_python_311_slim() -> None:
    stages = {instruction.stage for instruction in dockerfile()}
    for instruction in dockerfile():
        if instruction.keyword == "FROM":
            image = instruction.arguments.split()[0]
            assert image in stages or image == "python:3.11-slim", instruction


def test_dockerfile_copy_sources_exist() -> None:
    assert copy_sources(), "the Dockerfile copies nothing from the build context"
    for source in copy_sources():
        assert list(ROOT.glob(source)), f"COPY {source}: no such path in the repository"


def test_dockerfile_copy_sources_survive_dockerignore() -> None:
    """What the code loads (modules, migration templates, alembic.ini, the knowledge base)
    reaches the image; other files under a copied folder (deploy/k8s) may be left out."""
    import ai_worker.knowledge

    knowledge_base = ai_worker.knowledge.DEFAULT_KB_DIR
    patterns = dockerignore_patterns()
    for source in copy_sources():
        for path in ROOT.glob(source):
            assert not dockerignored(path.relative_to(ROOT).as_posix(), patterns), source
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            needed = [
                p.relative_to(ROOT).as_posix()
                for p in files
                if (p.suffix in {".py", ".mako", ".ini"} and "__pycache__" not in p.parts)
                or p.is_relative_to(knowledge_base)
            ]
            dropped = [p for p in needed if dockerignored(p, patterns)]
            assert not dropped, f"COPY {source}, but .dockerignore leaves out {dropped[:5]}"


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = dockerignore_patterns()
    for path in [".venv/bin/python", ".git/HEAD", "tests/conftest.py", "bench/load.py", ".env"]:
        assert dockerignored(path, patterns), f".dockerignore lets {path} in"
    for path in [".mypy_cache/x", ".ruff_cache/x", ".pytest_cache/x", "gateway/__pycache__/x"]:
        assert dockerignored(path, patterns), f".dockerignore lets {path} in"


def test_image_holds_what_migrations_and_the_ai_worker_read() -> None:
    import ai_worker.knowledge
    import servicekit.migrations

    copied = set(copy_sources(final_stage()))
    assert "alembic.ini" in copied
    for section in servicekit.migrations.service_sections():
        location = ini_option("alembic.ini", section, "script_location")
        assert location.split("/")[0] in image_packages(), f"{section}: {location}"
    knowledge = ai_worker.knowledge.DEFAULT_KB_DIR.relative_to(ROOT)
    assert knowledge.parts[0] in image_packages(), f"the knowledge base {knowledge} is left out"


def test_image_runs_as_uid_10001_without_secrets() -> None:
    assert image_user() == "10001", "the runtime stage must run as uid 10001, not root"
    runtime_env = env_assignments(final_stage())
    assert runtime_env.get("PYTHONUNBUFFERED") == "1"
    assert runtime_env.get("PYTHONDONTWRITEBYTECODE") == "1"
    secretive = [k for k in env_assignments() if re.search(r"SECRET|PASSWORD|API_KEY|TOKEN", k)]
    assert not secretive, f"the Dockerfile sets secrets: {secretive}"


def test_image_installs_locked_runtime_dependencies_only() -> None:
    """The builder asks pip for [project].dependencies constrained to requirements.lock: every
    package it can pull must be pinned there, and none of the dev tools is among them."""
    runs = " ".join(i.arguments for i in dockerfile() if i.keyword == "RUN")
    assert "--constraint requirements.lock" in runs
    closure = runtime_dependency_closure()
    unpinned = closure - locked_names()
    assert not unpinned, f"runtime dependencies missing from requirements.lock: {unpinned}"
    assert not closure & DEV_ONLY_TOOLS, f"dev tools in the runtime closure: {closure}"
    assert locked_names() >= DEV_ONLY_TOOLS, "the lock is expected to pin the dev tools too"


# --- Kubernetes


def test_kubernetes_version_is_bundled() -> None:
    assert K8S_VERSION in kubernetes_validate.utils.all_versions()


def test_strict_validation_rejects_unknown_fields() -> None:
    """Guard for the check below: strict mode is what catches misspelt or misplaced fields."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    assert validation_problem(namespace) is None
    assert validation_problem({**namespace, "spec": {"replica": 1}}) is not None


@pytest.mark.parametrize(
    ("path", "obj"),
    K8S_OBJECTS,
    ids=[f"{p.relative_to(K8S)}:{o.get('kind')}/{o['metadata']['name']}" for p, o in K8S_OBJECTS],
)
def test_k8s_object_is_valid(path: Path, obj: Doc) -> None:
    problem = validation_problem(obj)
    assert problem is None, f"{path.relative_to(ROOT)}: {obj['kind']}: {problem}"


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_overlay_patches_apply_and_stay_valid(overlay: Path) -> None:
    for obj in build_kustomization(overlay):
        problem = validation_problem(obj)
        assert problem is None, f"{overlay.name}: {obj['kind']} {obj['metadata']}: {problem}"


def test_small_overlay_runs_one_replica_each() -> None:
    objects = build_kustomization(K8S / "overlays" / "small")
    autoscaled = {
        o["spec"]["scaleTargetRef"]["name"]: o
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        if name in autoscaled:
            assert "replicas" not in deployment["spec"], f"{name}: the HPA owns replicas"
            assert autoscaled[name]["spec"]["minReplicas"] == 1, name
        else:
            assert deployment["spec"]["replicas"] == 1, name


def test_kustomization_paths_exist() -> None:
    assert kustomization_files(), f"no kustomization under {K8S}"
    for path in kustomization_files():
        config = load_yaml(path)
        listed = [path.parent / entry for entry in config.get("resources", [])]
        listed += [path.parent / entry for entry in config.get("components", [])]
        listed += patch_paths(path.parent, config)
        for entry in listed:
            assert entry.exists(), f"{path.relative_to(ROOT)} lists {entry}, which is missing"
            if entry.is_dir():
                kustomization(entry)


def test_every_manifest_is_a_kustomize_resource() -> None:
    listed = {
        (path.parent / entry).resolve()
        for path in kustomization_files()
        for entry in load_yaml(path).get("resources", [])
    }
    for path in manifest_files():
        assert path.resolve() in listed, f"{path.relative_to(ROOT)} is in no kustomization"


def test_k8s_workloads_run_every_process() -> None:
    modules = [python_module(c.get("command"), where) for where, _, c in containers()]
    for module in modules:
        assert runnable_module_problem(module) is None, runnable_module_problem(module)
    assert sorted(modules) == sorted([*local_modules(), MIGRATIONS_MODULE])


def test_migration_job_is_one_shot() -> None:
    (job,) = objects_of("Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == MIGRATIONS_MODULE
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_pods_run_locked_down_as_the_image_user() -> None:
    image_uid = int(image_user())
    for where, pod, container in containers():
        security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        assert security.get("runAsNonRoot") is True, where
        assert security.get("runAsUser") == image_uid, where
        assert security.get("allowPrivilegeEscalation") is False, where
        assert security.get("readOnlyRootFilesystem") is True, where
        assert security.get("capabilities", {}).get("drop") == ["ALL"], where
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert "emptyDir" in volumes.get(mounts.get("/tmp", ""), {}), f"{where}: no /tmp"


def test_containers_have_requests_and_limits() -> None:
    for where, _, container in containers():
        resources = container["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"
        request = memory_bytes(resources["requests"]["memory"])
        limit = memory_bytes(resources["limits"]["memory"])
        assert request <= limit <= 512 * 2**20, f"{where}: memory {request} .. {limit}"


def test_containers_read_the_config_map_and_secret() -> None:
    config_maps = {o["metadata"]["name"] for o in objects_of("ConfigMap")}
    secrets = {o["metadata"]["name"] for o in objects_of("Secret")}
    for where, _, container in containers():
        sources = container.get("envFrom", [])
        refs = {s["configMapRef"]["name"] for s in sources if "configMapRef" in s}
        assert refs == config_maps, where
        assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} == secrets, where


def test_gateway_probes() -> None:
    (gateway,) = [c for _, _, c in containers() if c["command"][-1] == "gateway"]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/api/ready"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/api/health"


def test_portless_services_have_an_exec_liveness_probe() -> None:
    for where, pod, container in containers():
        if container.get("ports") or pod.get("restartPolicy") in {"Never", "OnFailure"}:
            continue
        assert "exec" in container.get("livenessProbe", {}), f"{where}: no exec livenessProbe"
        assert "readinessProbe" not in container, f"{where}: readiness is the gateway's job"


def test_http_probe_paths_are_gateway_routes() -> None:
    for where, _, probe in probes():
        if "httpGet" in probe:
            path = probe["httpGet"]["path"]
            assert gateway_serves(path), f"{where}: no gateway route for GET {path}"


def test_exec_probes_compile() -> None:
    for where, _, probe in probes():
        code = python_code_in(probe.get("exec", {}).get("command"))
        if "exec" in probe:
            assert code is not None, f"{where}: exec probes here are `python -c <code>`"
            compile(code, where, "exec")


def test_probe_ports_are_container_ports() -> None:
    for where, container, probe in probes():
        handler = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
        if handler is None:
            continue
        declared = {p["containerPort"] for p in container.get("ports", [])}
        declared |= {p["name"] for p in container.get("ports", []) if "name" in p}
        assert handler["port"] in declared, f"{where}: port {handler['port']} not in {declared}"


def test_gateway_service_targets_the_gateway_port() -> None:
    service = one_object("Service", "gateway")
    selector = service["spec"]["selector"]
    selected = [
        doc
        for doc in objects_of("Deployment")
        if selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert [d["metadata"]["name"] for d in selected] == ["gateway"]
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    container_ports = selected[0]["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert any(port["targetPort"] in (p.get("name"), p["containerPort"]) for p in container_ports)
    assert 8000 in [p["containerPort"] for p in container_ports]


def test_autoscalers_target_deployments_with_cpu_requests() -> None:
    autoscalers = objects_of("HorizontalPodAutoscaler")
    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers}
    assert targets == {"gateway", "ai-worker"}
    for name in targets:
        deployment = one_object("Deployment", name)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert "cpu" in container["resources"]["requests"], f"{name}: HPA needs a cpu request"
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns replicas"


def test_config_map_and_secret_keys_are_settings() -> None:
    for doc in objects_of("ConfigMap") + objects_of("Secret"):
        keys = set(doc.get("data", {})) | set(doc.get("stringData", {}))
        unknown = keys - setting_names()
        assert not unknown, f"{doc['kind']} {doc['metadata']['name']}: unknown {unknown}"


def test_container_env_names_are_settings() -> None:
    for where, _, container in containers():
        unknown = {e["name"] for e in container.get("env", [])} - setting_names()
        assert not unknown, f"{where}: unknown variables {unknown}"


def test_k8s_settings_are_accepted_by_every_settings_class() -> None:
    """The ConfigMap plus each container's own env, as every settings class reads them."""
    (config,) = objects_of("ConfigMap")
    for where, _, container in containers():
        values = {**config["data"], **{e["name"]: e.get("value") for e in container.get("env", [])}}
        for settings in settings_classes():
            fields = {k.lower(): v for k, v in values.items() if k.lower() in settings.model_fields}
            if "jwt_secret" in settings.model_fields:
                fields["jwt_secret"] = "a-valid-secret-of-more-than-32-characters"
            try:
                settings(_env_file=None, **fields)
            except ValidationError as exc:
                pytest.fail(f"{where}: {settings.__name__} refuses the settings: {exc}")


def test_secret_holds_only_placeholders() -> None:
    for secret in objects_of("Secret"):
        for key, value in secret.get("stringData", {}).items():
            assert "REPLACE-ME" in value, f"Secret {key} is not an obvious placeholder"
        assert "data" not in secret, "base64 data hides what is committed; use stringData"


def test_jwt_secret_placeholder_is_refused_in_production() -> None:
    """Forgetting to replace it stops the gateway and users service instead of running open."""
    (secret,) = objects_of("Secret")
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        AuthSettings(
            _env_file=None, environment="production", jwt_secret=secret["stringData"]["JWT_SECRET"]
        )
