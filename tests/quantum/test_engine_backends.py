"""Backends: sampled and noisy evaluation, and the import boundary of the engine."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from qspec.quantum import train
from qspec.quantum.backends import EstimatorEvaluator, ExactEvaluator, SamplerEvaluator, open_backend
from qspec.quantum.circuits import build_circuits
from qspec.spec.models import BackendSpec, Experiment, ExperimentSpec


def h2_like_spec() -> ExperimentSpec:
    return ExperimentSpec.model_validate({
        "task": "vqe",
        "hamiltonian": {"terms": {"XYZ": 0.3, "ZZI": -0.7, "IXX": 0.25, "YIY": 0.1, "III": 0.5}},
        "circuit": {"qubits": 3, "ansatz": {"type": "efficient_su2", "reps": 1}},
    })


def test_sampler_estimates_agree_with_exact_values() -> None:
    circuits = build_circuits(h2_like_spec())
    weights = np.random.default_rng(2).uniform(-np.pi, np.pi, (6, len(circuits.weights)))
    index = np.zeros(6, dtype=np.int64)
    exact = ExactEvaluator(circuits).expectations(np.zeros((0, 0)), weights, index)
    shots = 20000
    sampler = SamplerEvaluator(open_backend(BackendSpec(shots=shots, seed=1), 3), circuits)
    sampled = sampler.expectations(np.zeros((0, 0)), weights, index)
    # each of 4 terms has variance <= coeff^2 / shots; 5 sigma of their sum
    assert np.max(np.abs(sampled - exact)) < 5 * np.sqrt((0.3**2 + 0.7**2 + 0.25**2 + 0.1**2) / shots)
    assert len(sampler.transpiled) == 4  # no two of these terms share a basis: one circuit each
    assert sampler.shots_used == 6 * 4 * shots


def test_exact_path_chunks_rows_without_changing_results(monkeypatch) -> None:
    circuits = build_circuits(h2_like_spec())
    weights = np.random.default_rng(3).uniform(-np.pi, np.pi, (50, len(circuits.weights)))
    index = np.zeros(50, dtype=np.int64)
    whole = ExactEvaluator(circuits).expectations(np.zeros((0, 0)), weights, index)
    monkeypatch.setattr("qspec.quantum.backends.EXACT_CHUNK_AMPLITUDES", 8 * 7)
    chunked = ExactEvaluator(circuits).expectations(np.zeros((0, 0)), weights, index)
    np.testing.assert_array_equal(whole, chunked)


def test_device_noise_without_shots_is_exact_and_noisy(examples: dict[str, Experiment]) -> None:
    circuits = build_circuits(examples["iris-vqc"].spec)
    backend = open_backend(BackendSpec(shots=None, noise={"from_device": "manila"}, seed=2), 4)
    assert not backend.exact and backend.runner.options.method == "density_matrix"
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 1, (5, 4))
    weights = rng.uniform(-np.pi, np.pi, (5, len(circuits.weights)))
    index = np.arange(5)
    noisy = EstimatorEvaluator(backend, circuits).expectations(features, weights, index)
    clean = ExactEvaluator(circuits).expectations(features, weights, index)
    assert 1e-3 < np.max(np.abs(noisy - clean)) < 0.5
    assert np.all(np.abs(noisy) < np.abs(clean) + 1e-9)  # depolarizing noise shrinks <Z...Z>
    again = EstimatorEvaluator(backend, circuits).expectations(features, weights, index)
    assert np.array_equal(noisy, again)


def test_fake_device_without_shots_trains_on_the_device_model(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["h2-vqe"], backend={"target": "fake:lima", "shots": None},
                        training={"optimizer": {"name": "cobyla", "maxiter": 40}})
    result = train(spec)
    assert result.extra["exact_training"] is False and result.device.device == "lima"
    assert result.metrics["energy_error"] > 1e-4  # device noise keeps it off the exact ground energy
    assert result.metrics["energy"] < -1.0


def test_records_and_estimates_import_without_qiskit() -> None:
    code = ("import sys, qspec.quantum, qspec.quantum.result, qspec.quantum.estimate; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('qiskit', 'qiskit_aer', 'mlflow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readout_error_applies_without_shots() -> None:
    # readout error alone, no gate noise: shots: null must still see it, as the sampler does
    circuits = build_circuits(h2_like_spec())
    weights = np.random.default_rng(4).uniform(-np.pi, np.pi, (4, len(circuits.weights)))
    index = np.zeros(4, dtype=np.int64)
    clean = ExactEvaluator(circuits).expectations(np.zeros((0, 0)), weights, index)
    exact_noisy = EstimatorEvaluator(open_backend(BackendSpec(shots=None, noise={"readout": 0.1}, seed=1), 3),
                                     circuits).expectations(np.zeros((0, 0)), weights, index)
    shots = 40000
    sampled = SamplerEvaluator(open_backend(BackendSpec(shots=shots, noise={"readout": 0.1}, seed=1), 3),
                               circuits).expectations(np.zeros((0, 0)), weights, index)
    assert np.max(np.abs(exact_noisy - clean)) > 0.05
    assert np.max(np.abs(sampled - exact_noisy)) < 5 * np.sqrt((0.3**2 + 0.7**2 + 0.25**2 + 0.1**2) / shots)


def test_device_readout_error_applies_without_shots(examples: dict[str, Experiment]) -> None:
    circuits = build_circuits(examples["iris-vqc"].spec)
    rng = np.random.default_rng(5)
    features = rng.uniform(0, 1, (3, 4))
    weights = rng.uniform(-np.pi, np.pi, (3, len(circuits.weights)))
    index = np.arange(3)
    backend = open_backend(BackendSpec(shots=None, noise={"from_device": "manila"}, seed=2), 4)
    evaluator = EstimatorEvaluator(backend, circuits)
    with_readout = evaluator.expectations(features, weights, index)
    evaluator.observable = circuits.observable.apply_layout(evaluator.transpiled.layout)
    without = evaluator.expectations(features, weights, index)
    assert np.max(np.abs(with_readout - without)) > 1e-3
    assert np.all(np.abs(with_readout) <= np.abs(without) + 1e-9)


def test_readout_confusions_come_from_the_noise_models_public_form() -> None:
    """What with_readout_error folds in, read through NoiseModel.to_dict(): a change there fails here."""
    from qiskit_aer.noise import NoiseModel, ReadoutError

    from qspec.quantum.backends import custom_noise_model, fake_backend, readout_confusions

    assert readout_confusions(custom_noise_model(0.01, 0.1)) == ({}, (0.1, 0.1))
    assert readout_confusions(custom_noise_model(0.01, None)) == ({}, None)
    model = NoiseModel()
    model.add_readout_error(ReadoutError([[0.9, 0.1], [0.3, 0.7]]), [2])
    assert readout_confusions(model) == ({2: (0.1, 0.3)}, None)
    device = fake_backend("manila")
    local, default = readout_confusions(NoiseModel.from_backend(device))
    assert default is None and sorted(local) == list(range(5))
    for qubit, (p01, p10) in local.items():  # the snapshot's own measurement errors
        assert (p01 + p10) / 2 == pytest.approx(device.target["measure"][(qubit,)].error)
