"""The stage a command serves, and the one configuration that serves it (command + environment).

``served_stage(specs, "iris-classifier", None)`` finds the Deployment, picks the stage (``--stage``;
else ``production`` if declared; else the only one) and its ``serving`` block, raising a
``QspecError`` with a hint for an unknown deployment or stage, or a stage without serving.
``serve_command`` and ``serving_env`` are what ``qspec render`` writes into the manifests and what
``qspec serve`` runs, so a local server is the configuration a cluster would run.
"""

from __future__ import annotations

from dataclasses import dataclass

from qspec.errors import QspecError
from qspec.spec.load import SpecSet
from qspec.spec.models import ServingSpec

#: The port ``mlflow models serve`` listens on inside a container.
CONTAINER_PORT = 8080

#: The environment variables the pyfunc reads (``qspec.tracking.pyfunc_model``).
TARGET_ENV = "QSPEC_SERVING_TARGET"
SHOTS_ENV = "QSPEC_SERVING_SHOTS"
#: ``QSPEC_SERVING_SHOTS`` of a stage served with exact expectation values (``shots: null``).
EXACT = "exact"


@dataclass(frozen=True)
class ServedStage:
    """One stage of a Deployment with its serving block: what ``render`` and ``serve`` serve."""

    deployment: str
    model: str  # the registered model (the Deployment's Model)
    stage: str  # the alias
    serving: ServingSpec
    file: str | None = None  # where the Deployment is declared

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model}@{self.stage}"


def served_stage(specs: SpecSet, deployment: str, stage: str | None) -> ServedStage:
    """The stage ``stage`` of Deployment ``deployment`` (``SpecSet.deployment_stage`` picks the default)."""
    loaded, stage = specs.deployment_stage(deployment, stage)
    spec = loaded.resource.spec
    declared = spec.stages[stage]
    if declared.serving is None:
        line = loaded.document.locate(("spec", "stages", stage))[0]
        raise QspecError(
            f"stage {stage!r} of Deployment {deployment!r} declares no serving block",
            where=f"{loaded.file}:{line}",
            hint=f"add to stages.{stage}: serving: {{target: aer, shots: 1024, replicas: {{min: 1, max: 3}}, "
                 'resources: {cpu: "1", memory: 2Gi}}')
    return ServedStage(deployment, spec.model, stage, declared.serving, loaded.file)


def serving_env(served: ServedStage) -> dict[str, str]:
    """What the pyfunc reads to run the circuit as the stage is served: the target and the shots
    (``exact`` for exact expectation values)."""
    shots = served.serving.shots
    return {TARGET_ENV: served.serving.target, SHOTS_ENV: EXACT if shots is None else str(shots)}


def serve_command(served: ServedStage, *, host: str, port: int) -> list[str]:
    """``mlflow models serve`` of the stage's alias, in the environment it runs in (no new one)."""
    return ["mlflow", "models", "serve", "-m", served.model_uri, "-h", host, "-p", str(port),
            "--env-manager", "local"]
