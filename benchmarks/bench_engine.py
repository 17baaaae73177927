"""Speed of the quantum engine against the ways Qiskit users usually evaluate a classifier.

Part 1: one loss + gradient evaluation of a 4-qubit classifier (zz feature map, real_amplitudes
reps 2: 12 parameters) on 100 samples, i.e. 100 x (1 + 2 x 12) = 2,500 parameter rows, three ways:
  naive   binding and running one circuit at a time on Aer's EstimatorV2
  aer     Aer's EstimatorV2 over one batched (2500 x 16) parameter array, one call
  qspec   the engine's exact path (numpy statevector over all rows at once)
Goals: qspec >= 300x naive and >= 20x aer. All three give the same loss and gradient.

Part 2: a full training run of the iris example against qiskit-machine-learning's EstimatorQNN +
NeuralNetworkClassifier on the same data, circuit, optimizer (Adam, lr 0.1) and iterations.
Needs the ``bench`` extra (qiskit-machine-learning); skipped with a note when it is missing.

Run: python benchmarks/bench_engine.py [--naive-rows N] (N < 2500 times a sample and scales up)
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from collections.abc import Callable

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qspec.quantum.backends import EstimatorEvaluator, ExactEvaluator, open_backend  # noqa: E402
from qspec.quantum.circuits import build_circuits  # noqa: E402
from qspec.quantum.training import Objective, classification_head  # noqa: E402
from qspec.spec.models import BackendSpec, ExperimentSpec  # noqa: E402


class NaiveEvaluator:
    """The per-circuit loop the engine exists to avoid: bind one row, run it, repeat."""

    transpiled = None
    executions = 0
    shots_used = 0

    def __init__(self, circuits, limit: int | None = None) -> None:
        from qiskit.transpiler import generate_preset_pass_manager
        from qiskit_aer import AerSimulator
        from qiskit_aer.primitives import EstimatorV2

        self.circuits = circuits
        self.isa = generate_preset_pass_manager(1, backend=AerSimulator(), seed_transpiler=1).run(circuits.circuit)
        self.observable = circuits.observable.apply_layout(self.isa.layout)
        self.estimator = EstimatorV2()
        self.limit = limit

    def expectations(self, features, weights, index):
        params = [*self.circuits.features, *self.circuits.weights]
        rows = len(weights) if self.limit is None else min(self.limit, len(weights))
        out = np.zeros(len(weights))
        for r in range(rows):
            bound = self.isa.assign_parameters(dict(zip(params, [*features[index[r]], *weights[r]], strict=True)))
            out[r] = self.estimator.run([(bound, self.observable)]).result()[0].data.evs
        return out


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def part1(naive_rows: int) -> None:
    spec = ExperimentSpec.model_validate({
        "task": "classification", "data": {"source": "sklearn:iris", "classes": [0, 1]},
        "circuit": {"qubits": 4, "feature_map": {"type": "zz"}, "ansatz": {"type": "real_amplitudes", "reps": 2}},
    })
    circuits = build_circuits(spec)
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 1, (100, 4))
    labels = rng.integers(0, 2, 100)
    theta = rng.uniform(-np.pi, np.pi, (1, len(circuits.weights)))
    head = classification_head(labels)
    print(f"one loss + gradient: 4 qubits, 100 samples, {theta.shape[1]} parameters "
          f"= {100 * (1 + 2 * theta.shape[1])} parameter rows")

    exact = Objective(ExactEvaluator(circuits), features, head)
    t_qspec, (e_qspec,) = timed(lambda: exact.evaluate(theta, gradient=True), 20)
    aer = Objective(EstimatorEvaluator(open_backend(BackendSpec(seed=1), 4), circuits), features, head)
    t_aer, (e_aer,) = timed(lambda: aer.evaluate(theta, gradient=True), 3)

    total_rows = 100 * (1 + 2 * theta.shape[1])
    naive_evaluator = NaiveEvaluator(circuits, limit=naive_rows)
    weights, index, _ = exact.rows(theta, gradient=True)
    start = time.perf_counter()
    naive_values = naive_evaluator.expectations(features, weights, index)
    t_naive = (time.perf_counter() - start) * total_rows / min(naive_rows, total_rows)
    scaled = f" (timed on {naive_rows} rows, scaled)" if naive_rows < total_rows else ""
    exact_values = exact.evaluator.expectations(features, weights, index)
    checked = min(naive_rows, total_rows)
    assert np.max(np.abs(naive_values[:checked] - exact_values[:checked])) < 1e-10
    assert abs(e_aer.loss - e_qspec.loss) < 1e-10 and np.max(np.abs(e_aer.gradient - e_qspec.gradient)) < 1e-10

    print(f"  naive loop (bind + run per row) {t_naive * 1e3:10.1f} ms{scaled}")
    print(f"  Aer EstimatorV2, one batch      {t_aer * 1e3:10.1f} ms")
    print(f"  qspec engine (exact)            {t_qspec * 1e3:10.1f} ms")
    print(f"  qspec vs naive: {t_naive / t_qspec:8.0f}x (goal >= 300x)")
    print(f"  qspec vs Aer:   {t_aer / t_qspec:8.1f}x (goal >= 20x)")
    print(f"  same loss and gradient on all three (max |diff| {np.max(np.abs(e_aer.gradient - e_qspec.gradient)):.1e})")


def part2() -> None:
    print()
    print("full training of the iris example (zz + real_amplitudes reps 2, Adam lr 0.1, 60 iterations):")
    try:
        import qiskit_machine_learning  # noqa: F401
    except ImportError:
        print("  qiskit-machine-learning is not installed (pip install '.[bench]'): comparison skipped")
        return
    from qiskit.primitives import StatevectorEstimator
    from qiskit_machine_learning.algorithms.classifiers import NeuralNetworkClassifier
    from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
    from qiskit_machine_learning.neural_networks import EstimatorQNN
    from qiskit_machine_learning.optimizers import ADAM

    from qspec.quantum import train
    from qspec.quantum.circuits import angle_range
    from qspec.quantum.data import load_dataset, split_dataset
    from qspec.spec import load_specs

    experiment = load_specs([ROOT / "specs"]).experiments["iris-vqc"].resource
    start = time.perf_counter()
    result = train(experiment)
    t_qspec = time.perf_counter() - start

    spec = experiment.spec
    split = split_dataset(spec.data, load_dataset(spec.data), 4, angle_range(spec))
    circuits = build_circuits(spec)
    estimator = StatevectorEstimator()
    qnn = EstimatorQNN(circuit=circuits.circuit, observables=circuits.observable, input_params=circuits.features,
                       weight_params=circuits.weights, estimator=estimator,
                       gradient=ParamShiftEstimatorGradient(estimator))
    classifier = NeuralNetworkClassifier(qnn, loss="cross_entropy", one_hot=False,
                                         optimizer=ADAM(maxiter=60, lr=0.1), initial_point=result.initial_parameters)
    # The QNN outputs <Z...Z> in [-1, 1]; as in qspec, odd parity (-1) is class 1.
    y_train = np.where(split.y_train == 1, -1, 1)
    start = time.perf_counter()
    classifier.fit(split.x_train, y_train)
    t_qml = time.perf_counter() - start
    qml_test = float(np.mean(np.where(classifier.predict(split.x_test).ravel() < 0, 1, 0) == split.y_test))
    accuracy = result.metrics["test_accuracy"]
    print(f"  qspec train()                            {t_qspec:8.2f} s   test accuracy {accuracy:.3f}")
    print(f"  qiskit-machine-learning EstimatorQNN     {t_qml:8.2f} s   test accuracy {qml_test:.3f}")
    print(f"  qspec vs qiskit-machine-learning: {t_qml / t_qspec:6.1f}x (goal >= 10x at equal or better accuracy)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--naive-rows", type=int, default=2500, help="rows the naive loop really runs")
    parser.add_argument("--skip-qml", action="store_true", help="skip the qiskit-machine-learning comparison")
    args = parser.parse_args()
    part1(args.naive_rows)
    if not args.skip_qml:
        part2()


if __name__ == "__main__":
    main()
