"""The quantum engine against the simulators Qiskit and PennyLane users train with, in one run.

Workloads (all exact, noiseless; every peer's values are checked against qspec's to 1e-10):
  grad   one loss + gradient of a classifier: zz feature map + real_amplitudes (reps 2), parity
         readout, cross-entropy; 100 samples at every size (4, 8, 12, 16 and 20 qubits)
  iris   a full training of the iris example (Adam lr 0.1, 60 steps, the same start point)
  vqe    a random 12-qubit Hamiltonian (50 Pauli terms), efficient_su2 reps 2: one energy +
         gradient, a full L-BFGS-B training, and the exact ground energy
Peers:
  lightning  PennyLane lightning.qubit, diff_method="adjoint" (its C++ kernels)
  default    PennyLane default.qubit, diff_method="backprop" (autograd, parameter broadcasting)
  aer        Aer's EstimatorV2 (precision 0, parallel experiments), one batched PUB of the
             parameter-shift rows
  qml        qiskit-machine-learning's EstimatorQNN on Aer's EstimatorV2 (what its docs recommend
             over the slow reference estimator), with its parameter-shift gradient
Each case runs in its own process, so its peak memory (max RSS, imports included) is its own.
Slow peers are timed on a subset of the samples and scaled by the sample count (samples are
independent rows for every peer); the table says where. A peer that is not installed is skipped.

Run: python benchmarks/bench_engine.py [--quick] [--sizes 4,8] [--workloads grad,iris,vqe] [--peers ...]
Needs the ``bench`` extra for the peers (pip install '.[bench]').
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = (4, 8, 12, 16, 20)
PEERS = ("qspec", "lightning", "default", "aer", "qml")

#: Samples of the loss + gradient workload, by qubits.
SAMPLES = {4: 100, 8: 100, 12: 100, 16: 100, 20: 100}

#: Most samples a peer is timed on, by qubits (the time is scaled to all of them); None: all.
TIMED_SAMPLES: dict[str, dict[int, int]] = {
    "lightning": {16: 20, 20: 5},
    "aer": {12: 10, 16: 1, 20: 1},
    "qml": {8: 20, 12: 4, 16: 1, 20: 1},
    "default": {12: 20, 16: 2},
}

#: Sizes where a peer cannot run here at all (autograd keeps every intermediate state).
UNSUPPORTED = {"default": {20: "backprop keeps every gate's state: > 40 GB"}}

#: Seconds a case may take before it is reported as a timeout.
CASE_TIMEOUT = 1800


# --- the workloads ------------------------------------------------------------------------------


def classifier_spec(qubits: int, reps_map: int = 2) -> Any:
    from qspec.spec.models import ExperimentSpec

    return ExperimentSpec.model_validate({
        "task": "classification", "data": {"source": "sklearn:iris", "classes": [0, 1]},
        "circuit": {"qubits": qubits, "feature_map": {"type": "zz", "reps": reps_map},
                    "ansatz": {"type": "real_amplitudes", "reps": 2}},
    })


def grad_problem(qubits: int, samples: int) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    from qspec.quantum.circuits import build_circuits

    circuits = build_circuits(classifier_spec(qubits))
    rng = np.random.default_rng(qubits)
    features = rng.uniform(0, 1, (samples, qubits))
    labels = rng.integers(0, 2, samples)
    theta = rng.uniform(-np.pi, np.pi, len(circuits.weights))
    return circuits, features, labels, theta


def vqe_terms(qubits: int = 12, terms: int = 50, seed: int = 12) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    while len(out) < terms:
        label = "".join(rng.choice(list("IXYZ"), qubits))
        if set(label) != {"I"}:
            out[label] = float(np.round(rng.normal(), 6))
    return out


def vqe_spec(maxiter: int) -> Any:
    from qspec.spec.models import ExperimentSpec

    return ExperimentSpec.model_validate({
        "task": "vqe", "hamiltonian": {"terms": vqe_terms()},
        "circuit": {"qubits": 12, "ansatz": {"type": "efficient_su2", "reps": 2}},
        "training": {"optimizer": {"name": "l_bfgs_b", "maxiter": maxiter}, "seed": 3},
    })


# --- peers: per-sample <O> and d<O>/d theta ------------------------------------------------------

Jacobian = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (features, theta) -> (evs, jac)


class Head:
    """The loss of per-sample <O>: qspec's cross-entropy on the parity, or the energy; in numpy (qspec's
    own head) and in autograd (for PennyLane's differentiation)."""

    def __init__(self, labels: np.ndarray | None = None, constant: float = 0.0) -> None:
        self.labels, self.constant = labels, constant

    def numpy(self) -> Callable[[np.ndarray], tuple[float, np.ndarray, dict[str, float]]]:
        from qspec.quantum.training import classification_head, energy_head

        return classification_head(self.labels) if self.labels is not None else energy_head(self.constant)

    def autograd(self, evs: Any) -> Any:
        from pennylane import numpy as pnp

        if self.labels is None:
            return pnp.reshape(evs, (-1,))[0] + self.constant
        y = self.labels.astype(float)
        p1 = pnp.clip((1.0 - evs) / 2.0, 1e-10, 1 - 1e-10)
        return -pnp.mean(y * pnp.log(p1) + (1 - y) * pnp.log(1 - p1))


LossGradient = Callable[[np.ndarray, np.ndarray, Head], tuple[float, np.ndarray]]  # (features, theta, head)


def from_jacobian(run: Jacobian) -> LossGradient:
    def loss(features: np.ndarray, theta: np.ndarray, head: Head) -> tuple[float, np.ndarray]:
        evs, jac = run(features, theta)
        value, dloss, _ = head.numpy()(evs)
        return value, dloss @ jac

    return loss


def qspec_jacobian(circuits: Any) -> Jacobian:
    from qspec.quantum.backends import ExactEvaluator

    evaluator = ExactEvaluator(circuits)

    def run(features: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        samples = max(len(features), 1)
        return evaluator.gradients(features, np.tile(theta, (samples, 1)), np.arange(samples))

    return run


def _gates(circuits: Any) -> list[tuple[str, list[int], Any]]:
    """The circuit in h/p/cx/rx/ry/rz gates: (name, qubits, angle) with the angle a Parameter or expression."""
    from qiskit import transpile

    flat = transpile(circuits.circuit, basis_gates=["h", "p", "cx", "rx", "ry", "rz"], optimization_level=0)
    index = {q: i for i, q in enumerate(flat.qubits)}
    return [(ins.operation.name, [index[q] for q in ins.qubits], ins.operation.params[0] if ins.operation.params
             else None) for ins in flat.data if ins.operation.name != "barrier"]


def _angles(gates: list[tuple[str, list[int], Any]], circuits: Any, features: np.ndarray) -> list[Any]:
    """Per gate: ('w', weight index), ('x', angles over the samples) or ('c', constant)."""
    weights = {p: i for i, p in enumerate(circuits.weights)}
    out: list[Any] = []
    for _, _, angle in gates:
        if angle is None:
            out.append(None)
        elif angle in weights:
            out.append(("w", weights[angle]))
        elif getattr(angle, "parameters", None):
            values = [float(angle.bind({p: row[i] for i, p in enumerate(circuits.features) if p in angle.parameters})
                            .numeric()) for row in features]
            out.append(("x", np.array(values)))
        else:
            out.append(("c", float(angle)))
    return out


def _pennylane_observable(circuits: Any) -> Any:
    import pennylane as qml

    n = circuits.num_qubits
    ops, coeffs = [], []
    for pauli, coeff in zip(circuits.observable.paulis, circuits.observable.coeffs, strict=True):
        label = pauli.to_label()
        factors = [getattr(qml, f"Pauli{label[n - 1 - q]}")(q) for q in range(n) if label[n - 1 - q] != "I"]
        ops.append(qml.prod(*factors) if len(factors) > 1 else factors[0] if factors else qml.Identity(0))
        coeffs.append(float(np.real(coeff)))
    if len(ops) == 1 and coeffs[0] == 1.0:
        return ops[0]
    return qml.Hamiltonian(coeffs, ops)


def pennylane_loss(circuits: Any, device_name: str) -> LossGradient:
    import pennylane as qml
    from pennylane import numpy as pnp

    gates = _gates(circuits)
    observable = _pennylane_observable(circuits)
    n = circuits.num_qubits
    device = qml.device(device_name, wires=n)
    method = "adjoint" if device_name == "lightning.qubit" else "backprop"
    table = {"h": qml.Hadamard, "p": qml.PhaseShift, "rx": qml.RX, "ry": qml.RY, "rz": qml.RZ}

    def circuit(angles: list[Any], theta: Any) -> Any:
        for (name, qubits, _), angle in zip(gates, angles, strict=True):
            if name == "cx":
                qml.CNOT(wires=qubits)
            elif name == "h":
                qml.Hadamard(wires=qubits[0])
            else:
                kind, value = angle
                table[name](theta[value] if kind == "w" else value, wires=qubits[0])
        return qml.expval(observable)

    qnode = qml.QNode(circuit, device, diff_method=method)

    def run(features: np.ndarray, theta: np.ndarray, head: Head) -> tuple[float, np.ndarray]:
        import autograd

        rows = features if len(features) else np.zeros((1, 0))
        angles = _angles(gates, circuits, rows)
        # one broadcast QNode over every sample (PennyLane splits it into tapes for the adjoint method)
        fixed = [a if a is None or a[0] != "x" else ("x", pnp.array(a[1], requires_grad=False)) for a in angles]
        value, grad = autograd.value_and_grad(lambda t: head.autograd(qnode(fixed, t)))(
            pnp.array(theta, requires_grad=True))
        return float(value), np.asarray(grad)

    return run


def aer_estimator() -> Any:
    from qiskit_aer.primitives import EstimatorV2

    return EstimatorV2(options={"default_precision": 0.0,
                                "backend_options": {"method": "statevector", "max_parallel_experiments": 0}})


def aer_jacobian(circuits: Any) -> Jacobian:
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_aer import AerSimulator

    isa = generate_preset_pass_manager(1, backend=AerSimulator(), seed_transpiler=1).run(circuits.circuit)
    observable = circuits.observable.apply_layout(isa.layout)
    order = {p: i for i, p in enumerate([*circuits.features, *circuits.weights])}
    columns = [order[p] for p in isa.parameters]
    estimator = aer_estimator()
    p = len(circuits.weights)

    def run(features: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = features if len(features) else np.zeros((1, 0))
        shifts = np.concatenate([np.zeros((1, p)), np.pi / 2 * np.eye(p), -np.pi / 2 * np.eye(p)])
        per_sample = theta[None, :] + shifts
        values = np.concatenate([np.repeat(rows, len(shifts), axis=0), np.tile(per_sample, (len(rows), 1))], axis=1)
        evs = np.asarray(estimator.run([(isa, observable, values[:, columns])]).result()[0].data.evs)
        block = evs.reshape(len(rows), 1 + 2 * p)
        return block[:, 0], (block[:, 1:1 + p] - block[:, 1 + p:]) / 2

    return run


def qml_jacobian(circuits: Any) -> Jacobian:
    from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    estimator = aer_estimator()
    qnn = EstimatorQNN(circuit=circuits.circuit, observables=circuits.observable, input_params=circuits.features,
                       weight_params=circuits.weights, estimator=estimator,
                       gradient=ParamShiftEstimatorGradient(estimator),
                       default_precision=0.0)  # its default (1/64) adds shot noise to exact values

    def run(features: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = features if len(features) else None
        evs = np.asarray(qnn.forward(rows, theta)).reshape(-1)
        _, weight_grad = qnn.backward(rows, theta)
        return evs, np.asarray(weight_grad).reshape(len(evs), -1)

    return run


def loss_of(peer: str, circuits: Any) -> LossGradient:
    """The peer's loss and gradient, computed the way its users do: PennyLane differentiates the loss
    with autograd over one broadcast QNode; the Qiskit peers give <O> and a parameter-shift jacobian."""
    if peer == "qspec":
        return from_jacobian(qspec_jacobian(circuits))
    if peer == "lightning":
        return pennylane_loss(circuits, "lightning.qubit")
    if peer == "default":
        return pennylane_loss(circuits, "default.qubit")
    if peer == "aer":
        return from_jacobian(aer_jacobian(circuits))
    if peer == "qml":
        return from_jacobian(qml_jacobian(circuits))
    raise ValueError(peer)


# --- cases (each in its own process) --------------------------------------------------------------


def case_grad(peer: str, qubits: int) -> dict[str, Any]:
    samples = SAMPLES[qubits]
    circuits, features, labels, theta = grad_problem(qubits, samples)
    timed = min(samples, TIMED_SAMPLES.get(peer, {}).get(qubits, samples))
    run = loss_of(peer, circuits)
    run(features[:1], theta, Head(labels[:1]))  # warm up: imports, compilation, JIT
    start, cpu = time.perf_counter(), time.process_time()
    loss, grad = run(features[:timed], theta, Head(labels[:timed]))
    seconds = (time.perf_counter() - start) * samples / timed
    cpu_seconds = (time.process_time() - cpu) * samples / timed  # every thread of the process
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "timed_samples": timed, "samples": samples,
            "loss": loss, "grad": grad.tolist()}


def reference_loss(qubits: int, timed: int) -> tuple[float, np.ndarray]:
    """qspec's loss and gradient over the first ``timed`` samples (what a scaled peer computed)."""
    circuits, features, labels, theta = grad_problem(qubits, SAMPLES[qubits])
    return loss_of("qspec", circuits)(features[:timed], theta, Head(labels[:timed]))


class PeerObjective:
    """A peer's loss and gradient as the ``Objective`` qspec's optimizer plug-ins evaluate, so every
    peer trains with the very same optimizer code (and, gradients agreeing, the same trajectory)."""

    def __init__(self, run: LossGradient, features: np.ndarray, head: Head) -> None:
        self.run, self.features, self.head = run, features, head
        self.evaluations = 0

    def evaluate(self, points: np.ndarray, *, gradient: bool) -> list[Any]:
        from qspec.quantum.optimizers import Evaluation

        out = []
        for point in np.atleast_2d(points):
            self.evaluations += 1
            loss, grad = self.run(self.features, point, self.head)
            out.append(Evaluation(loss, grad if gradient else None))
        return out


def optimize(options: Any, objective: Any, x0: np.ndarray, seed: int) -> np.ndarray:
    from qspec.quantum.optimizers import minimize

    return minimize(options, objective, x0, np.random.default_rng(seed), lambda *_: None)


def case_iris(peer: str) -> dict[str, Any]:
    from qspec.quantum import train
    from qspec.quantum.circuits import angle_range, build_circuits
    from qspec.quantum.data import load_dataset, split_dataset
    from qspec.spec import load_specs

    experiment = load_specs([ROOT / "specs"]).experiments["iris-vqc"].resource
    spec = experiment.spec
    out: dict[str, Any] = {}
    if peer == "qspec":
        start = time.perf_counter()
        result = train(experiment)
        out["train_call_seconds"] = time.perf_counter() - start
        out["train_call_accuracy"] = result.metrics["test_accuracy"]
    split = split_dataset(spec.data, load_dataset(spec.data), 4, angle_range(spec))
    circuits = build_circuits(spec)
    from qspec.quantum.training import initial_point

    x0 = initial_point(experiment, len(circuits.weights))
    objective = PeerObjective(loss_of(peer, circuits), split.x_train, Head(split.y_train))
    objective.evaluate(x0[None, :], gradient=True)  # warm up
    start = time.perf_counter()
    theta = optimize(spec.training.optimizer, objective, x0, spec.training.seed)
    seconds = time.perf_counter() - start
    evs, _ = qspec_jacobian(circuits)(split.x_test, theta)
    accuracy = float(np.mean(((1 - evs) / 2 > 0.5) == (split.y_test == 1)))
    return out | {"seconds": seconds, "test_accuracy": accuracy, "theta": theta.tolist()}


def case_vqe(peer: str, maxiter: int) -> dict[str, Any]:
    from qspec.quantum import train
    from qspec.quantum.circuits import build_circuits
    from qspec.quantum.training import initial_point
    from qspec.spec.models import Experiment

    spec = vqe_spec(maxiter)
    circuits = build_circuits(spec)
    experiment = Experiment.model_validate({"apiVersion": "qspec/v1", "kind": "Experiment",
                                            "metadata": {"name": "vqe12"}, "spec": spec.model_dump(mode="json")})
    x0 = initial_point(experiment, len(circuits.weights))
    run = loss_of(peer, circuits)
    head = Head(constant=circuits.constant)
    none = np.zeros((0, 0))
    run(none, x0, head)  # warm up
    start = time.perf_counter()
    energy0, _ = run(none, x0, head)
    out: dict[str, Any] = {"one_seconds": time.perf_counter() - start, "energy0": energy0}
    # the training loop: qspec's l_bfgs_b plug-in over each peer's energy and gradient
    objective = PeerObjective(run, none, head)
    start = time.perf_counter()
    theta = optimize(spec.training.optimizer, objective, x0, spec.training.seed)
    out["train_seconds"] = time.perf_counter() - start
    out |= {"energy": run(none, theta, head)[0], "iterations": objective.evaluations}
    if peer == "qspec":
        from qspec.quantum.training import exact_ground_state

        start = time.perf_counter()
        out["exact"] = exact_ground_state(circuits)[0]
        out["exact_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        result = train(experiment)  # the whole run: backend, loop, final metrics on Aer, the reference
        out["train_call_seconds"] = time.perf_counter() - start
        assert abs(result.metrics["energy"] - out["energy"]) < 1e-9
    return out


def run_case(name: str, quick: bool) -> dict[str, Any]:
    import scipy.optimize  # noqa: F401  (imported before any timing, as PennyLane imports it anyway)

    kind, peer, *rest = name.split(":")
    if kind == "grad":
        return case_grad(peer, int(rest[0]))
    if kind == "iris":
        return case_iris(peer)
    if kind == "vqe":
        return case_vqe(peer, 30 if quick else 200)
    raise ValueError(name)


def spawn(name: str, quick: bool) -> dict[str, Any]:
    """Run one case in a child process; its result with the child's peak memory (max RSS)."""
    command = [sys.executable, __file__, "--case", name] + (["--quick"] if quick else [])
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}) as child:
        try:
            stdout, stderr = child.communicate(timeout=CASE_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return {"error": f"timeout after {CASE_TIMEOUT} s"}
    if child.returncode != 0:
        tail = (stderr.strip().splitlines() or ["?"])[-1]
        return {"error": tail[:100]}
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def available(peer: str) -> bool:
    module = {"lightning": "pennylane_lightning", "default": "pennylane", "aer": "qiskit_aer",
              "qml": "qiskit_machine_learning"}.get(peer)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


# --- the report -----------------------------------------------------------------------------------


def _size(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _time(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def kernel_note() -> str:
    """Which exact-path kernel qspec ran, and the memory budget its peak is held to."""
    from qspec.api.wiring import memory_budget, size
    from qspec.quantum.estimate import FUSED_MIN_QUBITS

    return (f"qspec runs its fused numpy kernels (qspec.quantum.kernels: BLAS group matrices, phase tables, "
            f"one gather per cx network) from {FUSED_MIN_QUBITS} qubit(s) on, the gate-by-gate path below; "
            f"no compiled simulator. Memory budget (QSPEC_MAX_MEMORY or 80% of RAM): {size(memory_budget())}.")


def report_grad(sizes: list[int], peers: list[str], quick: bool) -> None:
    print("\n## One loss + gradient (zz + real_amplitudes reps 2, parity, cross-entropy)\n")
    print(kernel_note() + "\n")
    print("ratio = peer time / qspec time (wall clock; in brackets the same for the process's CPU time, "
          "all its threads, which a busy machine disturbs less); diff = max |loss or gradient entry - qspec's| "
          "(on the timed samples)\n")
    header = ["qubits (samples)", *peers]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for qubits in sizes:
        results: dict[str, dict[str, Any]] = {}
        for peer in peers:
            if qubits in UNSUPPORTED.get(peer, {}):
                results[peer] = {"error": UNSUPPORTED[peer][qubits]}
            elif not available(peer):
                results[peer] = {"error": "not installed"}
            else:
                results[peer] = spawn(f"grad:{peer}:{qubits}", quick)
        base = results.get("qspec", {})
        cells = [f"{qubits} ({SAMPLES[qubits]})"]
        for peer in peers:
            r = results[peer]
            if "error" in r:
                cells.append(f"n/a ({r['error']})")
                continue
            text = f"{_time(r['seconds'])} (cpu {_time(r['cpu_seconds'])})"
            if r["timed_samples"] < r["samples"]:
                text += f" (timed on {r['timed_samples']}, scaled)"
            if peer != "qspec" and "seconds" in base:
                loss, grad = reference_loss(qubits, r["timed_samples"])
                diff = max(abs(r["loss"] - loss), float(np.max(np.abs(np.array(r["grad"]) - grad))))
                if not diff <= TOLERANCE:
                    MISMATCHES.append(f"grad {qubits} qubits: {peer} differs from qspec by {diff:.1e}")
                text += (f", {r['seconds'] / base['seconds']:.2f}x ({r['cpu_seconds'] / base['cpu_seconds']:.2f}x), "
                         f"diff {diff:.0e}")
            text += f", peak {_size(r.get('peak_bytes'))}"
            cells.append(text)
        print("| " + " | ".join(cells) + " |", flush=True)


#: Values a peer must agree with qspec to (loss and gradient entries, final VQE energies); a run
#: with a peer beyond it exits 1 after its tables, naming the case.
TOLERANCE = 1e-10
MISMATCHES: list[str] = []


def _peer_case(peer: str, case: str, quick: bool, *, columns: int) -> dict[str, Any] | None:
    """One peer's result of ``case`` in its own process, or None after printing its "n/a" table row
    (``columns`` cells) when the peer is not installed or the case failed."""
    r = spawn(case, quick) if available(peer) else {"error": "not installed"}
    if "error" in r:
        print(f"| {peer} | n/a ({r['error']}) |" + " |" * (columns - 2))
        return None
    return r


def report_iris(peers: list[str], quick: bool) -> None:
    print("\n## Full iris training (iris-vqc: zz reps 1 + real_amplitudes reps 2, Adam lr 0.1, 60 steps)\n")
    print("The optimizer loop: qspec's adam plug-in over each peer's loss and gradient, from the same start.\n")
    print("| peer | time | ratio | test accuracy | max theta diff to qspec | peak memory |")
    print("| --- | --- | --- | --- | --- | --- |")
    base: dict[str, Any] = {}
    for peer in peers:
        r = _peer_case(peer, f"iris:{peer}", quick, columns=6)
        if r is None:
            continue
        if peer == "qspec":
            base = r
        ratio = f"{r['seconds'] / base['seconds']:.1f}x" if base else "-"
        drift = float(np.max(np.abs(np.array(r["theta"]) - np.array(base["theta"])))) if base else 0.0
        print(f"| {peer} | {_time(r['seconds'])} | {ratio} | {r['test_accuracy']:.3f} | {drift:.0e} | "
              f"{_size(r.get('peak_bytes'))} |", flush=True)
    if base:
        print(f"\nqspec train() end to end (data, Aer's transpile and final metrics, the baseline): "
              f"{_time(base['train_call_seconds'])}, test accuracy {base['train_call_accuracy']:.3f}")


def report_vqe(peers: list[str], quick: bool) -> None:
    maxiter = 30 if quick else 200
    print(f"\n## 12-qubit VQE (50 random Pauli terms, efficient_su2 reps 2, L-BFGS-B maxiter {maxiter})\n")
    print("| peer | energy + gradient | ratio | training loop | ratio | evaluations | final energy | peak memory |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    base: dict[str, Any] = {}
    for peer in [p for p in peers if p in ("qspec", "lightning", "default")]:
        r = _peer_case(peer, f"vqe:{peer}:{maxiter}", quick, columns=8)
        if r is None:
            continue
        if peer == "qspec":
            base = r
        if base and not abs(r["energy"] - base["energy"]) <= 1e-8:  # after a whole optimizer run
            MISMATCHES.append(f"vqe: {peer} ends at {r['energy']:.10f}, qspec at {base['energy']:.10f}")
        one = f"{r['one_seconds'] / base['one_seconds']:.1f}x" if base else "-"
        full = f"{r['train_seconds'] / base['train_seconds']:.1f}x" if base else "-"
        print(f"| {peer} | {_time(r['one_seconds'])} | {one} | {_time(r['train_seconds'])} | {full} | "
              f"{r['iterations']} | {r['energy']:.10f} | {_size(r.get('peak_bytes'))} |", flush=True)
    if base:
        print(f"\nexact ground energy {base['exact']:.10f} (sparse Lanczos, {_time(base['exact_seconds'])}); "
              f"qspec train() end to end (Aer's final metrics and the reference included) "
              f"{_time(base['train_call_seconds'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 and 8 qubits, a short VQE training")
    parser.add_argument("--sizes", help="comma-separated qubit counts of the loss + gradient workload")
    parser.add_argument("--workloads", default="grad,iris,vqe", help="comma-separated: grad, iris, vqe")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated: " + ", ".join(PEERS))
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print its JSON
    args = parser.parse_args()
    if args.case:
        import resource

        result = run_case(args.case, args.quick)
        result["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        print(json.dumps(result))
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([4, 8] if args.quick else list(SIZES))
    peers = ["qspec", *[p for p in args.peers.split(",") if p != "qspec"]]
    workloads = args.workloads.split(",")
    print(f"# qspec engine benchmark ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    if "grad" in workloads:
        report_grad(sizes, peers, args.quick)
    if "iris" in workloads:
        report_iris(peers, args.quick)
    if "vqe" in workloads:
        report_vqe(peers, args.quick)
    if MISMATCHES:
        print("\nvalues that do not agree with qspec's:\n" + "\n".join(f"- {m}" for m in MISMATCHES))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
