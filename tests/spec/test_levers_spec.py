"""The classifier's lever fields: defaults stated in the normalized spec, each in the identity hash,
and the combinations that mean nothing refused with a location and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from qspec.errors import SpecError
from qspec.spec import load_specs
from qspec.spec.hashing import normalized
from qspec.spec.load import Loaded
from qspec.spec.models import Experiment

BASE = """\
apiVersion: qspec/v1
kind: Experiment
metadata: {name: wine}
spec:
  task: classification
  data: {source: sklearn:wine, classes: [0, 1], seed: 0}
  circuit:
    qubits: 4
    feature_map: {type: angle}
    ansatz: {type: real_amplitudes, reps: 2}
  training: {optimizer: {name: l_bfgs_b, maxiter: 100}, seed: 0}
"""

# BASE with every lever default written out.
DEFAULTS = BASE.replace("{type: angle}", "{type: angle, scale: 1.0}").replace(
    "ansatz: {type: real_amplitudes, reps: 2}",
    "ansatz: {type: real_amplitudes, reps: 2}\n    uploads: 1\n"
    "    output: {link: logistic, scale: trainable, bias: trainable, l2: 1.0}").replace(
    "maxiter: 100}, seed: 0}", "maxiter: 100}, seed: 0, loss: cross_entropy}")


def load(tmp_path: Path, text: str, name: str = "x") -> Loaded[Experiment]:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "a.yaml").write_text(text)
    (loaded,) = load_specs([folder], root=tmp_path).experiments.values()
    return loaded


def test_defaults_are_written_into_the_normalized_spec(tmp_path: Path) -> None:
    loaded = load(tmp_path, BASE)
    spec = normalized(loaded.resource)["spec"]
    assert spec["circuit"]["output"] == {"link": "logistic", "scale": "trainable", "bias": "trainable", "l2": 1.0}
    assert spec["circuit"]["uploads"] == 1
    assert spec["circuit"]["feature_map"]["scale"] == 1.0
    assert spec["training"]["loss"] == "cross_entropy"
    assert loaded.hash == load(tmp_path, DEFAULTS, "written").hash


@pytest.mark.parametrize(("old", "new"), [
    ("{type: angle, scale: 1.0}", "{type: angle, scale: 2.0}"),
    ("uploads: 1", "uploads: 2"),
    ("link: logistic, scale: trainable, bias: trainable, l2: 1.0", "link: linear"),
    ("l2: 1.0", "l2: 0.5"),
    ("scale: trainable", "scale: 2.0"),
    ("bias: trainable", "bias: 0.0"),
    ("loss: cross_entropy", "loss: mse"),
])
def test_each_lever_changes_the_hash(tmp_path: Path, old: str, new: str) -> None:
    assert old in DEFAULTS
    assert load(tmp_path, DEFAULTS, "a").hash != load(tmp_path, DEFAULTS.replace(old, new, 1), "b").hash


VQE = """\
apiVersion: qspec/v1
kind: Experiment
metadata: {name: h2}
spec:
  task: vqe
  hamiltonian: {terms: {ZZ: 1.0}}
  circuit: {qubits: 2, ansatz: {type: efficient_su2, reps: 1}}
"""


def test_vqe_keeps_no_classifier_defaults(tmp_path: Path) -> None:
    spec = normalized(load(tmp_path, VQE).resource)["spec"]
    assert spec["circuit"]["output"] is None and spec["training"]["loss"] is None


@pytest.mark.parametrize(("text", "path", "message", "hint"), [
    (DEFAULTS.replace("link: logistic, scale: trainable, bias: trainable, l2: 1.0", "link: linear, scale: 2.0"),
     "spec.circuit.output", "the linear link has no scale, bias or l2", "link: logistic"),
    (DEFAULTS.replace("l2: 1.0", "l2: -1"), "spec.circuit.output.l2", "", "logistic regression's C = 1"),
    (DEFAULTS.replace("scale: trainable", "scale: learned"), "spec.circuit.output.scale", "", None),
    (DEFAULTS.replace("uploads: 1", "uploads: 0"), "spec.circuit.uploads", "", "1 (encode once) to 100"),
    (DEFAULTS.replace("{type: angle, scale: 1.0}", "{type: angle, scale: 0}"), "spec.circuit.feature_map.scale",
     "", "above 0"),
    (DEFAULTS.replace("loss: cross_entropy", "loss: hinge"), "spec.training.loss", "", None),
    (VQE.replace("reps: 1}", "reps: 1}, uploads: 2"), "spec.circuit.uploads", "classification only", "remove uploads"),
    (VQE.replace("reps: 1}", "reps: 1}, output: {link: linear}"), "spec.circuit.output", "classification only",
     "remove output"),
    (VQE + "  training: {loss: mse}\n", "spec.training.loss", "classification only", "remove loss"),
    (DEFAULTS.replace("uploads: 1", "uploads: 100").replace("reps: 2}", "reps: 20}"), "spec.circuit.ansatz.reps",
     "in 100 uploads trains 8,400 parameters", "at most 4,096"),
])
def test_lever_mistakes_are_located(tmp_path: Path, text: str, path: str, message: str, hint: str | None) -> None:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, text)
    problems = [p for p in caught.value.problems if p.path == path and message in p.message]
    assert problems, [(p.path, p.message) for p in caught.value.problems]
    assert problems[0].line is not None
    if hint is not None:
        assert problems[0].hint and hint in problems[0].hint
