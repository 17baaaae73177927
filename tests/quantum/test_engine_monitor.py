"""The engine's half of ``qspec monitor``: a trained model evaluated on another target, and a fake
device given another calibration (the one use of qiskit-ibm-runtime's fake backend internals)."""

from __future__ import annotations

import numpy as np
import pytest

from qspec.errors import BackendError, QspecError
from qspec.quantum import train
from qspec.quantum.backends import calibration, fake_backend, with_properties
from qspec.quantum.data import load_dataset, split_dataset
from qspec.quantum.monitor import device_properties, evaluate_classifier, evaluate_energy, monitor_backend
from qspec.quantum.predict import split_parameters
from qspec.spec.models import BackendSpec, Experiment


def worse(props: dict, readout: float) -> dict:
    for qubit in props["qubits"]:
        for item in qubit:
            if item["name"] in ("readout_error", "prob_meas0_prep1", "prob_meas1_prep0"):
                item["value"] = readout
    return props


def test_a_calibration_file_replaces_the_snapshot_of_a_fake_device() -> None:
    from qiskit_aer.noise import NoiseModel

    from qspec.quantum.backends import readout_confusions

    snapshot = calibration(fake_backend("manila"))["median"]["readout_error"]
    device = with_properties(fake_backend("manila"), worse(device_properties("fake:manila"), 0.3))
    assert calibration(device)["median"]["readout_error"] == pytest.approx(0.3)
    assert snapshot < 0.05  # the untouched snapshot is the shipped one
    # Aer's noise model follows the new calibration (the Target the fake backend builds from it).
    local, _ = readout_confusions(NoiseModel.from_backend(device))
    assert local and all(p01 == pytest.approx(0.3) and p10 == pytest.approx(0.3) for p01, p10 in local.values())


def test_a_malformed_calibration_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="not a device properties snapshot"):
        with_properties(fake_backend("manila"), {"qubits": [[{"name": "T1"}]] * 5})
    with pytest.raises(BackendError, match="describes 7 qubits, fake_manila has 5"):
        with_properties(fake_backend("manila"), device_properties("fake:lagos"))


def test_monitor_backend_keeps_the_version_s_settings_on_another_target() -> None:
    trained = BackendSpec(target="aer", shots=1000, seed=3, noise={"depolarizing": 0.01})
    fake = monitor_backend(trained, "fake:lagos")
    assert (fake.target, fake.shots, fake.seed, fake.noise) == ("fake:lagos", 1000, 3, None)
    assert monitor_backend(trained, None) is trained and monitor_backend(trained, "aer") is trained
    with pytest.raises(QspecError, match="--target ibm:torino"):
        monitor_backend(trained, "ibm:torino")


def test_the_evaluation_agrees_with_training_and_a_noisier_device_lowers_the_confidence(
        examples: dict[str, Experiment], with_changes) -> None:
    experiment = with_changes(examples["iris-vqc"], circuit={"qubits": 2}, data={"features": 2},
                              training={"optimizer": {"name": "cobyla", "maxiter": 15}})
    result = train(experiment)
    data = experiment.spec.data
    assert data is not None and result.preprocessing is not None
    split = split_dataset(data, load_dataset(data), 2, result.preprocessing.angle_range)
    exact = evaluate_classifier(result.circuit, result.parameters, result.preprocessing, split.raw_test,
                                split.y_test, experiment.spec.backend)
    assert exact.metrics["accuracy"] == result.metrics["test_accuracy"]
    readout, stored, _ = split_parameters(result.circuit, result.parameters)
    p1 = readout.probability(np.asarray(result.test_outputs), stored)
    assert exact.metrics["mean_confidence"] == pytest.approx(float(np.mean(np.maximum(p1, 1 - p1))), abs=1e-9)
    assert exact.rows == len(split.y_test) and exact.metrics["cost_usd"] == 0.0 and exact.metrics["shots"] == 0.0
    sampled = evaluate_classifier(result.circuit, result.parameters, result.preprocessing, split.raw_test,
                                  split.y_test, BackendSpec(target="aer", shots=500, seed=2))
    assert sampled.metrics["shots"] == 500.0  # one parity circuit per prediction
    assert abs(sampled.metrics["mean_confidence"] - exact.metrics["mean_confidence"]) < 0.05
    noisy = evaluate_classifier(result.circuit, result.parameters, result.preprocessing, split.raw_test,
                                split.y_test, monitor_backend(experiment.spec.backend, "fake:manila"),
                                properties=worse(device_properties("fake:manila"), 0.25))
    assert noisy.metrics["mean_confidence"] < exact.metrics["mean_confidence"] - 0.05
    assert noisy.device.calibration is not None
    assert noisy.device.calibration["median"]["readout_error"] == pytest.approx(0.25)


def test_energy_is_re_estimated_with_its_error(examples: dict[str, Experiment]) -> None:
    experiment = examples["h2-vqe"]
    result = train(experiment)
    hamiltonian = experiment.spec.hamiltonian
    assert hamiltonian is not None
    again = evaluate_energy(result.circuit, result.parameters, dict(hamiltonian.terms), hamiltonian.constant,
                            experiment.spec.backend)
    assert again.metrics["energy"] == pytest.approx(result.metrics["energy"], abs=1e-9)
    assert again.metrics["energy_error"] == pytest.approx(result.metrics["energy_error"], abs=1e-9)
    # the training run's logged ground energy is used as it is, not solved again
    logged = evaluate_energy(result.circuit, result.parameters, dict(hamiltonian.terms), hamiltonian.constant,
                             experiment.spec.backend, ground_energy=result.extra["exact_ground_energy"] - 0.5)
    assert logged.metrics["energy_error"] == pytest.approx(result.metrics["energy_error"] + 0.5, abs=1e-9)
    with pytest.raises(QspecError, match="--calibration applies to fake"):
        evaluate_energy(result.circuit, result.parameters, dict(hamiltonian.terms), hamiltonian.constant,
                        experiment.spec.backend, properties=device_properties("fake:manila"))
