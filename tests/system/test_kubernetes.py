"""deploy/kubernetes renders, and what it renders agrees with the settings and the contract.

No cluster: `kubectl kustomize` renders the objects, which are read as data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from authgate.process.settings import Settings, split_address

from toolchain import ROOT, run, tool

KUSTOMIZATION = ROOT / "deploy" / "kubernetes"
SETTINGS = {f.metadata["env"]: f for f in dataclasses.fields(Settings)}
CONTAINERFILE = (ROOT / "Containerfile").read_text()
ROUTES = yaml.safe_load((ROOT / "openapi" / "authgate.yaml").read_text())["paths"]


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    """Every rendered object by kind (each kind appears once)."""
    kubectl = tool("kubectl", "install Debian's kubectl, or kustomize's kubectl build")
    result = run([kubectl, "kustomize", str(KUSTOMIZATION)])
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    by_kind = {doc["kind"]: doc for doc in rendered}
    assert len(by_kind) == len(rendered), "one object of each kind"
    return by_kind


def pod_spec(objects: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    return objects[kind]["spec"]["template"]["spec"]


def container(objects: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    (only,) = pod_spec(objects, kind)["containers"]
    return only


def env_values(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in spec.get("env", [])}


def setting_value(spec: dict[str, Any], variable: str) -> Any:
    """What the container's AUTHGATE_* variable sets, or the setting's default."""
    item = env_values(spec).get(variable)
    if item is None:
        return SETTINGS[variable].default
    return getattr(Settings.from_env({variable: item["value"]}), SETTINGS[variable].name)


def test_it_renders_the_deployment_service_budget_and_job(objects):
    assert set(objects) == {"Deployment", "Service", "PodDisruptionBudget", "Job"}
    assert objects["Deployment"]["spec"]["replicas"] == 2


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_every_authgate_variable_is_a_setting(objects, kind):
    named = [name for name in env_values(container(objects, kind)) if name.startswith("AUTHGATE_")]
    assert named and set(named) <= set(SETTINGS), set(named) - set(SETTINGS)


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_secrets_come_from_a_secret_reference(objects, kind):
    env = env_values(container(objects, kind))
    for variable in ("AUTHGATE_DATABASE_URL", "AUTHGATE_KEY_ENCRYPTION_KEY"):
        assert "value" not in env[variable]
        assert env[variable]["valueFrom"]["secretKeyRef"]["name"] == "authgate"
    if kind == "Deployment":
        assert "secretKeyRef" in env["AUTHGATE_REDIS_URL"]["valueFrom"]


def test_the_server_listens_on_every_address_at_the_container_ports(objects):
    server = container(objects, "Deployment")
    ports = {port["name"]: port["containerPort"] for port in server["ports"]}
    for name, variable in (("http", "AUTHGATE_HTTP_ADDR"), ("grpc", "AUTHGATE_GRPC_ADDR")):
        host, port = split_address(setting_value(server, variable))
        assert (host, port) == ("0.0.0.0", ports[name])


def test_the_service_names_both_doors(objects):
    server = container(objects, "Deployment")
    ports = {port["name"]: port for port in objects["Service"]["spec"]["ports"]}
    assert set(ports) == {"http", "grpc"}
    assert ports["grpc"]["appProtocol"] == "grpc"
    container_ports = {port["name"] for port in server["ports"]}
    assert {port["targetPort"] for port in ports.values()} <= container_ports


def test_probes_ask_both_doors_at_routes_that_exist(objects):
    server = container(objects, "Deployment")
    ports = {port["name"]: port["containerPort"] for port in server["ports"]}
    http_paths = {
        server[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
        if "httpGet" in server[probe]
    }
    assert http_paths == {"/healthz", "/readyz"}
    assert all("get" in ROUTES[path] for path in http_paths)
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["grpc"]["port"] == ports["grpc"]


def test_termination_grace_outlasts_the_pause_and_the_drain(objects):
    server = container(objects, "Deployment")
    pause = server["lifecycle"]["preStop"]
    seconds = pause["sleep"]["seconds"] if "sleep" in pause else int(pause["exec"]["command"][-1])
    drain = setting_value(server, "AUTHGATE_SHUTDOWN_GRACE_SECONDS")
    grace = pod_spec(objects, "Deployment")["terminationGracePeriodSeconds"]
    assert seconds > 0 and grace > seconds + drain


def test_the_job_migrates_and_the_servers_do_not(objects):
    # The image's entrypoint is `authgate`: the arguments name the command.
    assert 'ENTRYPOINT ["/opt/authgate/bin/authgate"]' in CONTAINERFILE
    job = container(objects, "Job")
    assert "command" not in job and job["args"] == ["migrate"]
    assert container(objects, "Deployment")["args"] == ["serve"]
    assert setting_value(container(objects, "Deployment"), "AUTHGATE_MIGRATE_ON_START") is False


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_run_locked_down(objects, kind):
    pod = pod_spec(objects, kind)
    spec = container(objects, kind)
    context = {**pod["securityContext"], **spec["securityContext"]}
    assert context["runAsNonRoot"] is True and context["runAsUser"] > 0
    assert f"USER {context['runAsUser']}:" in CONTAINERFILE  # the image's own user
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_the_data_directory_is_a_volume(objects, kind):
    spec = container(objects, kind)
    mounts = {mount["mountPath"]: mount["name"] for mount in spec["volumeMounts"]}
    data_dir = str(setting_value(spec, "AUTHGATE_DATA_DIR"))
    volumes = {volume["name"]: volume for volume in pod_spec(objects, kind)["volumes"]}
    assert "emptyDir" in volumes[mounts[data_dir]]


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_resources_are_requested_and_limited(objects, kind):
    resources = container(objects, kind)["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_the_budget_keeps_a_replica_serving(objects):
    budget = objects["PodDisruptionBudget"]["spec"]
    labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert budget["minAvailable"] >= 1
    assert budget["selector"]["matchLabels"].items() <= labels.items()
