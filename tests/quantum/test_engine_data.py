"""Data: class selection, the stratified split, preprocessing fitted on train only, fingerprints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qspec.errors import QspecError
from qspec.quantum.data import load_dataset, split_dataset
from qspec.quantum.result import Preprocessing
from qspec.spec.models import DataSpec


def test_iris_split_and_preprocessing_round_trip() -> None:
    spec = DataSpec(source="sklearn:iris", classes=[0, 1], features=4, test_fraction=0.3, seed=7)
    split = split_dataset(spec, load_dataset(spec), 4)
    assert (len(split.y_train), len(split.y_test)) == (70, 30)
    assert split.y_train.mean() == 0.5 and split.y_test.mean() == 0.5  # stratified
    assert split.preprocessing.pca_components is None  # iris has exactly 4 features
    assert split.x_train.min() == 0.0 and split.x_train.max() == pytest.approx(np.pi)
    restored = Preprocessing.from_dict(json.loads(json.dumps(split.preprocessing.to_dict())))
    np.testing.assert_array_equal(restored.apply(split.raw_test), split.x_test)
    np.testing.assert_array_equal(restored.apply(split.raw_test[0]), split.x_test[:1])
    assert restored.feature_names == split.dataset.feature_names and restored.classes == [0, 1]


def test_pca_is_fitted_on_train_only_and_names_select_classes() -> None:
    spec = DataSpec(source="sklearn:breast_cancer", classes=["malignant", "benign"], features=4, seed=3,
                    test_fraction=0.25)
    dataset = load_dataset(spec)
    assert dataset.features.shape == (569, 30) and dataset.labels.sum() == 357  # benign is class 1
    split = split_dataset(spec, dataset, 4)
    assert split.preprocessing.pca_components is not None and split.preprocessing.pca_components.shape == (4, 30)
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    scaled = StandardScaler().fit(split.raw_train).transform(split.raw_train)
    reference = PCA(4, svd_solver="full").fit(scaled)
    np.testing.assert_allclose(np.abs(split.preprocessing.pca_components), np.abs(reference.components_), atol=1e-12)
    assert split.x_test.min() >= 0.0 and split.x_test.max() <= np.pi  # unseen data is clipped


def test_fingerprint_depends_on_the_rows_used() -> None:
    a = load_dataset(DataSpec(source="sklearn:wine", classes=[0, 1]))
    b = load_dataset(DataSpec(source="sklearn:wine", classes=[0, 2]))
    assert a.fingerprint() == load_dataset(DataSpec(source="sklearn:wine", classes=[0, 1])).fingerprint()
    assert a.fingerprint() != b.fingerprint()


def test_csv_source_through_read(tmp_path) -> None:
    rows = ["f1,f2,label"] + [f"{i % 7},{(i * 3) % 5},{'yes' if i % 2 else 'no'}" for i in range(40)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "set.csv").write_text("\n".join(rows) + "\n")
    spec = DataSpec(source="csv:data/set.csv", classes=["no", "yes"], features=2, test_fraction=0.25)
    dataset = load_dataset(spec, lambda path: (tmp_path / path).read_bytes())
    assert dataset.feature_names == ["f1", "f2"] and dataset.features.shape == (40, 2)
    assert dataset.labels.sum() == 20
    with pytest.raises(QspecError, match="class 'maybe'"):
        load_dataset(DataSpec(source="csv:data/set.csv", classes=["no", "maybe"]),
                     lambda path: (tmp_path / path).read_bytes())


def test_unknown_class_is_a_user_error() -> None:
    with pytest.raises(QspecError, match="no class 'daisy'") as info:
        load_dataset(DataSpec(source="sklearn:iris", classes=["setosa", "daisy"]))
    assert info.value.hint is not None and "versicolor" in info.value.hint


def test_preprocessing_picks_dataframe_columns_by_name() -> None:
    pandas = pytest.importorskip("pandas")
    spec = DataSpec(source="sklearn:iris", classes=["setosa", "versicolor"], features=4, seed=1)
    split = split_dataset(spec, load_dataset(spec), 4)
    names = split.preprocessing.feature_names
    frame = pandas.DataFrame(split.raw_test, columns=names)[list(reversed(names))]  # columns out of order
    np.testing.assert_array_equal(split.preprocessing.apply(frame), split.x_test)


def test_csv_experiment_trains_from_root_or_read(tmp_path) -> None:
    from qspec.quantum import train
    from qspec.spec.models import Experiment

    rng = np.random.default_rng(0)
    lines = ["a,b,c,kind"] + [
        ",".join(f"{v:.4f}" for v in rng.normal(1.5 * (i % 2), 1.0, 3)) + ("," + ("up" if i % 2 else "down"))
        for i in range(60)
    ]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    experiment = Experiment.model_validate({
        "apiVersion": "qspec/v1", "kind": "Experiment", "metadata": {"name": "csv-test"},
        "spec": {"task": "classification",
                 "data": {"source": "csv:data.csv", "classes": ["down", "up"], "features": 2, "target": "kind"},
                 "circuit": {"qubits": 2, "feature_map": {"type": "angle"}, "ansatz": {"type": "real_amplitudes"}},
                 "training": {"optimizer": {"name": "cobyla", "maxiter": 15}}},
    })
    by_root = train(experiment, root=tmp_path)
    by_read = train(experiment, read=lambda path: (tmp_path / path).read_bytes())
    assert by_root.metrics == by_read.metrics
    assert by_root.data is not None and by_root.data.n_raw_features == 3 and by_root.data.n_features == 2
    assert by_root.preprocessing is not None and by_root.preprocessing.classes == ["down", "up"]
    assert by_root.estimate.assumptions == ()  # the file was read to count its rows
    with pytest.raises(QspecError, match=r"cannot read csv:data\.csv"):
        train(experiment)


@pytest.mark.parametrize(("row", "message"), [
    ("1,nan,yes", r"data/bad\.csv:4:2: column 'f2' is not a finite number"),
    ("1,,yes", r"data/bad\.csv:4:2: column 'f2' is empty"),
    ("x1,2,yes", r"data/bad\.csv:4:1: column 'f1' is text, not a number"),
    ("1,inf,yes", r"data/bad\.csv:4:2: column 'f2' is not a finite number"),
    ("1,yes", r"data/bad\.csv:4:3: 2 cells, the header names 3 columns"),
])
def test_bad_csv_cells_name_file_line_and_column(row: str, message: str) -> None:
    text = "\n".join(["f1,f2,label", "1,2,no", "3,4,yes", row, "5,6,no"]) + "\n"
    with pytest.raises(QspecError, match=message):
        load_dataset(DataSpec(source="csv:data/bad.csv", classes=["no", "yes"]), lambda _path: text.encode())
