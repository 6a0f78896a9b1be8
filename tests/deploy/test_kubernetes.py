"""The manifests under ``deploy/k8s``, checked without kubectl or a network: every object against
the Kubernetes schemas bundled with kubernetes-validate (strict), the overlays with their patches
applied, and every command, probe, port and setting they name against the code itself."""

import ast
from pathlib import Path

import kubernetes_validate
import pytest
from pydantic import ValidationError

from servicekit.settings import AuthSettings
from support.manifests import (
    K8S,
    K8S_OBJECTS,
    K8S_VERSION,
    MIGRATIONS_MODULE,
    OVERLAYS,
    ROOT,
    SKIPPING_CALLS,
    Doc,
    build_kustomization,
    containers,
    gateway_serves,
    image_user,
    kustomization,
    kustomization_files,
    load_yaml,
    local_modules,
    manifest_files,
    memory_bytes,
    objects_of,
    one_object,
    patch_paths,
    probes,
    python_code_in,
    python_module,
    runnable_module_problem,
    setting_names,
    settings_classes,
    validation_problem,
)


def test_no_test_here_skips() -> None:
    """Each check either passes or fails: no skip, skipif, importorskip or xfail in the
    Compose, image and Kubernetes tests, nor in the module they share."""
    here = Path(__file__).parent
    files = [here / f"test_{subject}.py" for subject in ("compose", "image", "kubernetes")]
    found = [
        f"{path.name} line {node.lineno}: {node.attr}"
        for path in [*files, ROOT / "tests" / "support" / "manifests.py"]
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in SKIPPING_CALLS
    ]
    assert not found, f"tests here must not skip: {found}"


def test_parametrized_inputs_are_not_empty() -> None:
    """pytest skips a test whose parameter list is empty; fail instead."""
    assert K8S_OBJECTS, f"no Kubernetes objects found under {K8S}"
    assert OVERLAYS, f"no kustomize overlays found under {K8S / 'overlays'}"


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
