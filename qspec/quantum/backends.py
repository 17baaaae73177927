"""The machinery every backend target shares: evaluators, Aer backends, noise models, calibration.

A target (``qspec.plugins.targets``: ``aer``, ``fake:<device>``, ``ibm:<device>``, ...) opens a
``Backend`` and makes an ``Evaluator`` from the parts here; ``open_backend`` and
``make_evaluator`` dispatch to the spec's target. An evaluator's single method evaluates <O> for
a whole array of (sample, weights) rows in one primitive call; the circuit is transpiled once,
when the evaluator is made.

Called by ``qspec.quantum.train``, ``qspec.quantum.predict`` and the target plug-ins.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import Pauli, SparsePauliOp

from qspec.errors import BackendError
from qspec.plugins.targets._memory import aer_method
from qspec.quantum.circuits import Circuits
from qspec.quantum.estimate import EXACT_CHUNK_AMPLITUDES, FUSED_MIN_QUBITS, measurement_groups
from qspec.quantum.kernels import FusedProgram
from qspec.quantum.result import DeviceInfo
from qspec.quantum.simulate import Observable, StatevectorBatch, single_threaded_blas
from qspec.spec.models import BackendSpec

# Aer runs the rows of one call as parallel experiments (max_parallel_experiments=0: all cores);
# each experiment's seed derives from seed_simulator and its index, so results stay repeatable.


class Evaluator(Protocol):
    """Expectation values of the observable for many rows, in one primitive call.

    Row ``r`` runs the circuit with features ``features[index[r]]`` and weights ``weights[r]``;
    passing the features once per sample (not per row) lets an evaluator share their encoding.
    """

    transpiled: Any  # the ISA circuit(s) actually run, or None on the exact path
    executions: int  # parameter rows executed so far
    shots_used: int

    def expectations(self, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> np.ndarray: ...


@dataclass
class Backend:
    """A configured backend: what to transpile for and what runs the circuits."""

    spec: BackendSpec
    info: DeviceInfo
    runner: Any  # an AerSimulator, or an IBM backend; None for primitives that need none
    target_backend: Any | None  # the device the circuits are transpiled for (None: Aer's own gates)
    noise_model: Any | None
    basis_gates: list[str] | None = None
    logical: bool = False  # run the circuits as built: the primitives take any gate (no transpiler)

    @property
    def exact(self) -> bool:
        """Noiseless exact expectation values: the numpy statevector path may train."""
        return self.spec.plugin.exact(self.spec)

    @property
    def shots(self) -> int | None:
        """Shots per circuit execution on this target; None: exact expectation values."""
        return self.spec.plugin.shots(self.spec)

    def transpile(self, circuits: Any) -> Any:
        """The ISA circuit(s) of ``circuits`` (a circuit or a list), or ``circuits`` as built when logical."""
        if self.logical:
            return circuits
        return self.pass_manager().run(circuits)

    def pass_manager(self) -> Any:
        from qiskit.transpiler import generate_preset_pass_manager

        level, seed = self.spec.optimization_level, self.spec.seed
        if self.target_backend is not None:
            return generate_preset_pass_manager(level, backend=self.target_backend, seed_transpiler=seed)
        if self.basis_gates is not None:
            return generate_preset_pass_manager(level, basis_gates=self.basis_gates, seed_transpiler=seed)
        return generate_preset_pass_manager(level, backend=self.runner, seed_transpiler=seed)


def open_backend(spec: BackendSpec, qubits: int) -> Backend:
    """Configure the backend a spec declares (no circuit runs yet)."""
    return spec.plugin.open(spec, qubits)


def make_evaluator(backend: Backend, circuits: Circuits) -> Evaluator:
    """The evaluator of the declared backend, as its target makes it."""
    return backend.spec.plugin.evaluator(backend, circuits)


# --- Aer ------------------------------------------------------------------------------------------


def ideal_aer_backend(spec: BackendSpec) -> Backend:
    """Aer's statevector simulator, noiseless."""
    from qiskit_aer import AerSimulator

    runner = AerSimulator(method="statevector", seed_simulator=spec.seed)
    return Backend(spec, DeviceInfo(spec.target, "aer", None, True), runner, None, None)


def device_noise_backend(spec: BackendSpec, qubits: int, device_name: str, *, provider: str,
                         properties: dict[str, Any] | None = None) -> Backend:
    """Aer with a device snapshot's noise model, transpiling to the device; ``provider`` is the record's.
    ``properties``: a calibration (``BackendProperties`` as a dict) that replaces the snapshot's."""
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel

    device = fake_backend(device_name)
    if properties is not None:
        device = with_properties(device, properties)
    noise_model = NoiseModel.from_backend(device)
    # the noise model built once: from_backend would build its own copy of it again
    runner = AerSimulator.from_backend(device, method=aer_method(qubits, noisy=True), seed_simulator=spec.seed,
                                       max_parallel_experiments=0, noise_model=noise_model)
    info = DeviceInfo(
        target=spec.target,
        provider=provider,
        device=device_name,
        simulator=True,
        noise={"kind": "device", "from_device": device_name, "model": _noise_summary(noise_model),
               "exact": spec.shots is None},
        calibration=calibration(device),
    )
    return Backend(spec, info, runner, device, noise_model)


def custom_noise_backend(spec: BackendSpec, qubits: int) -> Backend:
    """Aer with the spec's depolarizing and readout rates."""
    from qiskit_aer import AerSimulator

    assert spec.noise is not None
    noise_model = custom_noise_model(spec.noise.depolarizing, spec.noise.readout)
    runner = AerSimulator(noise_model=noise_model, method=aer_method(qubits, noisy=True), seed_simulator=spec.seed,
                          max_parallel_experiments=0)
    info = DeviceInfo(spec.target, "aer", None, True,
                      noise={"kind": "custom", "depolarizing": spec.noise.depolarizing,
                             "readout": spec.noise.readout, "model": _noise_summary(noise_model)})
    return Backend(spec, info, runner, None, noise_model, basis_gates=list(noise_model.basis_gates))


def aer_evaluator(backend: Backend, circuits: Circuits) -> Evaluator:
    """Aer's estimator (exact, ``shots: null``) or Aer's sampler (shots)."""
    if backend.spec.shots is None:
        return EstimatorEvaluator(backend, circuits)
    return SamplerEvaluator(backend, circuits)


def fake_backend(name: str) -> Any:
    """qiskit-ibm-runtime's snapshot of a device, by its name without ``fake_`` (``manila``)."""
    from qiskit_ibm_runtime import fake_provider

    wanted = {f"fake{name}v2", f"fake{name}", f"fake{name}backend"}
    for attr in dir(fake_provider):
        if attr.lower() in wanted:
            return getattr(fake_provider, attr)()
    raise BackendError(f"qiskit-ibm-runtime has no fake device {name!r}",
                       hint="fake devices are named like fake:manila or fake:torino")


def with_properties(device: Any, properties: dict[str, Any]) -> Any:
    """The fake device ``device`` with ``properties`` (``backend.properties().to_dict()``'s shape, or a
    fake device's own ``props_*.json``) as its calibration: its Target, and so the noise model Aer
    builds from it, reflect them. qiskit-ibm-runtime's fake backends read their snapshot into
    ``_props_dict`` and build ``_target`` from it on first use (``FakeBackendV2.target``); resetting
    both is the one use of their internals (``tests/quantum/test_engine_monitor.py`` fails if it changes)."""
    import copy

    from qiskit_ibm_runtime.utils.backend_decoder import properties_from_server_data

    props = copy.deepcopy(properties)
    qubits = props.get("qubits") if isinstance(props, dict) else None
    expected = device.configuration().n_qubits
    if isinstance(qubits, list) and len(qubits) != expected:
        raise BackendError(f"the calibration describes {len(qubits)} qubits, {device.name} has {expected}",
                           hint="give a snapshot of the same device (its backend.properties().to_dict())")
    try:
        properties_from_server_data(props)  # dates as datetimes, as the snapshots are read
        device._props_dict = props
        device._target = None
        device.target  # noqa: B018 - builds the Target now, so a malformed file fails here
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise BackendError(f"the calibration is not a device properties snapshot: {exc!r}",
                           hint="give the JSON of backend.properties().to_dict() (a fake device's props_*.json)",
                           ) from exc
    return device


def custom_noise_model(depolarizing: float | None, readout: float | None) -> Any:
    """Depolarizing error on every physical gate (sx, x, cx; rz is virtual) and symmetric readout error."""
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

    model = NoiseModel(basis_gates=["rz", "sx", "x", "cx"])
    if depolarizing:
        model.add_all_qubit_quantum_error(depolarizing_error(depolarizing, 1), ["sx", "x"])
        model.add_all_qubit_quantum_error(depolarizing_error(depolarizing, 2), ["cx"])
    if readout:
        model.add_all_qubit_readout_error(ReadoutError([[1 - readout, readout], [readout, 1 - readout]]))
    return model


def calibration(device: Any, qubits: list[int] | None = None) -> dict[str, Any]:
    """Per-qubit T1/T2/readout error and per-gate errors from a backend's Target.

    ``qubits`` limits the listing to the physical qubits a circuit uses; medians cover the device.
    """
    target = device.target
    chosen = range(target.num_qubits) if qubits is None else qubits
    measure = target["measure"] if "measure" in target.operation_names else {}

    def qubit(q: int) -> dict[str, Any]:
        props = target.qubit_properties[q] if target.qubit_properties else None
        readout = measure.get((q,)) if measure else None
        return {
            "qubit": q,
            "t1": getattr(props, "t1", None),
            "t2": getattr(props, "t2", None),
            "frequency": getattr(props, "frequency", None),
            "readout_error": getattr(readout, "error", None),
        }

    gates: dict[str, dict[str, float]] = {}
    for name in sorted(target.operation_names):
        if name in ("measure", "delay", "reset") or not isinstance(target[name], dict):
            continue
        errors = {
            "_".join(map(str, qargs)): float(props.error)
            for qargs, props in target[name].items()
            if qargs is not None and props is not None and props.error is not None
            and (qubits is None or set(qargs) <= set(qubits))
        }
        if errors:
            gates[name] = errors
    per_qubit = [qubit(q) for q in range(target.num_qubits)]
    return {
        "device": getattr(device, "name", None),
        "num_qubits": target.num_qubits,
        "basis_gates": sorted(target.operation_names),
        "qubits": [per_qubit[q] for q in chosen],
        "gate_errors": gates,
        "median": {
            key: _median([p[key] for p in per_qubit]) for key in ("t1", "t2", "readout_error")
        } | {name: _median(list(e.values())) for name, e in gates.items()},
    }


def _median(values: list[Any]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return float(np.median(known)) if known else None


def _noise_summary(model: Any) -> dict[str, Any]:
    return {"basis_gates": sorted(model.basis_gates), "noisy_instructions": sorted(model.noise_instructions),
            "noisy_qubits": sorted(int(q) for q in model.noise_qubits)}


# --- evaluators -------------------------------------------------------------------------------------


class ExactEvaluator:
    """The numpy statevector over all rows at once (noiseless, ``shots: null``).

    The feature-only prefix of the circuit (the feature map) runs once per sample; the rest once
    per row, starting from that sample's state. Rows go through in slices of at most
    ``EXACT_CHUNK_AMPLITUDES`` amplitudes, and each slice encodes only the samples its rows use,
    so memory is bounded by the slice (``qspec.quantum.estimate.exact_path_bytes`` counts it) and
    no sample is encoded twice when rows are sample-major. ``gradients`` differentiates by the
    adjoint method (``adjoint`` says whether the circuit allows it).
    """

    transpiled = None

    def __init__(self, circuits: Circuits) -> None:
        self.circuits = circuits
        self.n_features = len(circuits.features)
        self.batch = StatevectorBatch(circuits.circuit, [*circuits.features, *circuits.weights])
        self.prefix = self.batch.split(set(range(self.n_features)))
        self.observable = Observable(circuits.observable)
        self.weight_columns = list(range(self.n_features, self.n_features + len(circuits.weights)))
        self.adjoint = self.batch.differentiable(self.prefix, self.weight_columns)
        # from FUSED_MIN_QUBITS on, fused blocks (a few BLAS passes per layer) beat gate-by-gate passes
        self.fused = self.batch.num_qubits >= FUSED_MIN_QUBITS
        self.head = FusedProgram(self.batch, 0, self.prefix)
        self.body = FusedProgram(self.batch, self.prefix, len(self.batch.ops), self.weight_columns)
        self.executions = 0
        self.shots_used = 0

    def _start(self, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The state of each row after the feature-only prefix, and the value matrix of the rows."""
        features = np.asarray(features, dtype=float)
        weights = np.asarray(weights, dtype=float)
        index = np.asarray(index, dtype=np.int64)
        if self.n_features == 0:  # VQE: no inputs, one shared start state
            features, index = np.zeros((1, 0)), np.zeros(len(weights), dtype=np.int64)
        used, inverse = np.unique(index, return_inverse=True)
        head_values = np.concatenate([features[used], np.zeros((len(used), weights.shape[1]))], axis=1)
        if self.fused:
            encoded = self.head.run(None, head_values)
        else:
            encoded = self.batch.run(self.batch.initial(len(used)), head_values, 0, self.prefix)
        if not (len(used) == len(index) and np.array_equal(used, index)):
            encoded = encoded[inverse]
        return encoded, np.concatenate([features[index], weights], axis=1)

    def _slices(self, rows: int) -> range:
        return range(0, rows, max(1, EXACT_CHUNK_AMPLITUDES // self.batch.dim))

    def states(self, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The final state of every row (all held at once: for a few rows, like the fidelity's)."""
        state, values = self._start(features, weights, index)
        if self.fused:
            try:
                return self.body.run(state, values)
            finally:
                self._release()
        return self.batch.run(state, values, self.prefix, len(self.batch.ops))

    def expectations(self, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> np.ndarray:
        self.executions += len(weights)
        out = np.empty(len(weights))
        with single_threaded_blas():
            try:
                for start in self._slices(len(weights)):
                    stop = start + max(1, EXACT_CHUNK_AMPLITUDES // self.batch.dim)
                    states = self.states(features, weights[start:stop], index[start:stop])
                    out[start:stop] = self.observable.expectations(states)
            finally:
                self._release()
        return out

    def _release(self) -> None:
        """Drop what the fused programs keep between slices (buffers, gather indices)."""
        self.head.release()
        self.body.release()

    def gradients(self, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """<O> and d<O>/d weights of every row (rows x weights), by the adjoint method: one row each."""
        if not self.adjoint:
            raise ValueError("this circuit's weights are not bare rotation angles: use parameter shift")
        self.executions += len(weights)
        values = np.empty(len(weights))
        grads = np.empty((len(weights), len(self.weight_columns)))
        step = max(1, EXACT_CHUNK_AMPLITUDES // self.batch.dim)
        run = self.body.gradients if self.fused else functools.partial(self.batch.gradients, start=self.prefix)
        with single_threaded_blas():
            try:
                for start in self._slices(len(weights)):
                    stop = start + step
                    state, rows = self._start(features, weights[start:stop], index[start:stop])
                    values[start:stop], grads[start:stop] = run(
                        state, rows, apply_observable=self.observable.apply, columns=self.weight_columns)
            finally:
                self._release()
        return values, grads


class _PrimitiveEvaluator:
    """Shared by the primitive evaluators: value columns in the ISA circuit's parameter order."""

    def _columns(self, circuit: QuantumCircuit, circuits: Circuits) -> np.ndarray:
        order: dict[Parameter, int] = {p: i for i, p in enumerate([*circuits.features, *circuits.weights])}
        return np.array([order[p] for p in circuit.parameters], dtype=np.int64)

    @staticmethod
    def _values(features: np.ndarray, weights: np.ndarray, index: np.ndarray, columns: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=float)
        rows = features[index] if features.size else np.zeros((len(weights), 0))
        return np.concatenate([rows, np.asarray(weights, dtype=float)], axis=1)[:, columns]


class EstimatorEvaluator(_PrimitiveEvaluator):
    """An EstimatorV2 with exact expectation values: Aer's by default (a density matrix when there
    is noise, the readout error folded into the observable), or the one a target passes."""

    def __init__(self, backend: Backend, circuits: Circuits, estimator: Any | None = None) -> None:
        self.transpiled = backend.transpile(circuits.circuit)
        self.observable = with_readout_error(circuits.observable.apply_layout(self.transpiled.layout),
                                             backend.noise_model)
        self.columns = self._columns(self.transpiled, circuits)
        if estimator is None:
            from qiskit_aer.primitives import EstimatorV2

            estimator = EstimatorV2.from_backend(
                backend.runner,
                options={"default_precision": 0.0, "run_options": {"seed_simulator": backend.spec.seed}},
            )
        self.estimator = estimator
        self.executions = 0
        self.shots_used = 0

    def expectations(self, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> np.ndarray:
        values = self._values(features, weights, index, self.columns)
        self.executions += len(values)
        result = self.estimator.run([(self.transpiled, self.observable, values)]).result()
        return np.asarray(result[0].data.evs, dtype=float).reshape(len(values))


#: (P(read 1 | 0), P(read 0 | 1)) of one qubit's measurement.
Confusion = tuple[float, float]


def readout_confusions(noise_model: Any) -> tuple[dict[int, Confusion], Confusion | None]:
    """The single-qubit readout errors of a noise model: per physical qubit, and the all-qubit default.

    Read from ``NoiseModel.to_dict()`` (its ``roerror`` entries, with ``gate_qubits`` when local):
    the public form of what Aer applies, rather than its private attributes.
    """
    local: dict[int, Confusion] = {}
    default: Confusion | None = None
    for error in noise_model.to_dict()["errors"]:
        if error["type"] != "roerror":
            continue
        probabilities = np.asarray(error["probabilities"], dtype=float)
        if probabilities.shape != (2, 2):
            continue  # a correlated multi-qubit readout error: not a per-qubit confusion
        confusion = (float(probabilities[0, 1]), float(probabilities[1, 0]))
        if "gate_qubits" not in error:
            default = confusion
        for qubits in error.get("gate_qubits", []):
            local[int(qubits[0])] = confusion
    return local, default


def with_readout_error(observable: SparsePauliOp, noise_model: Any) -> SparsePauliOp:
    """The observable whose exact expectation is what measuring ``observable`` with readout errors gives.

    Every Pauli term is measured (after its basis rotation) as Z on its qubits, and a per-qubit
    readout confusion with p01 = P(1|0), p10 = P(0|1) turns a measured +-1 into
    E[z_read | z] = (p10 - p01) + (1 - p01 - p10) z. Independent across qubits, so each
    non-identity factor P_q becomes (p10 - p01) I + (1 - p01 - p10) P_q. Exact estimators
    (precision 0) never sample, so without this the readout part of a noise model is ignored.
    """
    if noise_model is None:
        return observable
    local, default = readout_confusions(noise_model)
    n = observable.num_qubits
    terms: list[SparsePauliOp] = []
    for pauli, coeff in zip(observable.paulis, observable.coeffs, strict=True):
        term = SparsePauliOp(Pauli("I" * n), coeffs=[coeff])
        label = pauli.to_label()  # qubit 0 is the rightmost letter
        for q in range(n):
            letter = label[n - 1 - q]
            confusion = local.get(q, default)
            if letter == "I" or confusion is None:
                continue
            p01, p10 = confusion
            if p01 == 0 and p10 == 0:
                continue
            factor = SparsePauliOp.from_sparse_list([("", [], p10 - p01), (letter, [q], 1 - p01 - p10)], n)
            term = term.compose(factor)
        terms.append(term)
    return SparsePauliOp.sum(terms).simplify(atol=0.0) if terms else observable


class SamplerEvaluator(_PrimitiveEvaluator):
    """Aer's SamplerV2 with shots: parities of measured bitstrings, as hardware gives them.

    An observable with X or Y terms is measured in one rotated circuit per group of qubit-wise
    commuting terms; every group is a pub of the same primitive call. ``sampler(call)`` gives the
    SamplerV2 of the call-th call (0-based); Aer's by default.
    """

    def __init__(self, backend: Backend, circuits: Circuits,
                 sampler: Callable[[int], Any] | None = None) -> None:
        self.backend = backend
        shots = backend.shots
        if shots is None:
            raise ValueError("a sampler needs shots")
        self.shots = shots
        self.sampler = sampler or self._aer_sampler
        self.groups, measured = measured_circuits(circuits)
        self.transpiled = backend.transpile(measured)
        self.columns = [self._columns(c, circuits) for c in self.transpiled]
        self.calls = 0
        self.executions = 0
        self.shots_used = 0

    def _aer_sampler(self, call: int) -> Any:
        from qiskit_aer.primitives import SamplerV2

        # A fresh seed per call (derived from the spec's) keeps runs repeatable without reusing
        # the same shot noise in every iteration.
        return SamplerV2.from_backend(self.backend.runner, seed=self.backend.spec.seed + call, default_shots=self.shots)

    def expectations(self, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> np.ndarray:
        sampler = self.sampler(self.calls)
        self.calls += 1
        pubs = [(circuit, self._values(features, weights, index, columns))
                for circuit, columns in zip(self.transpiled, self.columns, strict=True)]
        result = sampler.run(pubs).result()
        total = np.zeros(len(weights))
        for pub, terms in zip(result, self.groups, strict=True):
            bits = pub.data.meas
            for coeff, support in terms:
                if not support:
                    total += coeff
                    continue
                odd = bits.slice_bits(support).bitcount() % 2
                total += coeff * (1.0 - 2.0 * odd.mean(axis=-1))
        rows = len(weights) * len(self.transpiled)
        self.executions += rows
        self.shots_used += rows * self.shots
        return total


#: The terms of one measurement group: (coefficient, the qubits whose parity the term reads).
Group = list[tuple[float, list[int]]]


def measured_circuits(circuits: Circuits) -> tuple[list[Group], list[QuantumCircuit]]:
    """One measured circuit per group of qubit-wise commuting terms of the observable, and the groups.

    Each circuit rotates its group's X and Y factors to Z and measures every qubit (clbit i of qubit i).
    """
    observable = circuits.observable
    labels = [p.to_label() for p in observable.paulis]
    coeffs = dict(zip(labels, np.real(observable.coeffs), strict=True))
    groups: list[Group] = []
    measured = []
    for group in measurement_groups(labels):
        basis = ["I"] * circuits.num_qubits
        terms = []
        for label in group:
            support = [q for q, letter in enumerate(reversed(label)) if letter != "I"]
            for q in support:
                basis[q] = label[-1 - q]
            terms.append((float(coeffs[label]), support))
        groups.append(terms)
        circuit = circuits.circuit.copy()
        for q, letter in enumerate(basis):
            if letter == "X":
                circuit.h(q)
            elif letter == "Y":
                circuit.sdg(q)
                circuit.h(q)
        circuit.measure_all()
        measured.append(circuit)
    return groups, measured


def parity_signs(support: list[int], clbits: int) -> np.ndarray:
    """+1 or -1 per outcome (bit c = clbit c): the eigenvalue of Z on ``support`` it reads."""
    outcomes = np.arange(2**clbits)
    odd = np.zeros(len(outcomes), dtype=np.int64)
    for q in support:
        odd ^= (outcomes >> q) & 1
    return 1.0 - 2.0 * odd


#: Most density-matrix entries the density path holds per slice of rows (2**18 complex numbers: 4 MiB,
#: a few copies of it at a time; 2**16 to 2**20 measured alike at 4 to 7 qubits).
DENSITY_CHUNK_AMPLITUDES = 2**18


class DensityMatrixEvaluator(_PrimitiveEvaluator):
    """The noisy circuits Aer would run, simulated as numpy density matrices over all rows at once.

    The same measured ISA circuits as ``SamplerEvaluator`` (one per measurement group, transpiled
    once) with the backend's noise model inserted (``qspec.quantum.density``), so each row's exact
    outcome distribution, readout errors included. Each call draws every row's counts from it
    (multinomial, seeded from the spec's seed and the call's number: repeatable, and fresh shot
    noise in every iteration). Aer's density matrix method samples the same distribution; this
    spends no per-row experiment overhead. ``shots: null`` gives what ``EstimatorEvaluator`` does:
    Tr(rho O) of the unmeasured circuit, the readout error folded into O.
    """

    def __init__(self, backend: Backend, circuits: Circuits) -> None:
        from qspec.quantum.density import DensityMatrixBatch

        self.backend = backend
        self.shots = backend.shots
        parameters = [*circuits.features, *circuits.weights]
        noise = backend.noise_model
        if self.shots is None:  # as EstimatorEvaluator: <O> of the circuit, readout folded into O
            self.transpiled = backend.transpile(circuits.circuit)
            self.batches = [DensityMatrixBatch(self.transpiled, parameters, noise)]
            observable = with_readout_error(circuits.observable.apply_layout(self.transpiled.layout), noise)
            self.matrix = self.batches[0].observable_matrix(observable)
            self.signs: list[list[tuple[float, np.ndarray]]] = []
        else:  # as SamplerEvaluator: the measured circuit of every group, sampled
            groups, measured = measured_circuits(circuits)
            self.transpiled = backend.transpile(measured)
            local, default = readout_confusions(noise) if noise is not None else ({}, None)
            self.batches = [DensityMatrixBatch(c, parameters, noise, local, default) for c in self.transpiled]
            self.signs = [[(coeff, parity_signs(support, batch.num_clbits)) for coeff, support in terms]
                          for terms, batch in zip(groups, self.batches, strict=True)]
        self.calls = 0
        self.executions = 0
        self.shots_used = 0

    @property
    def num_qubits(self) -> int:
        """Qubits simulated (those the circuits touch), which set the cost: 4**n numbers a row."""
        return max(batch.num_qubits for batch in self.batches)

    def expectations(self, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng((self.backend.spec.seed, self.calls))
        self.calls += 1
        features = np.asarray(features, dtype=float)
        rows = features[index] if features.size else np.zeros((len(weights), 0))
        values = np.concatenate([rows, np.asarray(weights, dtype=float)], axis=1)
        total = np.zeros(len(weights))
        step = max(1, DENSITY_CHUNK_AMPLITUDES // 4**self.num_qubits)
        with single_threaded_blas():
            if self.shots is None:
                for start in range(0, len(values), step):
                    total[start:start + step] = self.batches[0].expectations(values[start:start + step], self.matrix)
            else:
                for batch, terms in zip(self.batches, self.signs, strict=True):
                    # every row's distribution first, then one draw: the shots do not depend on the slicing
                    probabilities = np.concatenate([batch.probabilities(values[start:start + step])
                                                    for start in range(0, len(values), step)])
                    counts = sample_counts(rng, self.shots, probabilities)
                    for coeff, signs in terms:
                        total += coeff * (counts @ signs) / self.shots
        executed = len(weights) * len(self.batches)
        self.executions += executed
        self.shots_used += executed * (self.shots or 0)
        return total


def sample_counts(rng: np.random.Generator, shots: int, probabilities: np.ndarray) -> np.ndarray:
    """Multinomial counts of ``shots`` draws for every row of ``probabilities`` (rows x outcomes).

    Drawn outcome by outcome as binomials of the shots left (the exact multinomial law), each a
    vectorized draw over all rows: numpy's ``multinomial`` with a matrix of probabilities loops
    over the rows in Python-visible time.
    """
    rows, outcomes = probabilities.shape
    counts = np.zeros((rows, outcomes), dtype=np.int64)
    left = np.full(rows, shots, dtype=np.int64)
    mass = np.ones(rows)
    for k in range(outcomes - 1):
        share = np.clip(np.divide(probabilities[:, k], mass, out=np.zeros(rows), where=mass > 0), 0.0, 1.0)
        counts[:, k] = rng.binomial(left, share)
        left -= counts[:, k]
        mass = np.maximum(mass - probabilities[:, k], 0.0)
    counts[:, -1] = left
    return counts


#: Most qubits (those a circuit touches) the density-matrix path trains on; above it, Aer runs.
#: Measured (852 rows, depolarizing + readout noise, 1024 shots, one call): 4 qubits 0.03 s against
#: Aer's 2.2 s, 6 qubits 0.5 s against 5.5 s, 7 qubits 2.7 s against 11 s, 8 qubits 20 s against 11 s.
DENSITY_PATH_MAX_QUBITS = 6


def density_trainer(backend: Backend, circuits: Circuits) -> DensityMatrixEvaluator | None:
    """The numpy density-matrix evaluator for training on a noisy local simulator, when it applies.

    It applies to Aer with a noise model (the ``aer`` target's noise block, ``fake:<device>``) on
    circuits of at most ``DENSITY_PATH_MAX_QUBITS`` qubits that it can simulate exactly; None
    otherwise (noiseless, hardware, larger or unsupported circuits train on the declared backend).
    """
    if backend.noise_model is None:
        return None  # before importing Aer: a target without a noise model may run without it
    from qiskit_aer import AerSimulator

    if not isinstance(backend.runner, AerSimulator):
        return None
    if circuits.num_qubits > DENSITY_PATH_MAX_QUBITS:
        return None
    if any(e["type"] == "roerror" and np.shape(e["probabilities"]) != (2, 2)
           for e in backend.noise_model.to_dict()["errors"]):
        return None  # a correlated readout error: not a per-qubit confusion, which is all it applies
    try:
        evaluator = DensityMatrixEvaluator(backend, circuits)
    except ValueError:
        return None
    return evaluator if evaluator.num_qubits <= DENSITY_PATH_MAX_QUBITS else None


class IbmEvaluator(_PrimitiveEvaluator):
    """qiskit-ibm-runtime's client-side Estimator (the successor of the deprecated EstimatorV2)."""

    def __init__(self, backend: Backend, circuits: Circuits) -> None:
        from qiskit_ibm_runtime.executor_estimator import Estimator

        shots = backend.shots
        if shots is None:
            raise ValueError("hardware needs shots")
        self.shots = shots
        self.transpiled = backend.transpile(circuits.circuit)
        self.observable = circuits.observable.apply_layout(self.transpiled.layout)
        self.columns = self._columns(self.transpiled, circuits)
        self.estimator = Estimator(mode=backend.runner)
        self.executions = 0
        self.shots_used = 0

    def expectations(self, features: np.ndarray, weights: np.ndarray, index: np.ndarray) -> np.ndarray:
        values = self._values(features, weights, index, self.columns)
        result = self.estimator.run([(self.transpiled, self.observable, values)],
                                    precision=1.0 / np.sqrt(self.shots)).result()
        self.executions += len(values)
        self.shots_used += len(values) * self.shots
        return np.asarray(result[0].data.evs, dtype=float).reshape(len(values))


def physical_qubits(transpiled: Any) -> list[int] | None:
    """The device qubits a transpiled circuit's logical qubits landed on."""
    circuit = transpiled[0] if isinstance(transpiled, list) else transpiled
    layout = getattr(circuit, "layout", None)
    if layout is None:
        return None
    return [int(q) for q in layout.final_index_layout()]

