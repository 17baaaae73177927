"""The deploy configuration of a served stage: Kubernetes manifests or a compose file, as plain dicts.

Pure: a ``ServedStage`` (the Deployment's stage and its ``serving`` block), the image and the name of
the Secret that holds the tracking URI in, dicts out; ``qspec render`` writes them as YAML. The
container runs ``serve_command`` with ``serving_env`` (``qspec.serving.config``), the same command and
environment ``qspec serve`` runs locally. The tracking URI (which may carry credentials) is never
written into a manifest: Kubernetes reads it from a Secret (``secretKeyRef``), compose from the
environment of whoever runs ``docker compose up``; so does an ``ibm:`` target's token
(``QISKIT_IBM_TOKEN``, from the Secret ``qspec-ibm-quantum``).

Kubernetes: an ``apps/v1`` Deployment (``replicas.min`` replicas when fixed; requests = limits = ``resources``;
readiness on ``/ping`` and liveness on ``/health``, the routes ``mlflow models serve`` answers), a
``v1`` Service on the container port, and an ``autoscaling/v2`` HorizontalPodAutoscaler between
``replicas.min`` and ``replicas.max`` on CPU utilization; with ``min == max`` there is nothing to
scale and no autoscaler is written.
"""

from __future__ import annotations

import re
from typing import Any

from qspec import __version__
from qspec.serving.config import CONTAINER_PORT, ServedStage, serve_command, serving_env

#: The image the manifests run when ``--image`` is not given: one with qspec installed (which
#: brings mlflow, Qiskit and Aer), as ``pip install qspec`` makes it.
DEFAULT_IMAGE = f"qspec:{__version__}"
#: The Secret (and key) that holds ``MLFLOW_TRACKING_URI`` for the pods.
DEFAULT_SECRET = "qspec-tracking"
SECRET_KEY = "MLFLOW_TRACKING_URI"
#: An ``ibm:`` target's token: the Secret (and key) the pods read it from, the variable compose reads.
IBM_SECRET = "qspec-ibm-quantum"
IBM_TOKEN = "QISKIT_IBM_TOKEN"
#: The CPU utilization the autoscaler keeps the replicas at, in percent of the request.
TARGET_CPU_UTILIZATION = 70

FORMATS = ("kubernetes", "compose")


def resource_name(served: ServedStage) -> str:
    """A DNS-1035 label for the stage's objects: ``iris-classifier-production``."""
    name = re.sub(r"[^a-z0-9]+", "-", f"{served.model}-{served.stage}".lower())
    if not name[:1].isalpha():
        name = "m-" + name
    return name[:63].strip("-")


def labels(served: ServedStage) -> dict[str, str]:
    def value(text: str) -> str:  # a label value: alphanumerics, '-', '_', '.', at most 63
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63].strip("-_.") or "x"

    return {"app.kubernetes.io/name": value(served.model), "app.kubernetes.io/instance": resource_name(served),
            "app.kubernetes.io/managed-by": "qspec", "qspec/stage": value(served.stage)}


def _on_ibm(served: ServedStage) -> bool:
    return served.serving.target.startswith("ibm:")


def _resources(served: ServedStage) -> dict[str, dict[str, str]]:
    declared = {k: v for k, v in (("cpu", served.serving.resources.cpu),
                                  ("memory", served.serving.resources.memory)) if v is not None}
    # requests == limits: the scheduler reserves what a replica may use (Guaranteed QoS)
    return {"requests": dict(declared), "limits": dict(declared)} if declared else {}


def kubernetes(served: ServedStage, *, image: str = DEFAULT_IMAGE,
               secret: str = DEFAULT_SECRET) -> list[dict[str, Any]]:
    """The Deployment, Service and (when it can scale) HorizontalPodAutoscaler of the stage."""
    name, selector = resource_name(served), {"app.kubernetes.io/instance": resource_name(served)}
    meta = {"name": name, "labels": labels(served),
            "annotations": {"qspec/model-uri": served.model_uri, "qspec/deployment": served.deployment}}
    env: list[dict[str, Any]] = [
        {"name": SECRET_KEY, "valueFrom": {"secretKeyRef": {"name": secret, "key": SECRET_KEY}}},
        *({"name": k, "value": v} for k, v in serving_env(served).items()),
    ]
    if _on_ibm(served):
        env.append({"name": IBM_TOKEN, "valueFrom": {"secretKeyRef": {"name": IBM_SECRET, "key": IBM_TOKEN}}})
    container: dict[str, Any] = {
        "name": "model",
        "image": image,
        "command": serve_command(served, host="0.0.0.0", port=CONTAINER_PORT),
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": env,
        "readinessProbe": {"httpGet": {"path": "/ping", "port": "http"}, "initialDelaySeconds": 10,
                           "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "initialDelaySeconds": 60,
                          "periodSeconds": 20, "failureThreshold": 3},
    }
    resources = _resources(served)
    if resources:
        container["resources"] = resources
    replicas = served.serving.replicas
    out: list[dict[str, Any]] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
         "spec": {"replicas": replicas.min, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": labels(served)}, "spec": {"containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"type": "ClusterIP", "selector": selector,
                  "ports": [{"name": "http", "port": CONTAINER_PORT, "targetPort": "http", "protocol": "TCP"}]}},
    ]
    if replicas.max > replicas.min:
        # The autoscaler owns the replica count: a Deployment that states one would reset it on every apply.
        del out[0]["spec"]["replicas"]
        out.append({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": replicas.min, "maxReplicas": replicas.max,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization",
                                                   "averageUtilization": TARGET_CPU_UTILIZATION}}}]},
        })
    return out


_MEMORY_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
                 "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (validated by ``ResourcesSpec``) in bytes: ``4Gi`` -> 4294967296."""
    match = re.fullmatch(r"([\d.]+)([A-Za-z]*)", quantity)
    assert match is not None, quantity
    return int(float(match[1]) * _MEMORY_UNITS[match[2]])


def cpu_cores(quantity: str) -> str:
    """A Kubernetes CPU quantity as compose's ``cpus``: ``500m`` -> ``0.5``."""
    return f"{int(quantity[:-1]) / 1000:g}" if quantity.endswith("m") else f"{float(quantity):g}"


def compose(served: ServedStage, *, image: str = DEFAULT_IMAGE, port: int = CONTAINER_PORT) -> dict[str, Any]:
    """A compose file that runs the stage: ``replicas.min`` replicas (compose does not autoscale),
    limited to ``resources``, the tracking URI taken from the environment of ``docker compose up``."""
    resources: dict[str, Any] = {}
    if served.serving.resources.cpu is not None:
        resources["cpus"] = cpu_cores(served.serving.resources.cpu)
    if served.serving.resources.memory is not None:
        resources["memory"] = str(memory_bytes(served.serving.resources.memory))
    deploy: dict[str, Any] = {"replicas": served.serving.replicas.min}
    if resources:
        deploy["resources"] = {"limits": resources, "reservations": dict(resources)}
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}/ping')"
    service: dict[str, Any] = {
        "image": image,
        "command": serve_command(served, host="0.0.0.0", port=CONTAINER_PORT),
        "environment": {SECRET_KEY: f"${{{SECRET_KEY}:?set {SECRET_KEY} to the tracking server}}",
                        **serving_env(served),
                        **({IBM_TOKEN: f"${{{IBM_TOKEN}:?set {IBM_TOKEN} for {served.serving.target}}}"}
                           if _on_ibm(served) else {})},
        "labels": labels(served),
        "healthcheck": {"test": ["CMD", "python", "-c", probe], "interval": "10s", "timeout": "5s", "retries": 3,
                        "start_period": "30s"},
        "deploy": deploy,
        "restart": "unless-stopped",
    }
    # One replica publishes the port; more would clash on it, so they are reached through the network.
    if served.serving.replicas.min == 1:
        service["ports"] = [f"{port}:{CONTAINER_PORT}"]
    else:
        service["expose"] = [str(CONTAINER_PORT)]
    return {"name": resource_name(served), "services": {resource_name(served): service}}


def render(served: ServedStage, fmt: str, *, image: str = DEFAULT_IMAGE, secret: str = DEFAULT_SECRET) -> str:
    """The configuration as YAML text: the Kubernetes objects as one multi-document stream, or the compose file."""
    import yaml

    header = (f"# Rendered by qspec {__version__} from Deployment {served.deployment!r}, stage {served.stage!r}"
              f" ({served.file or 'specs'}): serves {served.model_uri}.\n"
              "# Do not edit: change the spec and render again.\n")
    if fmt == "kubernetes":
        docs = kubernetes(served, image=image, secret=secret)
        return header + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)
    if fmt == "compose":
        return header + yaml.safe_dump(compose(served, image=image), sort_keys=False)
    raise ValueError(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}")
