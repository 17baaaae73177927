"""Prediction from what a model stores: QPY circuit, parameters and the preprocessing as JSON."""

from __future__ import annotations

import io
import json

import numpy as np
from qiskit import qpy

from qspec.quantum import Preprocessing, predict_classifier, predict_energy, train
from qspec.quantum.data import load_dataset, split_dataset
from qspec.quantum.predict import classify
from qspec.spec.models import Experiment


def qpy_bytes(circuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def test_classifier_predicts_from_stored_artifacts(examples: dict[str, Experiment]) -> None:
    experiment = examples["iris-vqc"]
    result = train(experiment)
    assert result.preprocessing is not None
    preprocessing = Preprocessing.from_dict(json.loads(json.dumps(result.preprocessing.to_dict())))
    data = experiment.spec.data
    assert data is not None
    split = split_dataset(data, load_dataset(data), 4, result.preprocessing.angle_range)
    params = {name: float(v) for name, v in zip(result.parameter_names, result.parameters, strict=True)}
    labels, probabilities = predict_classifier(qpy_bytes(result.circuit), params, preprocessing, split.raw_test)
    # the default readout: p(class 1) = sigmoid(bias - scale * <Z...Z>), scale and bias stored last
    assert result.parameter_names[-2:] == ["output.scale", "output.bias"]
    scale, bias = params["output.scale"], params["output.bias"]
    expected_p1 = 1 / (1 + np.exp(-(bias - scale * result.test_outputs)))
    np.testing.assert_allclose(probabilities[:, 1], expected_p1, atol=1e-10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    accuracy = np.mean(np.array(labels) == np.array([preprocessing.classes[y] for y in split.y_test]))
    assert accuracy == result.metrics["test_accuracy"]
    sampled_labels, sampled, expectation = classify(result.circuit, result.parameters, preprocessing,
                                                    split.raw_test[:5], shots=4000, seed=1)
    assert np.max(np.abs(expectation - result.test_outputs[:5])) < 0.1  # 4000 shots: sd <= 0.016
    np.testing.assert_allclose(sampled[:, 1], 1 / (1 + np.exp(-(bias - scale * expectation))), atol=1e-12)
    again = predict_classifier(result.circuit, result.parameters, preprocessing, split.raw_test[:5], shots=4000,
                               seed=1)
    assert again[0] == sampled_labels and np.array_equal(again[1], sampled)


def test_weights_alone_predict_with_the_linear_link(examples: dict[str, Experiment]) -> None:
    """A model logged before the logistic output (its parameters the weights alone) predicts as it did."""
    experiment = examples["iris-vqc"]
    result = train(experiment)
    assert result.preprocessing is not None
    data = experiment.spec.data
    assert data is not None
    split = split_dataset(data, load_dataset(data), 4, result.preprocessing.angle_range)
    weights = result.parameters[:-2]
    _, probabilities, expectation = classify(result.circuit, weights, result.preprocessing, split.raw_test)
    np.testing.assert_allclose(expectation, result.test_outputs, atol=1e-10)
    np.testing.assert_allclose(probabilities[:, 1], (1 - expectation) / 2, atol=1e-12)


def test_energy_prediction(examples: dict[str, Experiment]) -> None:
    experiment = examples["h2-vqe"]
    result = train(experiment)
    hamiltonian = experiment.spec.hamiltonian
    assert hamiltonian is not None
    energy = predict_energy(qpy_bytes(result.circuit), result.parameters, hamiltonian.terms,
                            constant=hamiltonian.constant)
    assert abs(energy - result.metrics["energy"]) < 1e-10
