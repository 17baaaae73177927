"""Predictions from a trained model: circuit (or its QPY) + parameters + preprocessing -> outputs.

The entry point of the MLflow pyfunc that ``qspec.tracking`` packages: it loads the QPY circuit,
the trained parameters and ``Preprocessing.from_dict(...)`` and calls ``predict_classifier`` (or
``predict_energy`` for VQE models). Runs locally: exactly (numpy statevector, agreeing with Aer to
1e-10) when ``shots`` is None, else sampled with Aer's SamplerV2 seeded by ``seed``.

    labels, probabilities = predict_classifier(qpy_bytes, params, Preprocessing.from_dict(d), rows)

The parameters carry the classifier's readout: the circuit weights, then (logistic link) the output
scale and bias; a model with the weights alone predicts with the linear link (1 - <Z...Z>) / 2.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qspec.errors import QspecError
from qspec.quantum.result import Preprocessing

if TYPE_CHECKING:
    from qspec.quantum.readout import Readout


def load_circuit(circuit_or_qpy: Any) -> Any:
    """A QuantumCircuit from itself, QPY bytes, a binary file object, or a path to a ``.qpy`` file."""
    from qiskit import qpy
    from qiskit.circuit import QuantumCircuit

    if isinstance(circuit_or_qpy, QuantumCircuit):
        return circuit_or_qpy
    if isinstance(circuit_or_qpy, bytes | bytearray):
        return qpy.load(io.BytesIO(bytes(circuit_or_qpy)))[0]
    if isinstance(circuit_or_qpy, str | os.PathLike):
        with open(circuit_or_qpy, "rb") as handle:
            return qpy.load(handle)[0]
    return qpy.load(circuit_or_qpy)[0]


def predict_classifier(circuit_or_qpy: Any, parameters: Sequence[float] | Mapping[str, float] | np.ndarray,
                       preprocessing: Preprocessing, raw_rows: Any, *, shots: int | None = None,
                       seed: int | None = None, target: str | None = None) -> tuple[list[str | int], np.ndarray]:
    """Class labels (as the spec names them) and probabilities (n x 2: class 0, class 1) of raw rows.

    ``parameters`` are the trained parameters in ``TrainingResult.parameter_names`` order (the
    circuit weights, then ``output.scale`` and ``output.bias`` for the logistic link), or a mapping
    from those names. ``raw_rows`` are raw feature rows (array, list or DataFrame), which
    ``preprocessing.apply`` maps to circuit inputs exactly as in training; the readout
    (``qspec.quantum.readout``) maps <Z...Z> to p(class 1) exactly as in training. ``target`` (a
    backend target such as ``fake:manila``; None or ``aer``: the local paths) runs the circuit
    through that target's plug-in instead, as a served stage's ``serving.target`` asks.
    """
    labels, probabilities, _ = classify(circuit_or_qpy, parameters, preprocessing, raw_rows, shots=shots, seed=seed,
                                        target=target)
    return labels, probabilities


def classify(circuit_or_qpy: Any, parameters: Sequence[float] | Mapping[str, float] | np.ndarray,
             preprocessing: Preprocessing, raw_rows: Any, *, shots: int | None = None,
             seed: int | None = None, target: str | None = None) -> tuple[list[str | int], np.ndarray, np.ndarray]:
    """``predict_classifier``'s labels and probabilities, and the circuit's <Z...Z> of each row."""
    found = _first_non_finite(raw_rows, preprocessing)
    inputs = preprocessing.apply(raw_rows)
    bad = np.argwhere(~np.isfinite(np.asarray(inputs, dtype=float)))
    if found is None and len(bad):
        found = int(bad[0][0]), "?"
    if found is not None:  # NaN would read as class 0, and clipping would hide an infinity
        row, column = found
        raise QspecError(f"input row {row + 1}, column {column!r} is not a finite number",
                         hint="fill or drop rows with empty, NaN or infinite feature values")
    circuit = load_circuit(circuit_or_qpy)
    readout, output, theta = split_parameters(circuit, parameters)
    expectation = _expectations(circuit, theta, inputs, None, shots=shots, seed=seed, target=target)
    p1 = readout.probability(expectation, output)
    probabilities = np.stack([1.0 - p1, p1], axis=1)
    labels = [preprocessing.classes[int(p > 0.5)] for p in p1]
    return labels, probabilities, expectation


def split_parameters(circuit: Any, parameters: Sequence[float] | Mapping[str, float] | np.ndarray,
                     ) -> tuple[Readout, list[float], Any]:
    """A classifier model's readout, the (scale, bias) it stores (none for the linear link) and the
    circuit's weights (an array, or the mapping as given), told apart by the parameter count: the
    circuit's weights, then ``output.scale`` and ``output.bias``."""
    from qspec.quantum.circuits import WEIGHT_PREFIX
    from qspec.quantum.readout import OUTPUT_NAMES, Readout

    weights = len(_vector(circuit, WEIGHT_PREFIX))
    if isinstance(parameters, Mapping):
        output = [float(parameters[name]) for name in OUTPUT_NAMES if name in parameters]
        return Readout.of_parameters(weights + len(output), weights), output, parameters
    values = np.asarray(parameters, dtype=float).ravel()
    return Readout.of_parameters(len(values), weights), values[weights:].tolist(), values[:weights]


def predict_energy(circuit_or_qpy: Any, parameters: Sequence[float] | Mapping[str, float] | np.ndarray,
                   hamiltonian: Any, *, constant: float = 0.0, shots: int | None = None,
                   seed: int | None = None, target: str | None = None) -> float:
    """The energy <H> + constant of a trained VQE circuit; ``hamiltonian`` is a SparsePauliOp or
    a ``{label: coefficient}`` mapping as in the spec."""
    from qiskit.quantum_info import SparsePauliOp

    operator = hamiltonian if isinstance(hamiltonian, SparsePauliOp) else SparsePauliOp.from_list(
        sorted(dict(hamiltonian).items()))
    value = _expectations(load_circuit(circuit_or_qpy), parameters, None, operator, shots=shots, seed=seed,
                          target=target)
    return float(value[0]) + constant


def _expectations(circuit: Any, parameters: Any, inputs: np.ndarray | None, observable: Any, *,
                  shots: int | None, seed: int | None, target: str | None = None) -> np.ndarray:
    from qspec.quantum.backends import Backend, ExactEvaluator, SamplerEvaluator
    from qspec.quantum.result import DeviceInfo
    from qspec.spec.models import BackendSpec

    circuits = model_circuits(circuit, observable)
    theta = weight_values(circuits, parameters)
    x = np.zeros((1, 0)) if inputs is None else np.asarray(inputs, dtype=float)
    rows = max(len(x), 1)
    index = np.arange(rows) if inputs is not None else np.zeros(1, dtype=np.int64)
    if target not in (None, "aer"):
        from qspec.quantum.backends import make_evaluator, open_backend

        on_target = BackendSpec(target=target, shots=shots, seed=seed or 0)
        evaluator: Any = make_evaluator(open_backend(on_target, circuit.num_qubits), circuits)
    elif shots is None:
        evaluator = ExactEvaluator(circuits)
    else:
        from qiskit_aer import AerSimulator

        spec = BackendSpec(shots=shots, seed=seed or 0)
        runner = AerSimulator(method="statevector", seed_simulator=spec.seed)
        evaluator = SamplerEvaluator(Backend(spec, DeviceInfo("aer", "aer", None, True), runner, None, None), circuits)
    values: np.ndarray = evaluator.expectations(x, np.tile(theta, (rows, 1)), index)
    return values


def model_circuits(circuit: Any, observable: Any = None, constant: float = 0.0) -> Any:
    """The engine's ``Circuits`` of a trained model's logical circuit: its feature and weight
    parameters in the engine's order, and ``observable`` (default: the classifier's parity)."""
    from qspec.quantum.circuits import FEATURE_PREFIX, WEIGHT_PREFIX, Circuits, parity_observable

    return Circuits(circuit, _vector(circuit, FEATURE_PREFIX), _vector(circuit, WEIGHT_PREFIX),
                    observable if observable is not None else parity_observable(circuit.num_qubits), constant)


def weight_values(circuits: Any, parameters: Any) -> np.ndarray:
    """Trained weights in ``circuits.weights`` order, from an array or a mapping by name."""
    weights = circuits.weights
    if isinstance(parameters, Mapping):
        theta = np.array([float(parameters[p.name]) for p in weights])
    else:
        theta = np.asarray(parameters, dtype=float).ravel()
    if len(theta) != len(weights):
        raise ValueError(f"the circuit has {len(weights)} trained parameters, {len(theta)} given")
    return theta


def _first_non_finite(raw_rows: Any, preprocessing: Preprocessing) -> tuple[int, str] | None:
    """The row and column name of the first NaN or infinite raw feature value, if any."""
    names = list(preprocessing.feature_names or [])
    try:
        if hasattr(raw_rows, "columns") and names and set(names) <= set(raw_rows.columns):
            raw = np.asarray(raw_rows[names], dtype=float)
        else:
            raw = np.atleast_2d(np.asarray(raw_rows, dtype=float))
    except (TypeError, ValueError):
        return None
    found = np.argwhere(~np.isfinite(raw))
    if not len(found):
        return None
    r, c = (int(i) for i in found[0])
    return r, names[c] if c < len(names) else f"feature {c}"


def _vector(circuit: Any, prefix: str) -> list[Any]:
    chosen = [p for p in circuit.parameters if p.name.startswith(prefix + "[")]
    return sorted(chosen, key=lambda p: int(p.name[len(prefix) + 1:-1]))
