"""``qspec render``: the Kubernetes manifests validate against the Kubernetes OpenAPI schemas
(``kubernetes-validate``, strict: unknown fields refused), the compose file against the compose
specification (``compose-spec``); both run the one command and environment ``qspec serve`` runs."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from qspec.serving.config import ServedStage, serve_command, serving_env
from qspec.serving.render import compose, cpu_cores, kubernetes, memory_bytes, render
from qspec.spec.models import ServingSpec
from tests.spec.test_validate import DEPLOYMENT, EXPERIMENT, MODEL, edit

KUBERNETES_VERSIONS = ("1.30", "1.37")


def stage(serving: dict[str, object], name: str = "production") -> ServedStage:
    return ServedStage("iris-classifier", "iris-classifier", name, ServingSpec.model_validate(serving, strict=False),
                       "specs/iris.yaml")


ISSUE = {"target": "aer", "shots": 1024, "replicas": {"min": 1, "max": 5}, "resources": {"cpu": "2", "memory": "4Gi"}}
SERVINGS = {
    "the issue's example": ISSUE,
    "fixed replicas, millicores": {"target": "fake:manila", "shots": 4096, "replicas": {"min": 3, "max": 3},
                                   "resources": {"cpu": "500m", "memory": "512Mi"}},
    "exact, no resources": {"target": "aer", "shots": None},
    "decimal memory, fractional cpu": {"replicas": {"min": 2, "max": 10}, "resources": {"cpu": 0.25, "memory": "1G"}},
}


@pytest.mark.parametrize("case", list(SERVINGS), ids=list(SERVINGS))
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_against_the_kubernetes_schemas(case: str, version: str) -> None:
    docs = kubernetes(stage(SERVINGS[case]))
    for doc in docs:
        # through YAML, as kubectl reads the rendered file
        kubernetes_validate.validate(yaml.safe_load(yaml.safe_dump(doc)), version, strict=True)
    kinds = [d["kind"] for d in docs]
    replicas = SERVINGS[case].get("replicas", {"min": 1, "max": 1})
    assert isinstance(replicas, dict)
    if replicas["max"] > replicas["min"]:
        assert kinds == ["Deployment", "Service", "HorizontalPodAutoscaler"]
        hpa = docs[2]["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (replicas["min"], replicas["max"])
        assert hpa["scaleTargetRef"]["name"] == docs[0]["metadata"]["name"]
        assert "replicas" not in docs[0]["spec"]  # the autoscaler owns it
    else:
        assert kinds == ["Deployment", "Service"]
        assert docs[0]["spec"]["replicas"] == replicas["min"]


def test_the_schema_check_can_fail() -> None:
    """The validator is not a no-op: a misspelt field and a wrong type are refused."""
    deployment = kubernetes(stage(ISSUE))[0]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["replica"] = 2
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    for bad in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, "1.30", strict=True)


def test_the_container_runs_the_serve_command_with_the_serving_env_and_no_inline_credentials() -> None:
    served = stage(ISSUE)
    deployment, service, _ = kubernetes(served, image="registry.example/qspec:1", secret="mlflow-creds")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/qspec:1"
    assert container["command"] == serve_command(served, host="0.0.0.0", port=8080)
    assert container["command"][:6] == ["mlflow", "models", "serve", "-m", "models:/iris-classifier@production", "-h"]
    assert container["command"][-2:] == ["--env-manager", "local"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MLFLOW_TRACKING_URI"] == {"name": "MLFLOW_TRACKING_URI", "valueFrom": {
        "secretKeyRef": {"name": "mlflow-creds", "key": "MLFLOW_TRACKING_URI"}}}
    assert {k: v["value"] for k, v in env.items() if "value" in v} == serving_env(served) == {
        "QSPEC_SERVING_TARGET": "aer", "QSPEC_SERVING_SHOTS": "1024"}
    declared = {"cpu": "2", "memory": "4Gi"}
    assert container["resources"] == {"requests": declared, "limits": declared}
    assert container["readinessProbe"]["httpGet"]["path"] == "/ping"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert serving_env(stage({"shots": None}))["QSPEC_SERVING_SHOTS"] == "exact"


def test_names_are_dns_labels_whatever_the_stage() -> None:
    docs = kubernetes(stage(ISSUE, name="_Canary_2"))
    name = docs[0]["metadata"]["name"]
    assert name == "iris-classifier-canary-2"
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30", strict=True)


def test_compose_file_follows_the_compose_specification() -> None:
    from compose_spec import PyCompose

    served = stage(SERVINGS["fixed replicas, millicores"])
    text = render(served, "compose", image="qspec:test")
    parsed = PyCompose.from_yaml(text)  # the compose specification, strictly: unknown keys refused
    assert parsed.service_names() == ["iris-classifier-production"]
    service = yaml.safe_load(text)["services"]["iris-classifier-production"]
    assert service["command"] == serve_command(served, host="0.0.0.0", port=8080)
    assert service["environment"]["QSPEC_SERVING_TARGET"] == "fake:manila"
    assert service["environment"]["QSPEC_SERVING_SHOTS"] == "4096"
    assert service["environment"]["MLFLOW_TRACKING_URI"].startswith("${MLFLOW_TRACKING_URI:?")
    assert service["deploy"]["replicas"] == 3 and "ports" not in service
    assert service["deploy"]["resources"]["limits"] == {"cpus": "0.5", "memory": str(512 * 2**20)}
    single = compose(stage(ISSUE))["services"]["iris-classifier-production"]
    assert single["ports"] == ["8080:8080"]
    with pytest.raises(ValueError, match="does not start with"):
        PyCompose.from_yaml(text.replace("interval:", "intervall:"))  # the check can fail


def test_quantity_conversions() -> None:
    assert memory_bytes("4Gi") == 4 * 2**30 and memory_bytes("1G") == 10**9 and memory_bytes("1024") == 1024
    assert cpu_cores("500m") == "0.5" and cpu_cores("2") == "2" and cpu_cores("0.25") == "0.25"


SERVED_DEPLOYMENT = edit(DEPLOYMENT, "staging: {track: HEAD}",
                         "staging: {track: HEAD, serving: {shots: 256, replicas: {min: 1, max: 3}, "
                         "resources: {cpu: 250m}}}")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "iris.yaml").write_text("---\n".join([EXPERIMENT, MODEL, SERVED_DEPLOYMENT]))
    return tmp_path


def test_render_command_writes_stdout_or_a_file(run_cli, repo: Path) -> None:
    out = run_cli("render", "iris-classifier", "--stage", "staging", cwd=repo)
    assert out.code == 0, out.err
    docs = list(yaml.safe_load_all(out.out))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30", strict=True)
    written = run_cli("render", "iris-classifier", "--stage", "staging", "--format", "compose",
                      "--out", str(repo / "deploy" / "compose.yaml"), cwd=repo)
    assert written.code == 0 and written.out == ""
    assert "serving models:/iris-classifier@staging" in written.err
    assert "QSPEC_SERVING_SHOTS: '256'" in (repo / "deploy" / "compose.yaml").read_text()


@pytest.mark.parametrize(("args", "message", "hint"), [
    (("iris-clasifier",), "no Deployment named 'iris-clasifier'", "did you mean 'iris-classifier'"),
    (("iris-classifier", "--stage", "stagin"), "has no stage 'stagin'", "did you mean 'staging'"),
    (("iris-classifier",), "stage 'production' of Deployment 'iris-classifier' declares no serving block",
     "serving: {target: aer"),
    (("iris-classifier", "--format", "helm"), "Invalid value for '--format'", None),
])
def test_render_errors_exit_1_with_a_hint(run_cli, repo: Path, args: tuple[str, ...], message: str,
                                         hint: str | None) -> None:
    result = run_cli("render", *args, cwd=repo)
    assert result.code == 1
    assert message in result.err and "Traceback" not in result.err
    if hint is not None:
        assert "hint: " in result.err and hint in result.err.split("hint: ", 1)[1]


def test_an_ibm_target_reads_its_token_from_a_secret_never_inline() -> None:
    served = stage({"target": "ibm:ibm_torino", "shots": 4096})
    container = kubernetes(served)[0]["spec"]["template"]["spec"]["containers"][0]
    token = [e for e in container["env"] if e["name"] == "QISKIT_IBM_TOKEN"]
    assert token == [{"name": "QISKIT_IBM_TOKEN", "valueFrom": {
        "secretKeyRef": {"name": "qspec-ibm-quantum", "key": "QISKIT_IBM_TOKEN"}}}]
    kubernetes_validate.validate(kubernetes(served)[0], "1.30", strict=True)
    environment = compose(served)["services"]["iris-classifier-production"]["environment"]
    assert environment["QISKIT_IBM_TOKEN"].startswith("${QISKIT_IBM_TOKEN:?")
    assert not [e for e in kubernetes(stage(ISSUE))[0]["spec"]["template"]["spec"]["containers"][0]["env"]
                if e["name"] == "QISKIT_IBM_TOKEN"]


def test_the_dockerfile_builds_the_image_the_manifests_name() -> None:
    # No image registry is reachable here, so the image itself is not built in the tests: this keeps
    # the Dockerfile and the rendered manifests agreeing on the tag, the port and what is installed.
    from qspec.serving.config import CONTAINER_PORT
    from qspec.serving.render import DEFAULT_IMAGE

    text = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text(encoding="utf-8")
    assert f"docker build -t {DEFAULT_IMAGE} ." in text
    assert f"EXPOSE {CONTAINER_PORT}" in text
    assert "pip install --no-cache-dir ." in text and "COPY qspec ./qspec" in text
