"""The deployment files as the tests in tests/deploy read them, without Docker, kubectl or a
network: docker-compose.yml, the Dockerfile and .dockerignore, the Kubernetes manifests and
kustomizations under deploy/k8s, and what they name in the code (modules, settings, routes,
the locked dependencies)."""

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

import kubernetes_validate
import yaml  # type: ignore[import-untyped]
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic_settings import BaseSettings
from starlette.routing import Match

from deploy.local import PROCESSES

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
