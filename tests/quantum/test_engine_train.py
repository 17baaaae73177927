"""Training end to end: the example specs meet their targets, runs repeat bit for bit, devices work."""

from __future__ import annotations

import numpy as np
import pytest

from qspec.quantum import IterationRecord, train
from qspec.spec.models import Experiment

H2_EXACT = -1.13730604


def test_iris_example_reaches_its_accuracy(examples: dict[str, Experiment]) -> None:
    records: list[IterationRecord] = []
    result = train(examples["iris-vqc"], progress=records.append)
    assert result.metrics["test_accuracy"] >= 0.95
    assert result.metrics["train_accuracy"] >= 0.9
    assert set(result.metrics) == {"train_accuracy", "test_accuracy", "loss"}
    # the exact numpy path trained; the declared backend (Aer) agreed when it took the final metrics
    assert result.extra["exact_training"] is True
    assert result.extra["exact_vs_backend_max_deviation"] < 1e-10
    assert [r.iteration for r in records] == list(range(1, 61)) == [r.iteration for r in result.history]
    assert records[-1].loss < records[0].loss
    assert all(r.gradient_norm is not None and "train_accuracy" in r.metrics for r in records)
    assert records[-1].evaluations == 60 * 70  # 70 train samples x one adjoint-differentiated row
    assert result.data is not None and (result.data.n_train, result.data.n_test) == (70, 30)
    assert result.data.fingerprint.startswith("sha256:")
    assert result.baseline_name == "logistic_regression" and result.baseline["test_accuracy"] >= 0.9
    # 12 circuit weights, then the trained output scale and bias of the logistic readout
    assert result.parameters.shape == (14,) and result.parameter_names[:2] == ["θ[0]", "θ[1]"]
    assert result.parameter_names[12:] == ["output.scale", "output.bias"]
    assert result.test_outputs is not None and result.test_outputs.shape == (30,)
    assert result.shots_used == 0 and result.device.target == "aer"


def test_iris_runs_are_bit_identical(examples: dict[str, Experiment]) -> None:
    first, second = train(examples["iris-vqc"]), train(examples["iris-vqc"])
    assert first.metrics == second.metrics
    assert first.parameters.tobytes() == second.parameters.tobytes()
    assert [r.loss for r in first.history] == [r.loss for r in second.history]


def test_noisy_sampled_runs_are_bit_identical(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["iris-vqc"], backend={"shots": 128, "noise": {"depolarizing": 0.01, "readout": 0.02}},
                        training={"optimizer": {"name": "spsa", "maxiter": 3}, "seed": 4})
    first, second = train(spec), train(spec)
    assert first.metrics == second.metrics
    assert first.parameters.tobytes() == second.parameters.tobytes()
    assert [r.loss for r in first.history] == [r.loss for r in second.history]
    assert first.extra["exact_training"] is False
    assert first.shots_used == second.shots_used == 128 * (3 * 2 * 70 + 100)
    assert first.device.noise is not None and first.device.noise["kind"] == "custom"


def test_h2_exact_reaches_chemical_accuracy(examples: dict[str, Experiment]) -> None:
    result = train(examples["h2-vqe"])
    assert abs(result.metrics["energy"] - H2_EXACT) < 1.6e-3
    assert result.metrics["energy_error"] < 1.6e-3
    assert abs(result.extra["exact_ground_energy"] - H2_EXACT) < 1e-8
    assert result.metrics["fidelity"] > 0.99
    assert result.metrics["loss"] == result.metrics["energy"]
    assert result.preprocessing is None and result.data is None


def test_h2_with_8192_shots(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["h2-vqe"], backend={"shots": 8192},
                        training={"optimizer": {"name": "cobyla", "maxiter": 150}})
    result = train(spec)
    assert abs(result.metrics["energy"] - H2_EXACT) < 1e-2
    assert result.shots_used > 0 and result.extra["exact_training"] is False
    # two measurement bases (Z-type terms, XX), one row each per evaluation
    assert result.shots_used == 8192 * 2 * (result.iterations + 1)


def test_fake_device_end_to_end(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["iris-vqc"], backend={"target": "fake:manila", "shots": 256, "seed": 3},
                        training={"optimizer": {"name": "spsa", "maxiter": 2, "learning_rate": 1.0}})
    result = train(spec)
    from qspec.quantum.backends import fake_backend

    device = fake_backend("manila")
    basis = set(device.target.operation_names)
    circuits = result.transpiled if isinstance(result.transpiled, list) else [result.transpiled]
    for circuit in circuits:
        assert set(circuit.count_ops()) - {"barrier"} <= basis
        assert circuit.num_qubits == 5
        for instruction in circuit.data:
            if instruction.operation.name == "cx":
                pair = tuple(circuit.find_bit(q).index for q in instruction.qubits)
                assert pair in device.target["cx"]  # on the coupling map
    assert result.device.provider == "ibm-fake" and result.device.device == "manila" and result.device.simulator
    calibration = result.device.calibration
    assert calibration is not None and len(calibration["layout"]) == 4
    first = calibration["qubits"][0]
    assert first["t1"] > 0 and first["t2"] > 0 and 0 < first["readout_error"] < 0.5
    assert calibration["gate_errors"]["cx"] and calibration["median"]["readout_error"] > 0
    assert result.device.noise is not None and result.device.noise["from_device"] == "manila"
    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0
    # noisy: the sampled test outputs are not the noiseless ones and never reach +-1
    assert np.max(np.abs(result.test_outputs)) < 1.0


def test_cobyla_and_lbfgsb_classifiers_train(examples: dict[str, Experiment], with_changes) -> None:
    for optimizer in ({"name": "cobyla", "maxiter": 30}, {"name": "l_bfgs_b", "maxiter": 10}):
        records: list[IterationRecord] = []
        result = train(with_changes(examples["iris-vqc"], training={"optimizer": optimizer}), progress=records.append)
        assert records and records[-1].iteration == result.iterations
        assert min(r.loss for r in result.history) < result.history[0].loss
        assert result.converged_iteration == int(np.argmin([r.loss for r in result.history])) + 1


@pytest.mark.slow
def test_breast_cancer_example_trains_under_device_noise(examples: dict[str, Experiment]) -> None:
    result = train(examples["breast-cancer-noisy"])
    assert result.metrics["test_accuracy"] >= 0.8
    assert result.data is not None and result.data.n_raw_features == 30 and result.data.n_features == 4
    assert result.preprocessing is not None and result.preprocessing.pca_components is not None
    assert result.shots_used == 1024 * (40 * 2 * result.data.n_train + result.data.n_train + result.data.n_test)
    assert result.device.noise is not None and result.device.noise["from_device"] == "manila"
