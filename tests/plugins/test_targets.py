"""Backend targets: parsing, run tags, prices, shots and memory, as each target plug-in says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qspec.plugins import targets
from qspec.spec.models import BackendSpec, ExperimentSpec


def spec(backend: dict, qubits: int = 4, **training) -> ExperimentSpec:
    return ExperimentSpec.model_validate({
        "task": "classification", "data": {"source": "sklearn:iris", "classes": [0, 1]},
        "circuit": {"qubits": qubits, "feature_map": {"type": "angle"}, "ansatz": {"type": "real_amplitudes"}},
        "backend": backend, "training": {"optimizer": training or {"name": "adam", "maxiter": 3}},
    })


@pytest.mark.parametrize(("target", "tags"), [
    ("aer", ("aer", "aer_simulator", "simulator")),
    ("fake:manila", ("ibm-fake", "manila", "simulator")),
    ("ibm:ibm_torino", ("ibm", "ibm_torino", "hardware")),
])
def test_run_tags_say_what_a_run_ran_on(target: str, tags: tuple[str, str, str]) -> None:
    backend = BackendSpec(target=target, shots=1000)
    assert targets.run_tags(backend) == dict(zip(("quantum.provider", "quantum.device", "quantum.type"), tags,
                                                 strict=True))


def test_kind_device_and_price_come_from_the_target() -> None:
    assert [(b.kind, b.device, b.price_per_second) for b in (
        BackendSpec(), BackendSpec(target="fake:fake_lima"), BackendSpec(target="ibm:ibm_torino", shots=10),
        BackendSpec(target="ibm:ibm_torino", shots=10, price_per_second_usd=0.5),
    )] == [("aer", None, 0.0), ("fake", "lima", 0.0), ("ibm", "ibm_torino", 1.6), ("ibm", "ibm_torino", 0.5)]
    assert BackendSpec(target="fake:fake_lima").target == "fake:lima"  # normalized: the hash sees one spelling


@pytest.mark.parametrize(("target", "message", "hint"), [
    ("ionq", "unknown backend target 'ionq'", "fake:<device> (e.g. fake:manila)"),
    ("ibm", "unknown backend target 'ibm'", "ibm:<device> (e.g. ibm:ibm_torino)"),
    ("aer:gpu", "unknown backend target 'aer:gpu'", "use aer"),
    ("fake:manilla", "unknown fake device 'manilla'", "did you mean fake:manila?"),
    ("fake:nowhere", "unknown fake device 'nowhere'", "fake devices are qiskit-ibm-runtime's snapshots"),
    ("ibm:torino", "'torino' is not an IBM Quantum device name", "IBM devices are named like ibm_torino"),
])
def test_bad_targets_are_refused_with_a_hint(target: str, message: str, hint: str) -> None:
    with pytest.raises(ValidationError) as info:
        BackendSpec(target=target)
    (error,) = info.value.errors()
    assert error["msg"] == message and hint in error["ctx"]["hint"]
    if message.startswith("unknown backend target"):  # the hint lists every kind there is
        assert all(plugin.usage in error["ctx"]["hint"] for plugin in targets.plugins().values())


def test_cross_field_rules_belong_to_their_target() -> None:
    def findings(backend: dict, qubits: int = 4) -> list[tuple[str, str]]:
        return [(".".join(map(str, path)), message) for path, message, _ in spec(backend, qubits).backend.plugin.check(
            spec(backend, qubits))]

    assert findings({"target": "aer", "noise": {"readout": 0.1}}) == []
    assert findings({"target": "aer", "noise": {"from_device": "armonk"}}) == [
        ("spec.circuit.qubits", "the circuit needs 4 qubits, fake:armonk has 1")]
    assert findings({"target": "fake:manila", "noise": {"readout": 0.1}}) == [
        ("spec.backend.noise", "a noise block applies to target aer only, not fake:manila")]
    assert findings({"target": "fake:manila"}, qubits=6) == [
        ("spec.circuit.qubits", "the circuit needs 6 qubits, fake:manila has 5")]
    assert findings({"target": "ibm:ibm_torino", "shots": None}) == [
        ("spec.backend.shots", "real hardware samples: shots cannot be null on ibm targets")]


def test_shots_and_what_may_train_on_the_numpy_path() -> None:
    def of(**backend) -> tuple[int | None, bool, bool]:
        b = BackendSpec(**backend)
        return b.plugin.shots(b), b.plugin.sampled_groups(b), b.plugin.exact(b)

    assert of() == (None, False, True)
    assert of(shots=100) == (100, True, False)
    assert of(noise={"readout": 0.1}) == (None, False, False)
    assert of(target="fake:manila") == (None, False, False)  # a density matrix of the device's noise
    assert of(target="ibm:ibm_torino", shots=100) == (100, False, False)  # the runtime groups bases itself
    unvalidated = BackendSpec.model_construct(target="ibm:ibm_torino", shots=None)
    assert unvalidated.plugin.shots(unvalidated) == 4096


def test_simulators_need_no_account() -> None:
    for name in ("aer", "fake:manila"):
        targets.check_credentials(BackendSpec(target=name))


def test_peak_memory_follows_states_and_rows() -> None:
    from qspec.plugins.targets._memory import AER_OVERHEAD_BYTES, aer_bytes
    from qspec.quantum.estimate import (
        EXACT_CHECKPOINTS,
        EXACT_CHUNK_AMPLITUDES,
        exact_path_bytes,
        ground_state_bytes,
        peak_memory_bytes,
        x_pattern_count,
    )

    # iris, 4 qubits, 12 weights, exact: the numpy path differentiates 70 rows (adjoint); Aer the final 100
    exact = spec({"target": "aer"})
    assert peak_memory_bytes(exact) == max(exact_path_bytes(4, 70), AER_OVERHEAD_BYTES + 100 * 16 * 16)
    # the fused path: 6 + EXACT_CHECKPOINTS states a row, the gather indices (one state), the observable (two)
    per_row = 6 + EXACT_CHECKPOINTS
    assert exact_path_bytes(30, 10**6) == 2**20 + 16 * 2**30 * (per_row + 1 + 2)  # one row at a time beyond the slice
    assert exact_path_bytes(4, 10**9) == 2**20 + 16 * (per_row * EXACT_CHUNK_AMPLITUDES + 3 * 16)  # a slice, any rows
    noisy = spec({"target": "aer", "noise": {"depolarizing": 0.01}})
    assert peak_memory_bytes(noisy) == AER_OVERHEAD_BYTES + 70 * 25 * 16 * 4**4  # density matrices
    sampled = spec({"target": "fake:manila", "shots": 100})
    assert peak_memory_bytes(sampled) == aer_bytes(4, 70 * 25, method="density_matrix", shots=100)
    big = spec({"target": "aer", "noise": {"depolarizing": 0.01}}, qubits=12)
    assert aer_bytes(12, 1, method="automatic", shots=None) < peak_memory_bytes(big)  # trajectories: 2**n each
    hardware = spec({"target": "ibm:ibm_torino", "shots": 100})
    assert peak_memory_bytes(hardware) < AER_OVERHEAD_BYTES
    vqe = ExperimentSpec.model_validate({"task": "vqe", "hamiltonian": {"terms": {"Z" * 12: 1.0}},
                                         "circuit": {"qubits": 12, "ansatz": {"type": "real_amplitudes"}}})
    assert peak_memory_bytes(vqe) == AER_OVERHEAD_BYTES + 16 * 2**12  # Aer's final call; the reference is smaller
    # the exact ground state at 20 qubits: a sparse diagonal matrix and the Lanczos vectors, after training
    vqe20 = vqe.model_copy(update={"hamiltonian": vqe.hamiltonian.model_copy(update={"terms": {"Z" * 20: 1.0}}),
                                   "circuit": vqe.circuit.model_copy(update={"qubits": 20})})
    assert peak_memory_bytes(vqe20) == 2 * 20 * 2**20 + 48 * 16 * 2**20 + exact_path_bytes(20, 1)
    above = vqe20.model_copy(update={"circuit": vqe.circuit.model_copy(update={"qubits": 23})})
    assert peak_memory_bytes(above) == exact_path_bytes(23, 1)  # no exact reference above 22 qubits
    assert ground_state_bytes(10, 3) == 3 * 16 * 4**10  # dense eigh up to 10 qubits
    assert x_pattern_count(["XZ", "ZZ", "YI", "IZ"]) == 2 and x_pattern_count(["ZZ", "IZ"]) == 0


@pytest.mark.parametrize(("backend", "density"), [
    ({"target": "fake:manila", "shots": 100}, True),
    ({"target": "fake:manila"}, True),
    ({"target": "aer", "shots": 100, "noise": {"from_device": "manila"}}, True),
    ({"target": "aer", "noise": {"depolarizing": 0.01}}, True),
    ({"target": "aer", "shots": 100}, False),  # noiseless: Aer (or the numpy statevector) as before
])
def test_noisy_local_simulators_train_on_the_density_matrix_path(backend: dict, density: bool) -> None:
    from qspec.quantum.backends import DensityMatrixEvaluator, density_trainer, open_backend
    from qspec.quantum.circuits import build_circuits

    experiment = spec(backend)
    trainer = density_trainer(open_backend(experiment.backend, 4), build_circuits(experiment))
    assert isinstance(trainer, DensityMatrixEvaluator) is density
