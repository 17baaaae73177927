"""A trained model evaluated on a backend, for ``qspec monitor``: metrics per prediction.

``evaluate_classifier`` runs a classifier's logical circuit (QPY, from the registered model) on new
labelled rows on any target, through the same evaluator a training on that target uses (so a
``fake:<device>`` evaluation is that device's noise, transpiled to it); ``evaluate_energy``
re-estimates a VQE model's energy. Each returns the metrics monitoring compares (accuracy, mean
confidence, loss; energy, energy error) with the latency, shots and cost of one prediction, and
the device the evaluation ran on (its calibration, for the report).

``monitor_backend`` is the backend of a monitored target: the version's own backend (shots, seed,
optimization level) with another target; ``properties`` replaces a fake device's calibration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from qspec.errors import QspecError
from qspec.quantum.result import DeviceInfo, Preprocessing
from qspec.spec.models import BackendSpec


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation measured; ``metrics`` are named as the spec's monitoring block names them."""

    metrics: dict[str, float]
    device: DeviceInfo
    rows: int
    seconds: float


def monitor_backend(trained: BackendSpec, target: str | None) -> BackendSpec:
    """The version's backend with ``target`` (None: its own). A noise block belongs to aer, so it is
    kept only when the target stays aer; a bad target string is a ``QspecError`` with the targets' usage."""
    from pydantic import ValidationError

    if target is None or target == trained.target:
        return trained
    data = trained.model_dump(by_alias=True, exclude_none=True)
    data["target"] = target
    if not target.startswith("aer"):
        data.pop("noise", None)
    try:
        return BackendSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise QspecError(f"--target {target}: {first['msg']}",
                         hint="give aer, fake:<device> (e.g. fake:manila) or ibm:<device>") from None


def check_calibration_target(backend: BackendSpec) -> None:
    """A calibration snapshot replaces a fake device's: any other target is a ``QspecError``."""
    if backend.kind != "fake":
        raise QspecError(f"--calibration applies to fake:<device> targets, not {backend.target}",
                         hint="monitor with --target fake:<device> --calibration FILE")


def _open(backend: BackendSpec, qubits: int, properties: dict[str, Any] | None) -> Any:
    from qspec.quantum.backends import device_noise_backend, open_backend

    if properties is None:
        return open_backend(backend, qubits)
    check_calibration_target(backend)
    return device_noise_backend(backend, qubits, backend.target.removeprefix("fake:"),
                                provider=backend.plugin.provider, properties=properties)


def _run(backend: Any, circuits: Any, features: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Expectation values of every row, the seconds they took and the shots they used."""
    from qspec.quantum.backends import make_evaluator

    evaluator = make_evaluator(backend, circuits)  # transpiles once, as serving would
    rows = max(len(features), 1)
    index = np.arange(rows) if len(features) else np.zeros(1, dtype=np.int64)
    start = time.perf_counter()
    values = evaluator.expectations(features, np.tile(theta, (rows, 1)), index)
    return np.asarray(values, dtype=float), time.perf_counter() - start, int(evaluator.shots_used)


def _costs(backend: Any, rows: int, seconds: float, shots: int) -> dict[str, float]:
    spec: BackendSpec = backend.spec
    qpu = seconds if spec.plugin.hardware else 0.0  # a local simulator is free
    return {"latency_ms": 1000.0 * seconds / rows, "shots": shots / rows,
            "cost_usd": qpu * spec.price_per_second / rows}


def evaluate_classifier(circuit: Any, parameters: Any, preprocessing: Preprocessing, raw: Any, labels: np.ndarray,
                        backend: BackendSpec, *, properties: dict[str, Any] | None = None,
                        loss: str = "cross_entropy") -> Evaluation:
    """Accuracy, mean confidence (the mean probability of the predicted class), the data loss (``loss``
    through the model's own readout, as training computes it, without the L2 term), and
    latency/shots/cost per prediction of raw rows labelled 0/1. ``parameters`` are the model's: the
    circuit weights, then the logistic output's scale and bias when it has one."""
    from qspec.monitor.verdict import mean_confidence
    from qspec.quantum.predict import load_circuit, model_circuits, split_parameters, weight_values
    from qspec.quantum.readout import LossHead, Readout

    logical = load_circuit(circuit)
    circuits = model_circuits(logical)
    link, output, weights = split_parameters(logical, parameters)
    readout = Readout(link.link, (), tuple(zip(("scale", "bias")[:len(output)], output, strict=True)))  # no L2 term
    theta = weight_values(circuits, weights)
    inputs = np.asarray(preprocessing.apply(raw), dtype=float)
    opened = _open(backend, circuits.num_qubits, properties)
    values, seconds, shots = _run(opened, circuits, inputs, theta)
    value, _, _, head = LossHead(np.asarray(labels), readout, loss)(values, np.zeros(0))
    p1 = readout.probability(values, readout.stored(()))
    metrics = {"accuracy": head["train_accuracy"], "mean_confidence": mean_confidence([float(p) for p in p1]) or 0.0,
               "loss": value, **_costs(opened, len(values), seconds, shots)}
    return Evaluation(metrics, opened.info, len(values), seconds)


def evaluate_energy(circuit: Any, parameters: Any, terms: dict[str, float], constant: float, backend: BackendSpec,
                    *, properties: dict[str, Any] | None = None, ground_energy: float | None = None) -> Evaluation:
    """The energy of a trained VQE circuit on ``backend``, its error against the exact ground energy
    (``ground_energy``, the one the training run logged; else computed as training does, when the
    qubits allow), and latency/shots/cost of the estimate."""
    from qiskit.quantum_info import SparsePauliOp

    from qspec.quantum.estimate import EXACT_GROUND_MAX_QUBITS
    from qspec.quantum.predict import load_circuit, model_circuits, weight_values
    from qspec.quantum.training import exact_ground_state

    operator = SparsePauliOp.from_list(sorted(terms.items()))
    circuits = model_circuits(load_circuit(circuit), operator, constant)
    theta = weight_values(circuits, parameters)
    opened = _open(backend, circuits.num_qubits, properties)
    values, seconds, shots = _run(opened, circuits, np.zeros((0, 0)), theta)
    energy = float(values[0]) + constant
    metrics = {"energy": energy, **_costs(opened, 1, seconds, shots)}
    if ground_energy is not None:
        metrics["energy_error"] = abs(energy - ground_energy)
    elif circuits.num_qubits <= EXACT_GROUND_MAX_QUBITS:
        metrics["energy_error"] = abs(energy - exact_ground_state(circuits)[0])
    return Evaluation(metrics, opened.info, 1, seconds)


def device_properties(target: str) -> dict[str, Any]:
    """A fake device's calibration snapshot as a plain dict (JSON-ready): what ``--calibration``
    takes, for a researcher (or a test) to edit."""
    import json

    from qiskit_ibm_runtime.fake_provider.backend_encoder import BackendEncoder

    from qspec.quantum.backends import fake_backend

    device = fake_backend(target.removeprefix("fake:"))
    data: dict[str, Any] = json.loads(json.dumps(device.properties().to_dict(), cls=BackendEncoder))
    return data
