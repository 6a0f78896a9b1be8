"""The container image, checked without Docker: what the Dockerfile builds from, copies from the
build context (past ``.dockerignore``), installs, and runs as."""

import re

from support.manifests import (
    DEV_ONLY_TOOLS,
    ROOT,
    copy_sources,
    dockerfile,
    dockerignore_patterns,
    dockerignored,
    env_assignments,
    final_stage,
    image_packages,
    image_user,
    ini_option,
    locked_names,
    runtime_dependency_closure,
)


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
