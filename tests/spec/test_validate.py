"""`qspec validate`: the examples pass, and each class of bad input fails with file:line, key path and hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXPERIMENT = """\
apiVersion: qspec/v1
kind: Experiment
metadata:
  name: iris-vqc
spec:
  task: classification
  data:
    source: sklearn:iris
    classes: [0, 1]
    features: 4
    test_fraction: 0.3
    seed: 7
  circuit:
    qubits: 4
    feature_map: {type: zz, reps: 1}
    ansatz: {type: real_amplitudes, reps: 2, entanglement: linear}
  backend:
    target: aer
    shots: 1024
    seed: 42
  training:
    optimizer: {name: adam, learning_rate: 0.1, maxiter: 60}
    seed: 42
"""

VQE = """\
apiVersion: qspec/v1
kind: Experiment
metadata: {name: h2}
spec:
  task: vqe
  hamiltonian:
    terms: {ZZ: -1.0, XX: 0.2}
    constant: 0.5
  circuit: {qubits: 2, ansatz: {type: efficient_su2, reps: 1}}
"""

MODEL = """\
apiVersion: qspec/v1
kind: Model
metadata: {name: iris-classifier}
spec:
  experiment: iris-vqc
  requirements: {test_accuracy: {min: 0.9}}
"""

DEPLOYMENT = """\
apiVersion: qspec/v1
kind: Deployment
metadata: {name: iris-classifier}
spec:
  model: iris-classifier
  stages:
    staging: {track: HEAD}
    production: {ref: v1.0}
  gates:
    production: {test_accuracy: {min: 0.93}}
  monitoring:
    accuracy: {max_drop: 0.05}
"""


def test_examples_validate(run_cli, tmp_path: Path) -> None:
    result = run_cli("validate", str(Path(__file__).parents[2] / "specs"))
    assert result.code == 0, result.err
    assert "valid: 9 resources in 3 files" in result.out


def test_valid_set_of_all_kinds(run_cli, tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "iris.yaml").write_text("---\n".join([EXPERIMENT, MODEL, DEPLOYMENT]))
    (tmp_path / "specs" / "h2.yml").write_text(VQE)
    result = run_cli("validate", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "4 resources in 2 files" in result.out


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# Each case: the files, then (line, key path, message fragment, hint fragment) of one expected problem.
CASES = {
    "api version": ({"a.yaml": edit(EXPERIMENT, "qspec/v1", "qspec/v2")}, 1, "apiVersion", "not supported", "qspec/v1"),
    "unknown kind": ({"a.yaml": edit(EXPERIMENT, "kind: Experiment", "kind: Experimnet")}, 2, "kind",
                     "unknown kind", "did you mean 'Experiment'"),
    "name not a DNS label": ({"a.yaml": edit(EXPERIMENT, "name: iris-vqc", "name: Iris_VQC")}, 4, "metadata.name",
                             "not a DNS label", "iris-vqc"),
    "duplicate name across files": ({"a.yaml": EXPERIMENT, "b.yaml": EXPERIMENT}, 4, "metadata.name",
                                    "declared twice (first at specs/a.yaml:1)", "unique per kind"),
    "unknown key": ({"a.yaml": edit(EXPERIMENT, "    seed: 42\n  training", "    sed: 42\n  training")}, 20,
                    "spec.backend.sed", "unknown key 'sed'", "did you mean 'seed'"),
    "unknown top-level key": ({"a.yaml": EXPERIMENT + "extra: 1\n"}, 24, "extra", "unknown key", None),
    "qubits too many": ({"a.yaml": edit(EXPERIMENT, "qubits: 4", "qubits: 33")}, 14, "spec.circuit.qubits",
                        "less than or equal to 32", None),
    "zz feature map on one qubit": ({"a.yaml": edit(edit(EXPERIMENT, "qubits: 4", "qubits: 1"), "features: 4",
                                                    "features: 1")}, 14, "spec.circuit.qubits",
                                    "zz feature map entangles pairs", "at least 2 qubits"),
    "qubits zero": ({"a.yaml": edit(EXPERIMENT, "qubits: 4", "qubits: 0")}, 14, "spec.circuit.qubits",
                    "greater than or equal to 1", None),
    "features do not fit the feature map": (
        {"a.yaml": edit(edit(EXPERIMENT, "qubits: 4", "qubits: 3"), "features: 4", "features: 4")}, 10,
        "spec.data.features", "4 features do not fit 3 qubits", "features: 3"),
    "more features than the set has": (
        {"a.yaml": edit(edit(EXPERIMENT, "qubits: 4", "qubits: 5"), "features: 4", "features: 5")}, 10,
        "spec.data.features", "sklearn:iris has 4 features", None),
    "unknown feature map": ({"a.yaml": edit(EXPERIMENT, "type: zz,", "type: zzz,")}, 15,
                            "spec.circuit.feature_map.type", "'zzz'", "did you mean 'zz'"),
    "unknown ansatz": ({"a.yaml": edit(EXPERIMENT, "type: real_amplitudes,", "type: real_amplitude,")}, 16,
                       "spec.circuit.ansatz.type", "'real_amplitude'", "did you mean 'real_amplitudes'"),
    "ansatz reps": ({"a.yaml": edit(EXPERIMENT, "reps: 2", "reps: 0")}, 16, "spec.circuit.ansatz.reps",
                    "greater than or equal to 1", None),
    "ansatz entanglement": ({"a.yaml": edit(EXPERIMENT, "entanglement: linear", "entanglement: ring")}, 16,
                            "spec.circuit.ansatz.entanglement", "'ring'", "linear"),
    "entanglement on a non-entangling map": (
        {"a.yaml": edit(EXPERIMENT, "{type: zz, reps: 1}", "{type: angle, entanglement: full}")}, 15,
        "spec.circuit.feature_map", "has no entanglement", "type: zz"),
    "unknown data set": ({"a.yaml": edit(EXPERIMENT, "sklearn:iris", "sklearn:irsi")}, 8, "spec.data.source",
                         "unknown scikit-learn data set", "sklearn:iris"),
    "unknown source scheme": ({"a.yaml": edit(EXPERIMENT, "sklearn:iris", "s3://bucket/x.csv")}, 8,
                              "spec.data.source", "unknown data source", "csv:"),
    "csv path escapes the repository": ({"a.yaml": edit(EXPERIMENT, "sklearn:iris", "csv:data/../../x.csv")}, 8,
                                        "spec.data.source", "leaves the repository", None),
    "csv path absolute": ({"a.yaml": edit(EXPERIMENT, "sklearn:iris", "csv:/etc/passwd")}, 8, "spec.data.source",
                          "relative to the repository", None),
    "csv file missing": ({"a.yaml": edit(EXPERIMENT, "sklearn:iris", "csv:data/missing.csv")}, 8,
                         "spec.data.source", "does not exist", "committed"),
    "csv class missing": (
        {"a.yaml": edit(EXPERIMENT, "sklearn:iris", "csv:data/set.csv"),
         "data/set.csv": "a,b,c,d,label\n1,2,3,4,0\n2,3,4,5,2\n"}, 9, "spec.data.classes[1]",
        "class 1 does not occur", "labels present: 0, 2"),
    "class index out of range": ({"a.yaml": edit(EXPERIMENT, "classes: [0, 1]", "classes: [0, 3]")}, 9,
                                 "spec.data.classes[1]", "classes 0..2, not 3", "setosa"),
    "class name unknown": ({"a.yaml": edit(EXPERIMENT, "classes: [0, 1]", "classes: [setosa, versicolour]")}, 9,
                           "spec.data.classes[1]", "no class 'versicolour'", "did you mean 'versicolor'"),
    "three classes": ({"a.yaml": edit(EXPERIMENT, "classes: [0, 1]", "classes: [0, 1, 2]")}, 9, "spec.data.classes",
                      "at most 2 items", None),
    "test fraction": ({"a.yaml": edit(EXPERIMENT, "test_fraction: 0.3", "test_fraction: 1.0")}, 11,
                      "spec.data.test_fraction", "less than 1", None),
    "unknown target": ({"a.yaml": edit(EXPERIMENT, "target: aer", "target: ionq")}, 18, "spec.backend.target",
                       "unknown backend target", "fake:<device>"),
    "unknown fake device": ({"a.yaml": edit(EXPERIMENT, "target: aer", "target: fake:manilla")}, 18,
                            "spec.backend.target", "unknown fake device", "fake:manila"),
    "device too small": ({"a.yaml": edit(EXPERIMENT, "target: aer", "target: fake:armonk")}, 14,
                         "spec.circuit.qubits", "fake:armonk has 1", None),
    "shots negative": ({"a.yaml": edit(EXPERIMENT, "shots: 1024", "shots: -5")}, 19, "spec.backend.shots",
                       "greater than or equal to 1, got -5", None),
    "shots null on hardware": ({"a.yaml": edit(edit(EXPERIMENT, "target: aer", "target: ibm:ibm_torino"),
                                               "shots: 1024", "shots: null")}, 19, "spec.backend.shots",
                               "cannot be null on ibm", "shots: 4096"),
    "noise off aer": ({"a.yaml": edit(EXPERIMENT, "target: aer", "target: fake:manila\n    noise: {readout: 0.01}")},
                      19, "spec.backend.noise", "target aer only", "remove noise"),
    "noise both kinds": ({"a.yaml": edit(EXPERIMENT, "shots: 1024", "shots: 1024\n    noise: {from_device: manila, "
                                                                  "readout: 0.1}")}, 20, "spec.backend.noise",
                         "not both", None),
    "seed not an integer": ({"a.yaml": edit(EXPERIMENT, "    seed: 42\n  training", "    seed: '42'\n  training")},
                            20, "spec.backend.seed", "valid integer", "without quotes"),
    "unknown optimizer": ({"a.yaml": edit(EXPERIMENT, "name: adam,", "name: adamw,")}, 22,
                          "spec.training.optimizer", "unknown name 'adamw'", "did you mean 'adam'"),
    "option of another optimizer": ({"a.yaml": edit(EXPERIMENT, "name: adam,", "name: cobyla,")}, 22,
                                    "spec.training.optimizer.learning_rate", "unknown key", "allowed keys here"),
    "maxiter zero": ({"a.yaml": edit(EXPERIMENT, "maxiter: 60", "maxiter: 0")}, 22,
                     "spec.training.optimizer.maxiter", "greater than or equal to 1", None),
    "classification without data": ({"a.yaml": EXPERIMENT.split("  data:")[0] + "  circuit:" +
                                     EXPERIMENT.split("  circuit:")[1]}, 5, "spec.data", "needs a data block", None),
    "vqe without hamiltonian": ({"a.yaml": VQE.replace("  hamiltonian:\n    terms: {ZZ: -1.0, XX: 0.2}\n"
                                                       "    constant: 0.5\n", "")}, 4, "spec.hamiltonian",
                                "needs a Hamiltonian", None),
    "vqe empty terms": ({"a.yaml": edit(VQE, "{ZZ: -1.0, XX: 0.2}", "{}")}, 7, "spec.hamiltonian.terms",
                        "at least 1 item", None),
    "vqe label length": ({"a.yaml": edit(VQE, "XX: 0.2", "XXI: 0.2")}, 7, "spec.hamiltonian.terms",
                         "different lengths", None),
    "vqe label does not fit qubits": ({"a.yaml": edit(VQE, "{ZZ: -1.0, XX: 0.2}", "{ZZZ: -1.0}")}, 7,
                                      "spec.hamiltonian.terms.ZZZ", "acts on 3 qubits, the circuit has 2", None),
    "vqe label letters": ({"a.yaml": edit(VQE, "XX: 0.2", "XA: 0.2")}, 7, "spec.hamiltonian.terms",
                          "only I, X, Y and Z", None),
    "vqe complex coefficient": ({"a.yaml": edit(VQE, "XX: 0.2", "XX: 0.2+1j")}, 7, "spec.hamiltonian.terms.XX",
                                "valid number, got '0.2+1j'", None),
    "vqe with a feature map": ({"a.yaml": edit(VQE, "{qubits: 2,", "{qubits: 2, feature_map: {type: z},")}, 9,
                               "spec.circuit.feature_map", "no feature map", None),
    "model names a missing experiment": ({"a.yaml": EXPERIMENT, "m.yaml": edit(MODEL, "experiment: iris-vqc",
                                                                                 "experiment: iris-vq")}, 5,
                                         "spec.experiment", "no Experiment named 'iris-vq'",
                                         "did you mean 'iris-vqc'"),
    "model requirement on an unknown metric": ({"a.yaml": EXPERIMENT, "m.yaml": edit(MODEL, "test_accuracy", "energy")},
                                               6, "spec.requirements.energy", "produces no metric 'energy'", None),
    "deployment names a missing model": ({"a.yaml": EXPERIMENT, "d.yaml": DEPLOYMENT}, 5, "spec.model",
                                         "no Model named", None),
    "stage with two sources": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(DEPLOYMENT, "{track: HEAD}",
                                                                                  "{track: HEAD, version: 2}")])},
                               38, "spec.stages.staging", "exactly one of track, ref, version", "track: HEAD"),
    "stage with none": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(DEPLOYMENT, "{track: HEAD}", "{}")])},
                        38, "spec.stages.staging", "exactly one", None),
    "stage track not HEAD": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(DEPLOYMENT, "track: HEAD",
                                                                                "track: main")])},
                             38, "spec.stages.staging.track", "'HEAD'", None),
    "stage name reserved by MLflow": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(DEPLOYMENT, "staging:",
                                                                                         "latest:")])},
                                      38, "spec.stages.latest", "cannot be an MLflow alias", None),
    "gate on an undeclared stage": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(DEPLOYMENT, "production: {test",
                                                                                       "prod: {test")])},
                                    41, "spec.gates.prod", "not declared", "production"),
    "gate on an unknown metric": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(DEPLOYMENT, "{test_accuracy: {min",
                                                                                     "{fidelity: {min")])},
                                  41, "spec.gates.production.fidelity", "produces no metric", None),
    "bound with min over max": ({"a.yaml": "---\n".join([EXPERIMENT, edit(MODEL, "{min: 0.9}",
                                                                          "{min: 0.9, max: 0.5}")])},
                                30, "spec.requirements.test_accuracy", "greater than max", None),
    "monitoring an unknown metric": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(DEPLOYMENT, "accuracy: {max_drop",
                                                                                        "latency: {max_drop")])},
                                     43, "spec.monitoring.latency", "cannot monitor", "accuracy"),
    "monitoring rule that does not fit its metric": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(
        DEPLOYMENT, "accuracy: {max_drop: 0.05}", "accuracy: {max_ratio: 2}")])},
        43, "spec.monitoring.accuracy.max_ratio", "does not fit accuracy", "max_drop"),
    "monitoring a vqe metric on a classifier": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(
        DEPLOYMENT, "accuracy: {max_drop: 0.05}", "energy_error: {max_increase: 0.01}")])},
        43, "spec.monitoring.energy_error", "on a classification model", "mean_confidence"),
    "monitoring ratio below one": ({"a.yaml": "---\n".join([EXPERIMENT, MODEL, edit(
        DEPLOYMENT, "accuracy: {max_drop: 0.05}", "latency_ms: {max_ratio: 0.5}")])},
        43, "spec.monitoring.latency_ms.max_ratio", "greater than or equal to 1", None),
}


def csv_rows(*rows: str) -> str:
    return "a,b,c,d,label\n" + "".join(f"{row}\n" for row in rows)


GOOD_ROWS = ("1,2,3,4,0", "2,3,4,5,1", "3,4,5,6,0", "4,5,6,7,1", "5,6,7,8,0", "6,7,8,9,1")
CSV_EXPERIMENT = edit(EXPERIMENT, "sklearn:iris", "csv:data/set.csv")
DEPLOYED = "---\n".join([EXPERIMENT, MODEL, DEPLOYMENT])

# Issue 13: what validate accepts must run, and no input crashes it.
CASES |= {
    "kind not a string": ({"a.yaml": edit(EXPERIMENT, "kind: Experiment", "kind: [Experiment]")}, 2, "kind",
                          "kind is a list, not a string", "Experiment"),
    "apiVersion a mapping": ({"a.yaml": edit(EXPERIMENT, "apiVersion: qspec/v1", "apiVersion: {v: 1}")}, 1,
                             "apiVersion", "is a mapping, not a string", "qspec/v1"),
    "nan test fraction": ({"a.yaml": edit(EXPERIMENT, "test_fraction: 0.3", "test_fraction: .nan")}, 11,
                          "spec.data.test_fraction", "finite number, got nan", "between 0 and 1"),
    "inf hamiltonian constant": ({"a.yaml": edit(VQE, "constant: 0.5", "constant: .inf")}, 8,
                                 "spec.hamiltonian.constant", "finite number, got inf", "at most 1e+06"),
    "nan coefficient": ({"a.yaml": edit(VQE, "XX: 0.2", "XX: .nan")}, 7, "spec.hamiltonian.terms.XX",
                        "finite number", "coefficients"),
    "inf price": ({"a.yaml": edit(EXPERIMENT, "shots: 1024", "shots: 1024\n    price_per_second_usd: .inf")}, 20,
                  "spec.backend.price_per_second_usd", "finite number", "USD per QPU second"),
    "price too high": ({"a.yaml": edit(EXPERIMENT, "shots: 1024", "shots: 1024\n    price_per_second_usd: 1.0e+300")},
                       20, "spec.backend.price_per_second_usd", "less than or equal to 10000", "IBM Quantum lists"),
    "exponent YAML reads as text": ({"a.yaml": edit(EXPERIMENT, "shots: 1024", "shots: 1024\n    "
                                                                          "price_per_second_usd: 1e3")},
                                    20, "spec.backend.price_per_second_usd", "valid number, got '1e3'", "1.0e+3"),
    "nan bound": ({"a.yaml": "---\n".join([EXPERIMENT, edit(MODEL, "{min: 0.9}", "{min: .nan}")])}, 30,
                  "spec.requirements.test_accuracy.min", "finite number", ".nan and .inf"),
    "ansatz reps huge": ({"a.yaml": edit(EXPERIMENT, "reps: 2", "reps: 1000000000")}, 16, "spec.circuit.ansatz.reps",
                         "less than or equal to 100, got 1000000000", "at most 100 repetitions"),
    "feature map reps huge": ({"a.yaml": edit(EXPERIMENT, "{type: zz, reps: 1}", "{type: zz, reps: 101}")}, 15,
                              "spec.circuit.feature_map.reps", "less than or equal to 100", "repetitions"),
    "too many parameters": ({"a.yaml": edit(edit(VQE, "{ZZ: -1.0, XX: 0.2}", "{" + "Z" * 32 + ": 1.0}"),
                                            "{qubits: 2, ansatz: {type: efficient_su2, reps: 1}}",
                                            "{qubits: 32, ansatz: {type: efficient_su2, reps: 100}}")}, 9,
                            "spec.circuit.ansatz.reps", "trains 6,464 parameters, more than 4,096", "fewer reps"),
    "maxiter huge": ({"a.yaml": edit(EXPERIMENT, "maxiter: 60", "maxiter: 1000000000000000000")}, 22,
                     "spec.training.optimizer.maxiter", "less than or equal to 100000", "100,000 iterations"),
    "shots huge": ({"a.yaml": edit(EXPERIMENT, "shots: 1024", "shots: 1000000000")}, 19, "spec.backend.shots",
                   "less than or equal to 1000000", "shots per circuit"),
    "data seed huge": ({"a.yaml": edit(EXPERIMENT, "seed: 7", "seed: 1000000000000000000000000000000")}, 12,
                       "spec.data.seed", "less than or equal to 4294967295", "2**32 - 1"),
    "backend seed negative": ({"a.yaml": edit(EXPERIMENT, "    seed: 42\n  training", "    seed: -1\n  training")}, 20,
                              "spec.backend.seed", "greater than or equal to 0, got -1", "numpy, scikit-learn and Aer"),
    "training seed past 2**32": ({"a.yaml": EXPERIMENT.replace("    seed: 42\n", "    seed: 4294967296\n")
                                  .replace("    seed: 4294967296\n  training", "    seed: 42\n  training")}, 23,
                                 "spec.training.seed", "less than or equal to 4294967295", "seed"),
    "all-zero hamiltonian": ({"a.yaml": edit(VQE, "{ZZ: -1.0, XX: 0.2}", "{ZZ: 0.0, XX: 0}")}, 7,
                             "spec.hamiltonian.terms", "every coefficient is 0", "non-zero coefficient"),
    "hamiltonian below what qiskit keeps": ({"a.yaml": edit(VQE, "{ZZ: -1.0, XX: 0.2}", "{ZZ: 1.0e-12}")}, 7,
                                            "spec.hamiltonian.terms", "which Qiskit drops", "ZZ: 1.0"),
    "coefficient huge": ({"a.yaml": edit(VQE, "XX: 0.2", "XX: 1.0e+300")}, 7, "spec.hamiltonian.terms.XX",
                         "less than or equal to 1000000", "rescale"),
    "test split of one row": ({"a.yaml": edit(EXPERIMENT, "test_fraction: 0.3", "test_fraction: 0.005")}, 11,
                              "spec.data.test_fraction", "leaves 1 row in the test split", "above 0.01"),
    "train split of one row": ({"a.yaml": edit(EXPERIMENT, "test_fraction: 0.3", "test_fraction: 0.99")}, 11,
                               "spec.data.test_fraction", "leaves 1 row in the train split", "at most 0.98"),
    "two deployments claim one stage": (
        {"a.yaml": DEPLOYED, "d2.yaml": "apiVersion: qspec/v1\nkind: Deployment\nmetadata: {name: other}\n"
                                        "spec:\n  model: iris-classifier\n  stages:\n    staging: {version: 1}\n"},
        7, "spec.stages.staging", "also declared by Deployment 'iris-classifier' (at specs/a.yaml:38)", "one owner"),
    "label not an MLflow tag name": ({"a.yaml": edit(EXPERIMENT, "  name: iris-vqc", "  name: iris-vqc\n"
                                                                                  "  labels: {'a/../b': x}")}, 5,
                                     "metadata.labels", "cannot be an MLflow tag name", "letters, digits"),
    "description too long for MLflow": ({"a.yaml": edit(EXPERIMENT, "  name: iris-vqc", "  name: iris-vqc\n"
                                                                                       "  description: " + "d" * 5001)},
                                        5, "metadata.description", "at most 5000 characters", "5,000 characters"),
    "experiment name empty": ({"a.yaml": EXPERIMENT + "  tracking: {experiment_name: ''}\n"}, 24,
                              "spec.tracking.experiment_name", "at least 1 character", "MLflow experiment name"),
    "non-string key": ({"a.yaml": "---\n".join([EXPERIMENT, edit(MODEL, "{test_accuracy:", "{1:")])}, 30,
                       "spec.requirements[1]", "valid string, got 1", "quote the key"),
    "csv text cell": ({"a.yaml": CSV_EXPERIMENT, "data/set.csv": csv_rows("1,2,3,4,0", "1,secret,3,4,1", *GOOD_ROWS)},
                      8, "spec.data.source", "data/set.csv:3:2: column 'b' is text, not a number", "finite number"),
    "csv nan cell": ({"a.yaml": CSV_EXPERIMENT, "data/set.csv": csv_rows(*GOOD_ROWS, "1,2,nan,4,0")}, 8,
                     "spec.data.source", "data/set.csv:8:3: column 'c' is not a finite number", "fix or drop"),
    "csv inf cell": ({"a.yaml": CSV_EXPERIMENT, "data/set.csv": csv_rows(*GOOD_ROWS, "1,2,3,-inf,0")}, 8,
                     "spec.data.source", "data/set.csv:8:4: column 'd' is not a finite number", None),
    "csv empty cell": ({"a.yaml": CSV_EXPERIMENT, "data/set.csv": csv_rows(*GOOD_ROWS, ",2,3,4,0")}, 8,
                       "spec.data.source", "data/set.csv:8:1: column 'a' is empty", None),
    "csv ragged row": ({"a.yaml": CSV_EXPERIMENT, "data/set.csv": csv_rows(*GOOD_ROWS, "1,2,3,0")}, 8,
                       "spec.data.source", "data/set.csv:8:5: 4 cells, the header names 5 columns", "one cell per"),
    "csv one row of a class": ({"a.yaml": CSV_EXPERIMENT, "data/set.csv": csv_rows(*GOOD_ROWS[::2], "9,9,9,9,1")}, 9,
                               "spec.data.classes[1]", "class 1 has 1 row", "add rows"),
    "csv one class only": ({"a.yaml": CSV_EXPERIMENT, "data/set.csv": csv_rows(*GOOD_ROWS[::2])}, 9,
                           "spec.data.classes[1]", "the column holds one class only", "labels present: 0"),
    "csv too few rows for the pca": (
        {"a.yaml": edit(edit(edit(CSV_EXPERIMENT, "features: 4", "features: 3"), "qubits: 4", "qubits: 3"),
                        "test_fraction: 0.3", "test_fraction: 0.5"),
         "data/set.csv": csv_rows(*GOOD_ROWS[:4])}, 10, "spec.data.features",
        "PCA to 3 features needs at least 3 train rows; the train split has 2", "fewer features"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_reported_with_location_and_hint(run_cli, tmp_path: Path, case: str) -> None:
    files, line, path, message, hint = CASES[case]
    for name, text in files.items():
        target = tmp_path / "specs" / name if name.endswith(".yaml") else tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    result = run_cli("validate", "--format", "json", cwd=tmp_path)
    assert result.code == 1
    problems = json.loads(result.out)["problems"]
    matching = [p for p in problems if p["path"] == path and message in p["message"]]
    assert matching, f"no problem at {path!r} with {message!r} in {problems}"
    problem = matching[0]
    assert problem["line"] == line, problem
    assert problem["file"].startswith("specs/")
    if hint is not None:
        assert problem["hint"] and hint in problem["hint"], problem
    # The text rendering says the same thing, on stderr, without a traceback.
    text = run_cli("validate", cwd=tmp_path)
    assert text.code == 1
    assert f"{problem['file']}:{line} {path}: " in text.err
    assert "Traceback" not in text.err + text.out


YAML_CASES = {
    "duplicate key": (b"apiVersion: qspec/v1\nkind: Model\nkind: Model\n", 3, "appears twice", None),
    "alias bomb": (b'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
                   + b"".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n".encode()
                              for p, c in zip("abcdefg", "bcdefgh", strict=True)), 1, "expand this document", None),
    "recursive alias": (b"a: &a [*a]\n", 1, "refers to the node that contains it", None),
    "python tag": (b"a: !!python/object/apply:os.system ['true']\n", 1, "python/object", "Python objects"),
    "not utf-8": (b"apiVersion: qspec/v1\nmetadata: {name: caf\xe9}\n", 2, "not UTF-8", "UTF-8"),
    "binary file": (b"\x89PNG\r\n\x1a\n\x00\x00\x00", 3, "binary file", "UTF-8"),
    "syntax error": (b"apiVersion: qspec/v1\nkind: [Model\n", 3, "expected", None),
    "not a mapping": (b"- just\n- a list\n", 1, "is a mapping, not a list", "apiVersion"),
    # Issue 13: every YAML error has a hint.
    "tab indentation": (b"apiVersion: qspec/v1\nkind: Model\nmetadata:\n\tname: x\n", 4, "cannot start any token",
                        "never tabs"),
    "deep nesting": (b"a: " + b"[" * 70 + b"]" * 70 + b"\n", 1, "nested more than 64 levels", "few levels deep"),
    "deeper than libyaml reads": (b"a: " + b"{a: " * 1200 + b"1" + b"}" * 1200 + b"\n", 1,
                                  "exceeded maximum nesting depth", "few levels deep"),
    "deep block sequence": ("".join(" " * (2 * i) + "-\n" for i in range(990)).encode(), 65, "nested more than 64",
                            "few levels deep"),
    "duplicate key has a hint": (b"apiVersion: qspec/v1\nkind: Model\nkind: Model\n", 3, "appears twice",
                                 "remove one of the two"),
    "non-scalar key": (b"apiVersion: qspec/v1\n? [a, b]\n: 1\n", 2, "a mapping key must be a plain value",
                       "plain word or number"),
    "unterminated double quote": (b'apiVersion: qspec/v1\nkind: "Model\nmetadata: {name: x}\n', 2, "quoted scalar",
                                  "quote opened on line 2 is never closed"),
    "unterminated single quote": (b"apiVersion: 'qspec/v1\nkind: Model\n", 1, "quoted scalar", "never closed"),
    "unclosed bracket": (b"apiVersion: qspec/v1\nkind: [Model\nmetadata: {}\n", 3, "flow sequence",
                         "close the [ or { opened on line 2"),
    "control character": (b"apiVersion: qspec/v1\nkind: Mo\x07del\n", 2, "control character #x0007", "escape"),
    "bad indentation": (b"apiVersion: qspec/v1\nkind: Model\n  metadata: x\n", 3, "not allowed", "indentation"),
}


@pytest.mark.parametrize("case", list(YAML_CASES), ids=list(YAML_CASES))
def test_unsafe_or_broken_yaml_is_refused(run_cli, tmp_path: Path, case: str) -> None:
    content, line, message, hint = YAML_CASES[case]
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "x.yaml").write_bytes(content)
    result = run_cli("validate", "--format", "json", cwd=tmp_path)
    assert result.code == 1
    problems = json.loads(result.out)["problems"]
    assert len(problems) == 1, problems
    assert problems[0]["file"] == "specs/x.yaml"
    assert problems[0]["line"] == line
    assert message in problems[0]["message"]
    if hint:
        assert hint in problems[0]["hint"]
    assert problems[0]["hint"], problems[0]


def test_long_values_are_not_echoed(run_cli, tmp_path: Path) -> None:
    """A spec's own values are repeated only when short, and only for the key in error."""
    secret = "s3cr3t-" + "x" * 200
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(
        edit(edit(EXPERIMENT, "name: iris-vqc", f"name: {secret}"), "target: aer", f"target: {secret}")
        + f"{secret}: 1\n")
    result = run_cli("validate", "--format", "json", cwd=tmp_path)
    problems = json.loads(result.out)["problems"]
    assert {p["path"] for p in problems} == {"metadata.name", "spec.backend.target", secret}
    for problem in problems:
        assert "s3cr3t" not in problem["message"] + (problem["hint"] or ""), problem
        assert "a string of 207 characters" in problem["message"], problem


def test_csv_errors_never_show_cell_values(run_cli, tmp_path: Path) -> None:
    """A file that fails to parse as data may be anything: errors name lines, columns and types only."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(edit(EXPERIMENT, "sklearn:iris", "csv:data/set.csv"))
    (tmp_path / "data").mkdir()
    rows = [f"{i},{i},{i},{i},{i % 2}" for i in range(6)] + ["1,2,hunter2,4,1", "1,2,3,4,AKIA-key", "9,inf,9,9,0"]
    (tmp_path / "data" / "set.csv").write_text("a,b,c,d,label\n" + "\n".join(rows) + "\n")
    result = run_cli("validate", "--format", "json", cwd=tmp_path)
    problems = json.loads(result.out)["problems"]
    assert [p["message"] for p in problems] == ["data/set.csv:8:3: column 'c' is text, not a number",
                                                "data/set.csv:10:2: column 'b' is not a finite number"]
    assert "hunter2" not in result.out and "AKIA" not in result.out  # no labels shown: the file is not data


def test_many_bad_cells_are_counted_not_listed(tmp_path: Path) -> None:
    from qspec.errors import SpecError
    from qspec.spec import load_specs

    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(edit(EXPERIMENT, "sklearn:iris", "csv:data/set.csv"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "set.csv").write_text("a,b,c,d,label\n" + "x,x,x,x,0\n" * 10)
    with pytest.raises(SpecError) as info:
        load_specs([tmp_path / "specs"], root=tmp_path)
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 6 and messages[-1] == "data/set.csv: 35 more rows or cells like these"
    assert all(p.line == 8 and p.path == "spec.data.source" and p.hint for p in info.value.problems)


def test_values_at_the_limits_validate(tmp_path: Path) -> None:
    """The largest seed, reps, iterations and shots, and a coefficient just above what Qiskit drops."""
    from qspec.spec import load_specs

    at_limits = (EXPERIMENT.replace("seed: 42", "seed: 4294967295").replace("seed: 7", "seed: 4294967295")
                 .replace("reps: 2", "reps: 100").replace("maxiter: 60", "maxiter: 100000")
                 .replace("shots: 1024", "shots: 1000000\n    price_per_second_usd: 10000"))
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(at_limits)
    (tmp_path / "specs" / "b.yaml").write_text(edit(VQE, "{ZZ: -1.0, XX: 0.2}", "{ZZ: 2.0e-8, XX: -1000000.0}"))
    specs = load_specs([tmp_path / "specs"], root=tmp_path)
    assert specs.experiments["iris-vqc"].resource.spec.training.seed == 2**32 - 1


def test_an_invalid_resource_is_not_reported_again_as_missing(run_cli, tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text("---\n".join([edit(EXPERIMENT, "reps: 2", "reps: 0"), MODEL,
                                                              DEPLOYMENT]))
    result = run_cli("validate", "--format", "json", cwd=tmp_path)
    problems = json.loads(result.out)["problems"]
    assert [p["path"] for p in problems] == ["spec.circuit.ansatz.reps"], problems


def test_every_problem_of_a_run_is_reported(run_cli, tmp_path: Path) -> None:
    bad = edit(edit(EXPERIMENT, "shots: 1024", "shots: 0"), "maxiter: 60", "maxiter: -1")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(bad)
    (tmp_path / "specs" / "b.yaml").write_text(edit(VQE, "XX: 0.2", "XQ: 0.2"))
    (tmp_path / "specs" / "c.yaml").write_bytes(b"a: 1\na: 2\n")
    result = run_cli("validate", "--format", "json", cwd=tmp_path)
    problems = json.loads(result.out)["problems"]
    assert {(p["file"], p["path"]) for p in problems} == {
        ("specs/a.yaml", "spec.backend.shots"),
        ("specs/a.yaml", "spec.training.optimizer.maxiter"),
        ("specs/b.yaml", "spec.hamiltonian.terms"),
        ("specs/c.yaml", ""),
    }
    text = run_cli("validate", cwd=tmp_path)
    assert "4 problems in the specs" in text.err


def test_github_format_prints_workflow_annotations(run_cli, tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(edit(EXPERIMENT, "shots: 1024", "shots: 0"))
    result = run_cli("validate", "--format", "github", cwd=tmp_path)
    assert result.code == 1
    assert result.out.startswith("::error file=specs/a.yaml,line=19,title=qspec::spec.backend.shots: ")


def test_missing_path_is_a_clear_error(run_cli, tmp_path: Path) -> None:
    result = run_cli("validate", "nowhere", cwd=tmp_path)
    assert result.code == 1
    assert "nowhere does not exist" in result.err
    assert "hint:" in result.err


def test_empty_directory_is_a_clear_error(run_cli, tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    result = run_cli("validate", cwd=tmp_path)
    assert result.code == 1
    assert "no spec files" in result.err


def test_bad_usage_exits_1_not_2(run_cli, tmp_path: Path) -> None:
    result = run_cli("validate", "--format", "xml", cwd=tmp_path)
    assert result.code == 1
    assert "Invalid value for '--format'" in result.err


def test_real_process_has_no_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(edit(EXPERIMENT, "qubits: 4", "qubits: 40"))
    done = subprocess.run([sys.executable, "-m", "qspec.cli.main", "validate"], cwd=tmp_path,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert done.returncode == 1
    assert "specs/a.yaml:14 spec.circuit.qubits: input should be less than or equal to 32, got 40" in done.stderr
    assert "Traceback" not in done.stderr


def test_merge_keys_are_allowed_and_written_keys_override(run_cli, tmp_path: Path) -> None:
    text = """\
x-backend: &backend {target: aer, shots: 1024, seed: 1}
---
""" + edit(EXPERIMENT, "  backend:\n    target: aer\n    shots: 1024\n    seed: 42\n",
           "  backend:\n    <<: *backend\n    seed: 42\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(text)
    result = run_cli("validate", "--format", "json", cwd=tmp_path)
    # Anchors do not cross documents (YAML 1.1): both problems are reported, neither crashes.
    problems = json.loads(result.out)["problems"]
    assert [(p["line"], p["path"]) for p in problems] == [(1, "apiVersion"), (20, "")]
    assert "undefined alias" in problems[1]["message"]
    (tmp_path / "specs" / "a.yaml").write_text(text.split("---\n", 1)[1].replace(
        "<<: *backend", "<<: {target: aer, shots: 1024, seed: 1}"))
    from qspec.spec import load_specs

    loaded = load_specs([tmp_path / "specs"]).experiments["iris-vqc"].resource
    assert (loaded.spec.backend.shots, loaded.spec.backend.seed) == (1024, 42)


def test_yaml_scalars_keep_their_types(tmp_path: Path) -> None:
    from qspec.spec.yamlload import parse_documents

    (doc,), problems = parse_documents("x.yaml", b"a: 0x10\nb: 1_000\nc: .inf\nd: ~\ne: yes\nf: '7'\ng: 1.5e+3\n")
    assert problems == []
    assert doc.data == {"a": 16, "b": 1000, "c": float("inf"), "d": None, "e": True, "f": "7", "g": 1500.0}
