"""The numpy density-matrix path of noisy training, held to Aer: exactly without shots, within
sampling error with them; seeded, so the same spec trains to the same result."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit

from qspec.quantum import train
from qspec.quantum.backends import (
    DENSITY_PATH_MAX_QUBITS,
    DensityMatrixEvaluator,
    EstimatorEvaluator,
    SamplerEvaluator,
    density_trainer,
    open_backend,
    sample_counts,
)
from qspec.quantum.circuits import build_circuits
from qspec.quantum.density import DensityMatrixBatch
from qspec.spec.models import BackendSpec, Experiment, ExperimentSpec

NOISES = [{"from_device": "manila"}, {"depolarizing": 0.02, "readout": 0.05}]


def vqe_spec(qubits: int = 3) -> ExperimentSpec:
    # X, Y and Z terms: three measurement groups, each a circuit of its own
    return ExperimentSpec.model_validate({
        "task": "vqe",
        "hamiltonian": {"terms": {"XYZ"[:qubits] + "I" * (qubits - 3): 0.3, "ZZ" + "I" * (qubits - 2): -0.7,
                                  "I" * (qubits - 2) + "XX": 0.25, "I" * qubits: 0.5}},
        "circuit": {"qubits": qubits, "ansatz": {"type": "efficient_su2", "reps": 1}},
    })


def rows(circuits, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.uniform(0, np.pi, (count, len(circuits.features))) if circuits.features else np.zeros((0, 0))
    weights = rng.uniform(-np.pi, np.pi, (count, len(circuits.weights)))
    index = np.arange(count) if circuits.features else np.zeros(count, dtype=np.int64)
    return features, weights, index


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("example", ["breast-cancer-noisy", "iris-vqc"])
def test_exact_density_path_equals_aers_density_matrix(examples: dict[str, Experiment], example: str,
                                                       noise: dict) -> None:
    # iris: the zz feature map's angles are products of features (not affine in the parameters)
    circuits = build_circuits(examples[example].spec)
    backend = open_backend(BackendSpec(shots=None, noise=noise, seed=3), 4)
    features, weights, index = rows(circuits, 40)
    aer = EstimatorEvaluator(backend, circuits).expectations(features, weights, index)
    density = DensityMatrixEvaluator(backend, circuits)
    ours = density.expectations(features, weights, index)
    np.testing.assert_allclose(ours, aer, atol=1e-9)
    assert density.num_qubits == 4  # manila's fifth qubit is idle: not simulated
    assert density.shots_used == 0 and density.executions == 40


@pytest.mark.parametrize("noise", NOISES)
def test_exact_density_path_reads_x_and_y_terms_as_aers_estimator(noise: dict) -> None:
    circuits = build_circuits(vqe_spec())
    backend = open_backend(BackendSpec(shots=None, noise=noise, seed=3), 3)
    _, weights, index = rows(circuits, 12)
    aer = EstimatorEvaluator(backend, circuits).expectations(np.zeros((0, 0)), weights, index)
    density = DensityMatrixEvaluator(backend, circuits)
    np.testing.assert_allclose(density.expectations(np.zeros((0, 0)), weights, index), aer, atol=1e-9)
    assert len(density.batches) == 1  # exact: <O> of the one unmeasured circuit, as Aer's estimator


def test_sampled_density_path_rotates_each_group_as_aers_sampler_does() -> None:
    # with shots, X and Y terms are measured after basis rotations, whose gates are noisy too
    circuits = build_circuits(vqe_spec())
    shots = 4000
    backend = open_backend(BackendSpec(shots=shots, noise=NOISES[1], seed=4), 3)
    _, weights, index = rows(circuits, 10)
    density = DensityMatrixEvaluator(backend, circuits)
    values = np.concatenate([np.zeros((10, 0)), weights], axis=1)
    truth = sum(coeff * (batch.probabilities(values) @ signs)
                for batch, terms in zip(density.batches, density.signs, strict=True) for coeff, signs in terms)
    aer = SamplerEvaluator(backend, circuits).expectations(np.zeros((0, 0)), weights, index)
    ours = density.expectations(np.zeros((0, 0)), weights, index)
    bound = 5 * np.sqrt((0.3**2 + 0.7**2 + 0.25**2) / shots)
    assert np.max(np.abs(aer - truth)) < bound and np.max(np.abs(ours - truth)) < bound
    assert len(density.batches) == 3 and density.shots_used == 10 * 3 * shots


def test_sampled_density_path_agrees_with_aers_sampler_within_shot_noise(examples: dict[str, Experiment]) -> None:
    circuits = build_circuits(examples["breast-cancer-noisy"].spec)
    shots = 1024
    features, weights, index = rows(circuits, 200, seed=1)
    exact = DensityMatrixEvaluator(open_backend(BackendSpec(shots=None, noise=NOISES[0], seed=3), 4), circuits)
    truth = exact.expectations(features, weights, index)
    backend = open_backend(BackendSpec(shots=shots, noise=NOISES[0], seed=3), 4)
    sampled = DensityMatrixEvaluator(backend, circuits)
    ours = sampled.expectations(features, weights, index)
    aer = SamplerEvaluator(backend, circuits).expectations(features, weights, index)
    sigma = np.sqrt(np.maximum(1 - truth**2, 1e-6) / shots)  # a +-1 parity's standard error
    for values in (ours, aer):
        z = (values - truth) / sigma
        assert np.max(np.abs(z)) < 5 and 0.7 < np.mean(z**2) < 1.3  # shot noise, no more, no less
    assert np.max(np.abs(ours - aer) / (np.sqrt(2) * sigma)) < 5
    assert not np.array_equal(ours, truth)  # sampled, not exact
    assert sampled.shots_used == 200 * shots


def test_sampled_values_repeat_per_call_number_and_differ_between_calls(examples: dict[str, Experiment]) -> None:
    circuits = build_circuits(examples["breast-cancer-noisy"].spec)
    features, weights, index = rows(circuits, 30)

    def evaluator(seed: int) -> DensityMatrixEvaluator:
        return DensityMatrixEvaluator(open_backend(BackendSpec(shots=256, noise=NOISES[0], seed=seed), 4), circuits)

    first, again, other = evaluator(5), evaluator(5), evaluator(6)
    call0 = first.expectations(features, weights, index)
    np.testing.assert_array_equal(call0, again.expectations(features, weights, index))
    assert not np.array_equal(call0, other.expectations(features, weights, index))
    assert not np.array_equal(call0, first.expectations(features, weights, index))  # fresh shots each call


def test_sample_counts_are_multinomial() -> None:
    probabilities = np.array([[0.5, 0.25, 0.25, 0.0], [0.0, 0.0, 0.0, 1.0], [0.1, 0.2, 0.3, 0.4]])
    counts = sample_counts(np.random.default_rng(0), 100_000, np.repeat(probabilities, 3, axis=0))
    assert counts.shape == (9, 4) and np.all(counts.sum(axis=1) == 100_000) and np.all(counts >= 0)
    np.testing.assert_allclose(counts / 100_000, np.repeat(probabilities, 3, axis=0), atol=0.006)
    assert counts[0, 3] == 0 and counts[3, 3] == 100_000


def test_readout_error_moves_probability_between_outcomes() -> None:
    circuit = QuantumCircuit(2)
    theta = Parameter("t")
    circuit.rx(theta, 0)
    circuit.measure_all()
    batch = DensityMatrixBatch(circuit, [theta], None, {0: (0.1, 0.2)}, None)
    p = batch.probabilities(np.array([[0.0], [np.pi]]))  # |00> and |01> (clbit 0 = qubit 0)
    np.testing.assert_allclose(p, [[0.9, 0.1, 0, 0], [0.2, 0.8, 0, 0]], atol=1e-12)


def test_what_the_density_path_cannot_run_is_refused() -> None:
    after = QuantumCircuit(1, 1)
    after.measure(0, 0)
    after.x(0)
    with pytest.raises(ValueError, match="after a measurement"):
        DensityMatrixBatch(after, [], None)
    reset = QuantumCircuit(1)
    reset.reset(0)
    reset.measure_all()
    with pytest.raises(ValueError, match="reset"):
        DensityMatrixBatch(reset, [], None)


def test_density_path_is_chosen_only_for_small_noisy_simulations(examples: dict[str, Experiment]) -> None:
    circuits = build_circuits(examples["breast-cancer-noisy"].spec)
    assert isinstance(density_trainer(open_backend(BackendSpec(shots=64, noise=NOISES[0]), 4), circuits),
                      DensityMatrixEvaluator)
    assert density_trainer(open_backend(BackendSpec(shots=64), 4), circuits) is None  # noiseless
    wide = build_circuits(vqe_spec(DENSITY_PATH_MAX_QUBITS + 1))
    noisy = open_backend(BackendSpec(shots=64, noise=NOISES[1]), DENSITY_PATH_MAX_QUBITS + 1)
    assert density_trainer(noisy, wide) is None


def test_a_noisy_spec_trains_on_the_density_path_and_repeats(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["breast-cancer-noisy"], training={"optimizer": {"name": "spsa", "maxiter": 3}})
    first, second = train(spec), train(spec)
    assert first.extra["trained_on"] == "numpy-density-matrix"
    np.testing.assert_array_equal(first.parameters, second.parameters)
    assert first.metrics == second.metrics  # the final metrics run on Aer, seeded too
    assert [r.loss for r in first.history] == [r.loss for r in second.history]
    reseeded = train(with_changes(spec, backend={"seed": 12}))
    assert [r.loss for r in reseeded.history] != [r.loss for r in first.history]  # other shots


@pytest.mark.slow
def test_breast_cancer_example_on_the_density_path_meets_its_requirement(examples: dict[str, Experiment]) -> None:
    result = train(examples["breast-cancer-noisy"])
    assert result.extra["trained_on"] == "numpy-density-matrix"
    assert result.metrics["test_accuracy"] >= 0.8 and result.device.noise["from_device"] == "manila"


def test_aer_sampler_transpiles_once_and_runs_each_call_as_one_job_of_parameter_arrays(
        examples: dict[str, Experiment]) -> None:
    # the declared noisy path (final metrics; circuits above the density path's size): no per-row work
    from qiskit_aer.primitives import SamplerV2

    circuits = build_circuits(examples["breast-cancer-noisy"].spec)
    backend = open_backend(BackendSpec(shots=128, noise=NOISES[0], seed=3), 4)
    transpiles, jobs = [], []
    pass_manager = backend.pass_manager

    def counting() -> object:
        transpiles.append(1)
        return pass_manager()

    class Recording:
        def __init__(self, call: int) -> None:
            self.inner = SamplerV2.from_backend(backend.runner, seed=backend.spec.seed + call, default_shots=128)

        def run(self, pubs: list) -> object:
            jobs.append([np.shape(values) for _, values in pubs])
            return self.inner.run(pubs)

    backend.pass_manager = counting  # type: ignore[method-assign]
    sampler = SamplerEvaluator(backend, circuits, sampler=Recording)
    features, weights, index = rows(circuits, 30)
    first = sampler.expectations(features, weights, index)
    sampler.expectations(features, weights, index)
    assert len(transpiles) == 1
    assert jobs == [[(30, len(circuits.features) + len(circuits.weights))]] * 2
    again = SamplerEvaluator(backend, circuits).expectations(features, weights, index)
    np.testing.assert_array_equal(first, again)  # seeded: the same call gives the same shots


def test_a_correlated_readout_error_keeps_training_on_aer(examples: dict[str, Experiment]) -> None:
    from qiskit_aer.noise import ReadoutError

    circuits = build_circuits(examples["breast-cancer-noisy"].spec)
    backend = open_backend(BackendSpec(shots=64, noise=NOISES[1]), 4)
    assert density_trainer(backend, circuits) is not None
    backend.noise_model.add_readout_error(ReadoutError(np.full((4, 4), 0.25)), [0, 1])
    assert density_trainer(backend, circuits) is None


def test_slicing_rows_changes_no_value(examples: dict[str, Experiment], monkeypatch) -> None:
    circuits = build_circuits(examples["breast-cancer-noisy"].spec)
    features, weights, index = rows(circuits, 50)
    values = {}
    for chunk in (2**18, 256 * 7):  # 7 rows of 4-qubit density matrices a slice
        monkeypatch.setattr("qspec.quantum.backends.DENSITY_CHUNK_AMPLITUDES", chunk)
        for shots in (None, 100):
            evaluator = DensityMatrixEvaluator(open_backend(BackendSpec(shots=shots, noise=NOISES[0]), 4), circuits)
            values[chunk, shots] = evaluator.expectations(features, weights, index)
    np.testing.assert_allclose(values[2**18, None], values[256 * 7, None], atol=1e-12)
    np.testing.assert_array_equal(values[2**18, 100], values[256 * 7, 100])
