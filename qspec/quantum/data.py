"""Classification data: loading, class selection, the split, preprocessing and the baseline.

Owns everything between a ``DataSpec`` and the angle matrices the circuits read: the
scikit-learn sets that ship with scikit-learn (no download) and ``csv:`` files read through the
caller's ``read`` function; a stratified split by ``test_fraction`` and ``seed``; scaling and PCA
fitted on the training split only (kept as a ``Preprocessing`` so a model predicts from raw
features later); and a sha256 fingerprint of exactly the rows used. Called by ``train``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qspec.errors import QspecError
from qspec.quantum.result import DataSummary, Preprocessing
from qspec.spec.models import DataSpec
from qspec.spec.table import read_table

Reader = Callable[[str], bytes]


@dataclass(frozen=True)
class Dataset:
    """The selected rows of a data set, labels mapped to 0 (``classes[0]``) and 1."""

    features: np.ndarray  # raw feature rows
    labels: np.ndarray  # 0 / 1
    feature_names: list[str]
    classes: list[str | int]
    source: str

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(repr((self.features.shape, self.feature_names, self.classes)).encode())
        digest.update(np.ascontiguousarray(self.features, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.labels, dtype="<i8").tobytes())
        return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class Split:
    """Train and test rows as raw features and as circuit inputs (angles)."""

    dataset: Dataset
    raw_train: np.ndarray
    raw_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    x_train: np.ndarray  # angles
    x_test: np.ndarray
    preprocessing: Preprocessing
    summary: DataSummary


def load_dataset(spec: DataSpec, read: Reader | None = None) -> Dataset:
    """The rows of the two classes the spec names, in the set's own order."""
    if spec.dataset is not None:
        features, target, feature_names, names = _sklearn(spec.dataset)
        codes: list[int | str] = [_class_code(c, names, spec.source) for c in spec.classes]
    else:
        path = spec.csv_path or ""
        if read is None:
            raise QspecError(f"cannot read {spec.source}: no repository to read it from",
                             hint="pass root= or read= to train()")
        table = read_table(path, read(path))
        column = table.label_column(spec.target)
        missing = table.missing_classes(column, spec.classes)
        if missing:
            _, message, hint = missing[0]
            raise QspecError(message, where="spec.data.classes", hint=hint)
        feature_names, values, labels = table.features(column)
        features = np.array(values, dtype=float).reshape(len(values), len(feature_names))
        target = np.array(labels)
        codes = [str(c) for c in spec.classes]
    mask = (target == codes[0]) | (target == codes[1])
    labels01 = (target[mask] == codes[1]).astype(np.int64)
    return Dataset(features[mask], labels01, feature_names, list(spec.classes), spec.source)


def split_dataset(spec: DataSpec, dataset: Dataset, features: int,
                  angle_range: tuple[float, float] = (0.0, float(np.pi))) -> Split:
    """Stratified split, then StandardScaler and (if needed) PCA fitted on the train rows only."""
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    raw_train, raw_test, y_train, y_test = train_test_split(
        dataset.features, dataset.labels, test_size=spec.test_fraction, random_state=spec.seed,
        stratify=dataset.labels,
    )
    scaler = StandardScaler().fit(raw_train)
    z_train = scaler.transform(raw_train)
    components = pca_mean = None
    if raw_train.shape[1] > features:
        # The full SVD is deterministic (sign-fixed by scikit-learn), so runs repeat bit for bit.
        pca = PCA(n_components=features, svd_solver="full").fit(z_train)
        components, pca_mean = pca.components_.copy(), pca.mean_.copy()
        z_train = (z_train - pca_mean) @ components.T
    elif raw_train.shape[1] < features:
        raise QspecError(f"{dataset.source} has {raw_train.shape[1]} features, {features} asked",
                         where="spec.data.features", hint=f"use at most {raw_train.shape[1]} features")
    preprocessing = Preprocessing(
        feature_names=list(dataset.feature_names),
        classes=list(dataset.classes),
        mean=scaler.mean_.copy(),
        scale=scaler.scale_.copy(),
        pca_components=components,
        pca_mean=pca_mean,
        low=z_train.min(axis=0),
        high=z_train.max(axis=0),
        angle_range=angle_range,
    )
    summary = DataSummary(
        source=dataset.source,
        fingerprint=dataset.fingerprint(),
        n_train=len(y_train),
        n_test=len(y_test),
        n_raw_features=dataset.features.shape[1],
        n_features=features,
    )
    return Split(dataset, raw_train, raw_test, np.asarray(y_train), np.asarray(y_test),
                 preprocessing.apply(raw_train), preprocessing.apply(raw_test), preprocessing, summary)


def fit_baseline(name: str, split: Split, seed: int) -> dict[str, float]:
    """A classical model on the same split and the same reduced features as the circuit sees."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    models = {"logistic_regression": lambda: LogisticRegression(max_iter=1000), "svc": lambda: SVC(random_state=seed)}
    model = models[name]()  # the spec's Literal names these two; any other name is a bug, not an SVC
    model.fit(split.x_train, split.y_train)
    return {
        "train_accuracy": float(model.score(split.x_train, split.y_train)),
        "test_accuracy": float(model.score(split.x_test, split.y_test)),
    }


def _sklearn(name: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    from sklearn import datasets

    loader = {"iris": datasets.load_iris, "wine": datasets.load_wine,
              "breast_cancer": datasets.load_breast_cancer}[name]
    bunch = loader()
    return (np.asarray(bunch.data, dtype=float), np.asarray(bunch.target), [str(n) for n in bunch.feature_names],
            [str(n) for n in bunch.target_names])


def _class_code(label: str | int, names: list[str], source: str) -> int:
    if isinstance(label, int):
        if 0 <= label < len(names):
            return label
    elif label in names:
        return names.index(label)
    raise QspecError(f"{source} has no class {label!r}", where="spec.data.classes",
                     hint="its classes are " + ", ".join(f"{i} ({n})" for i, n in enumerate(names)))
