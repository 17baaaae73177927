"""What validate accepts runs (issue 13): specs at the edges of each limit validate and train.

Each limit of the spec language (README, "Limits") is the edge of what the engine runs: the
largest seed for numpy, scikit-learn and Aer (Aer's sampler seeds each call with seed + call),
the smallest coefficient Qiskit's primitives keep, the smallest splits scikit-learn's
stratified split makes. The other side of each edge is refused by validation (tests/spec).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qspec.spec import load_specs
from qspec.spec.models import MIN_COEFFICIENT, SEED_MAX

CLASSIFIER = f"""\
apiVersion: qspec/v1
kind: Experiment
metadata: {{name: edge}}
spec:
  task: classification
  data: {{source: DATA, classes: [0, 1], test_fraction: FRACTION, seed: {SEED_MAX}}}
  circuit: {{qubits: 2, feature_map: {{type: angle}}, ansatz: {{type: real_amplitudes, reps: 1}}}}
  backend: {{target: aer, shots: 16, seed: {SEED_MAX}}}
  training: {{optimizer: {{name: spsa, maxiter: 2}}, seed: {SEED_MAX}}}
  baseline: svc
"""

VQE = f"""\
apiVersion: qspec/v1
kind: Experiment
metadata: {{name: edge}}
spec:
  task: vqe
  hamiltonian: {{terms: {{ZZ: COEFFICIENT}}}}
  circuit: {{qubits: 2, ansatz: {{type: efficient_su2, reps: 1}}}}
  backend: {{target: TARGET, shots: SHOTS, seed: {SEED_MAX}}}
  training: {{optimizer: {{name: cobyla, maxiter: 3}}, seed: {SEED_MAX}}}
"""


def _train(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> dict[str, float]:
    from qspec.quantum.training import train

    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "edge.yaml").write_text(text)
    for name, content in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    experiment = load_specs([tmp_path / "specs"], root=tmp_path).experiments["edge"].resource
    result = train(experiment, root=tmp_path)
    assert all(math.isfinite(value) for value in result.metrics.values()), result.metrics
    return result.metrics


def test_largest_seeds_and_the_smallest_test_split_train(tmp_path: Path) -> None:
    # 100 iris rows of classes 0 and 1: 0.02 holds out 2 rows, the fewest a stratified split takes.
    metrics = _train(tmp_path, CLASSIFIER.replace("DATA", "sklearn:iris").replace("FRACTION", "0.02"))
    assert "test_accuracy" in metrics


def test_the_smallest_csv_a_split_takes_trains(tmp_path: Path) -> None:
    # two rows of each class, half held out: one row of each class on each side
    rows = "a,b,label\n0.1,0.2,0\n0.9,0.8,1\n0.2,0.1,0\n0.8,0.9,1\n"
    metrics = _train(tmp_path, CLASSIFIER.replace("DATA", "'csv:data/set.csv'").replace("FRACTION", "0.5"),
                     {"data/set.csv": rows})
    assert "test_accuracy" in metrics


@pytest.mark.parametrize(("target", "shots"), [("aer", "null"), ("aer", "64"), ("statevector", "64")])
def test_the_smallest_kept_coefficient_trains(tmp_path: Path, target: str, shots: str) -> None:
    coefficient = f"{2 * MIN_COEFFICIENT:.1e}"  # 2.0e-08: YAML reads an exponent with a dot and a sign
    text = VQE.replace("COEFFICIENT", coefficient).replace("TARGET", target).replace("SHOTS", shots)
    metrics = _train(tmp_path, text)
    assert abs(metrics["energy"]) <= 1e-6
