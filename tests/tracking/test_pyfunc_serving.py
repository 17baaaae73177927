"""The pyfunc as a served stage runs it: ``QSPEC_SERVING_SHOTS`` and ``QSPEC_SERVING_TARGET`` (set by
``qspec render`` / ``qspec serve``) decide how the circuit runs, whatever the request's ``mode``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qspec.serving.config import SHOTS_ENV, TARGET_ENV
from qspec.tracking.predict import predict_from_registry
from tests.tracking.conftest import TrainedModel
from tests.tracking.test_model import raw_split


def rows(trained: TrainedModel) -> pd.DataFrame:
    split = raw_split(trained)
    return pd.DataFrame(split.raw_test[:12], columns=split.dataset.feature_names)


def engine(trained: TrainedModel, frame: pd.DataFrame, **run: object) -> np.ndarray:
    """The expectation values the engine gives for ``frame`` run as ``run`` says, from the model's artifacts."""
    import mlflow.pyfunc

    from qspec.store import using_tracking_uri

    with using_tracking_uri(trained.uri):
        model = mlflow.pyfunc.load_model(f"models:/{trained.model_name}@{trained.alias}").unwrap_python_model()
    from qspec.quantum.predict import classify

    _, _, expectation = classify(model.circuit, model.parameters, model.preprocessing,
                                 frame.to_numpy(dtype=float), **run)  # type: ignore[arg-type]
    return expectation


def served(trained: TrainedModel, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, shots: str,
           target: str) -> np.ndarray:
    monkeypatch.setenv(SHOTS_ENV, shots)
    monkeypatch.setenv(TARGET_ENV, target)
    out = predict_from_registry(f"{trained.model_name}@{trained.alias}", frame, tracking_uri=trained.uri,
                                mode="exact")  # a request's mode does not override the served stage
    return out["expectation"].to_numpy()


def test_served_shots_sample_with_the_spec_seed(iris_model: TrainedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = rows(iris_model)
    exact = engine(iris_model, frame)
    sampled = served(iris_model, frame, monkeypatch, "256", "aer")
    np.testing.assert_array_equal(sampled, engine(iris_model, frame, shots=256, seed=42))
    assert not np.allclose(sampled, exact)  # 256 shots are not the exact values
    again = served(iris_model, frame, monkeypatch, "exact", "aer")
    np.testing.assert_allclose(again, exact, atol=1e-12)


def test_a_served_fake_device_runs_under_its_noise(iris_model: TrainedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = rows(iris_model)
    noisy = served(iris_model, frame, monkeypatch, "512", "fake:manila")
    np.testing.assert_array_equal(noisy, engine(iris_model, frame, shots=512, seed=42, target="fake:manila"))
    ideal = engine(iris_model, frame, shots=512, seed=42)
    assert not np.array_equal(noisy, ideal)


def test_a_bad_serving_environment_is_an_error(iris_model: TrainedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    from qspec.errors import QspecError

    with pytest.raises(QspecError, match="QSPEC_SERVING_SHOTS='many'"):
        served(iris_model, rows(iris_model), monkeypatch, "many", "aer")
