"""Checks that relate several fields of a document, or several documents.

``check_experiment`` returns (key path, message, hint) triples so the loader can point each at
its own line; ``check_references`` checks names across the whole ``SpecSet`` (a Model's
experiment, a Deployment's model, metric names against the task that produces them).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qspec.errors import Problem
from qspec.plugins import ansatze as ansatz_plugins
from qspec.plugins import feature_maps as feature_map_plugins
from qspec.spec.models import (
    MAX_WEIGHTS,
    METRICS_BY_TASK,
    MONITOR_METRICS,
    MONITOR_RULES,
    SKLEARN_CLASS_ROWS,
    SKLEARN_DATASETS,
    DataSpec,
    Experiment,
    shown,
)

if TYPE_CHECKING:
    from qspec.spec.load import Loaded, SpecSet
    from qspec.spec.models import Deployment, ServingSpec

Path = tuple[str | int, ...]
Finding = tuple[Path, str, str | None]

_RULE_HINTS = {
    "max_drop": " (higher is better: write {max_drop: 0.05})",
    "max_increase": " (lower is better: write {max_increase: 0.01})",
    "max_ratio": " (a cost per prediction: write {max_ratio: 2})",
}

# MLflow reserves "latest" and version-like names ("v3") for aliases.
ALIAS_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,254}$")


def check_experiment(experiment: Experiment) -> list[Finding]:
    spec = experiment.spec
    circuit = spec.circuit
    out: list[Finding] = []
    if spec.task == "classification":
        if spec.data is None:
            out.append((("spec", "data"), "task classification needs a data block",
                        "add data: {source: sklearn:iris, classes: [0, 1]}"))
        if circuit.feature_map is None:
            out.append((("spec", "circuit", "feature_map"), "task classification needs a feature map",
                        "add feature_map: {type: zz, reps: 1}"))
        if spec.hamiltonian is not None:
            out.append((("spec", "hamiltonian"), "a Hamiltonian belongs to task vqe", "remove it, or set task: vqe"))
    else:
        if spec.hamiltonian is None:
            out.append((("spec", "hamiltonian"), "task vqe needs a Hamiltonian",
                        "add hamiltonian: {terms: {ZZ: 1.0}}"))
        if spec.data is not None:
            out.append((("spec", "data"), "task vqe reads no data set", "remove data, or set task: classification"))
        if circuit.feature_map is not None:
            out.append((("spec", "circuit", "feature_map"), "a VQE circuit has no feature map",
                        "remove feature_map"))
        if spec.baseline is not None:
            out.append((("spec", "baseline"), "a classical baseline applies to classification only",
                        "VQE is compared with exact diagonalisation; remove baseline"))
        if circuit.output is not None:
            out.append((("spec", "circuit", "output"), "a classifier's output link applies to classification only",
                        "the VQE loss is the energy; remove output"))
        if spec.training.loss is not None:
            out.append((("spec", "training", "loss"), "a classification loss applies to classification only",
                        "the VQE loss is the energy; remove loss"))
        if circuit.uploads != 1:
            out.append((("spec", "circuit", "uploads"), "data re-uploading needs data: uploads applies to "
                        "classification only", "remove uploads, or raise ansatz.reps"))

    if circuit.feature_map is not None:
        out.extend(_feature_map_fits(circuit.feature_map.type, circuit.qubits))
    ansatz = circuit.ansatz
    weights = ansatz_plugins.plugins()[ansatz.type].weights(circuit.qubits, ansatz.reps) * circuit.uploads
    if weights > MAX_WEIGHTS:
        layers = f" in {circuit.uploads} uploads" if circuit.uploads > 1 else ""
        out.append((("spec", "circuit", "ansatz", "reps"),
                    f"the {ansatz.type} ansatz on {circuit.qubits} qubits with {ansatz.reps} reps{layers} trains "
                    f"{weights:,} parameters, more than {MAX_WEIGHTS:,}",
                    f"at most {MAX_WEIGHTS:,} trained parameters (each costs a parameter-shift pair per sample "
                    "per iteration): use fewer reps or qubits"))

    data = spec.data
    if data is not None and spec.task == "classification":
        if data.features is not None and circuit.feature_map is not None and data.features != circuit.qubits:
            out.append((("spec", "data", "features"),
                        f"{data.features} features do not fit {circuit.qubits} qubits: the "
                        f"{circuit.feature_map.type} feature map encodes one feature per qubit",
                        f"set features: {circuit.qubits}, or qubits: {data.features}"))
        if data.dataset is not None:
            available, names = SKLEARN_DATASETS[data.dataset]
            if data.features is not None and data.features > available:
                out.append((("spec", "data", "features"),
                            f"sklearn:{data.dataset} has {available} features, {data.features} asked",
                            f"use at most {available} features (and as many qubits)"))
            for i, label in enumerate(data.classes):
                if isinstance(label, int) and not 0 <= label < len(names):
                    out.append((("spec", "data", "classes", i),
                                f"sklearn:{data.dataset} has classes 0..{len(names) - 1}, not {label}",
                                "classes are given by index or by name: " + ", ".join(names)))
                elif isinstance(label, str) and label not in names:
                    close = difflib.get_close_matches(label, names, n=1)
                    out.append((("spec", "data", "classes", i),
                                f"sklearn:{data.dataset} has no class {label!r}",
                                f"did you mean {close[0]!r}?" if close else "classes: " + ", ".join(names)))
            if data.target is not None:
                out.append((("spec", "data", "target"), "target names the label column of a csv source",
                            "remove target for scikit-learn data sets"))
            codes = [c if isinstance(c, int) else names.index(c) if c in names else -1 for c in data.classes]
            if all(0 <= c < len(names) for c in codes):
                rows = SKLEARN_CLASS_ROWS[data.dataset]
                out.extend(check_split(data, [rows[c] for c in codes], available))

    if spec.hamiltonian is not None:
        for label in spec.hamiltonian.terms:
            if len(label) != circuit.qubits:
                out.append((("spec", "hamiltonian", "terms", label),
                            f"Pauli label {label!r} acts on {len(label)} qubits, the circuit has {circuit.qubits}",
                            f"write one letter per qubit, or set qubits: {len(label)}"))
                break

    out.extend(spec.backend.plugin.check(spec))
    return out


def check_split(data: DataSpec, class_rows: Sequence[int], raw_features: int) -> list[Finding]:
    """What scikit-learn's stratified split and the PCA would refuse, from the rows of each class.

    ``train_test_split`` holds out ``ceil(test_fraction * n)`` rows and needs at least two of each
    class and two rows in each split; the baseline and the classifier need every class in the
    train split (guaranteed when the split's proportional share of each class is a whole row);
    PCA to ``features`` components needs at least as many train rows."""
    out: list[Finding] = []
    for i, (label, count) in enumerate(zip(data.classes, class_rows, strict=True)):
        if 0 < count < 2:
            out.append((("spec", "data", "classes", i),
                        f"class {label!r} has {count} row in {data.source}; a stratified split needs at least 2",
                        "add rows of this class, or choose another class"))
    total = sum(class_rows)
    if total < 4 or min(class_rows) < 2:
        return out
    n_test = math.ceil(data.test_fraction * total)
    n_train = total - n_test
    if n_test < 2 or n_train < 2:
        side, bound = (("test", f"above {1 / total:.3g}") if n_test < 2
                       else ("train", f"at most {(total - 2) / total:.3g}"))
        out.append((("spec", "data", "test_fraction"),
                    f"test_fraction {data.test_fraction:g} of {total} rows leaves {min(n_test, n_train)} row in the "
                    f"{side} split; a stratified split needs at least one of each class",
                    f"use a test_fraction {bound}"))
        return out
    for label, count in zip(data.classes, class_rows, strict=True):
        if n_train * count < total:
            out.append((("spec", "data", "test_fraction"),
                        f"test_fraction {data.test_fraction:g} leaves {n_train} train rows, which may hold no row of "
                        f"class {label!r} ({count} of {total} rows)",
                        "lower test_fraction, or add rows of that class"))
            return out
    if data.features is not None and raw_features > data.features > n_train:
        out.append((("spec", "data", "features"),
                    f"PCA to {data.features} features needs at least {data.features} train rows; the train split "
                    f"has {n_train}",
                    "use fewer features (and qubits), more rows or a lower test_fraction"))
    return out


def _feature_map_fits(name: str, qubits: int) -> list[Finding]:
    fmaps = feature_map_plugins.plugins()
    fmap = fmaps[name]
    if qubits >= fmap.min_qubits:
        return []
    # the closest name among the maps that fit, e.g. z for zz
    fitting = [other for other, f in fmaps.items() if f.min_qubits <= qubits]
    close = difflib.get_close_matches(name, fitting, n=1, cutoff=0) or fitting[:1]
    alternative = f", or use feature_map: {{type: {close[0]}}}" if close else ""
    least, reason = fmap.min_qubits, fmap.min_qubits_reason
    return [(("spec", "circuit", "qubits"), f"the {name} feature map {reason}; the circuit has {qubits}",
             f"{name} needs at least {least} qubits: set qubits: {least} or more{alternative}")]


def check_references(specs: SpecSet) -> list[Problem]:
    out: list[Problem] = []

    def at(loaded: object, path: Path, message: str, hint: str | None) -> None:
        from qspec.spec.load import format_path

        document = loaded.document  # type: ignore[attr-defined]
        out.append(Problem(document.file, document.locate(path)[0], format_path(path), message, hint))

    for model in specs.models.values():
        name = model.resource.spec.experiment
        experiment = specs.experiments.get(name)
        if experiment is None:
            if ("Experiment", name) not in specs.invalid:  # else its own problems are reported
                at(model, ("spec", "experiment"), f"no Experiment named {shown(name)}",
                   suggest(name, list(specs.experiments), "Experiment"))
            continue
        task = experiment.resource.spec.task
        for metric in model.resource.spec.requirements:
            if metric not in METRICS_BY_TASK[task]:
                at(model, ("spec", "requirements", metric), f"task {task} produces no metric {metric!r}",
                   "metrics: " + ", ".join(sorted(METRICS_BY_TASK[task])))

    claimed: dict[tuple[str, str], Loaded[Deployment]] = {}
    for deployment in specs.deployments.values():
        spec = deployment.resource.spec
        for stage in spec.stages:
            first = claimed.setdefault((spec.model, stage), deployment)
            if first is not deployment:
                where = f"{first.file}:{first.document.locate(('spec', 'stages', stage))[0]}"
                at(deployment, ("spec", "stages", stage),
                   f"stage {stage!r} of Model {spec.model!r} is also declared by Deployment "
                   f"{first.name!r} (at {where})",
                   "an alias has one owner: keep the stage in one of the two Deployments")
        target = specs.models.get(spec.model)
        if target is None and ("Model", spec.model) not in specs.invalid:
            at(deployment, ("spec", "model"), f"no Model named {shown(spec.model)}",
               suggest(spec.model, list(specs.models), "Model"))
        for stage in spec.stages:
            if not ALIAS_PATTERN.match(stage) or stage == "latest" or re.match(r"^v\d+$", stage):
                at(deployment, ("spec", "stages", stage),
                   f"stage {stage!r} cannot be an MLflow alias",
                   "use letters, digits, '_' and '-'; not 'latest' and not v<number>")
        produced: str | None = None
        if target is not None and target.resource.spec.experiment in specs.experiments:
            produced = specs.experiments[target.resource.spec.experiment].resource.spec.task
        for stage, bounds in spec.gates.items():
            if stage not in spec.stages:
                at(deployment, ("spec", "gates", stage), f"gate for stage {stage!r}, which is not declared",
                   suggest(stage, list(spec.stages), "stage"))
            for metric in bounds:
                if produced is not None and metric not in METRICS_BY_TASK[produced]:
                    at(deployment, ("spec", "gates", stage, metric), f"task {produced} produces no metric {metric!r}",
                       "metrics: " + ", ".join(sorted(METRICS_BY_TASK[produced])))
        if target is not None and target.resource.spec.experiment in specs.experiments:
            consumed = specs.experiments[target.resource.spec.experiment].resource
            for stage, declared in spec.stages.items():
                # a ref stage serves the Experiment at its ref: the plan checks it there (plan.desired)
                if declared.serving is not None and declared.ref is None:
                    for path, message, hint in check_serving(consumed, declared.serving):
                        at(deployment, ("spec", "stages", stage, "serving", *path), message, hint)
        for metric, rule in spec.monitoring.items():
            key: Path = ("spec", "monitoring", metric)
            known = MONITOR_RULES[produced] if produced is not None else None
            if metric not in MONITOR_METRICS or (known is not None and metric not in known):
                names = sorted(known if known is not None else MONITOR_METRICS)
                on = f" on a {produced} model" if produced is not None else ""
                at(deployment, key, f"cannot monitor {metric!r}{on}", "monitoring measures: " + ", ".join(names))
                continue
            fits = (known or {}).get(metric) or next(r[metric] for r in MONITOR_RULES.values() if metric in r)
            for kind in rule.kinds():
                if kind not in fits:
                    at(deployment, (*key, kind), f"{kind} does not fit {metric}",
                       f"{metric} takes " + " or ".join(fits) + _RULE_HINTS[fits[0]])
    return out


def closest(word: str, names: list[str]) -> str | None:
    """``did you mean 'x'?`` for the declared name closest to ``word``, if one is close (a word over
    100 characters is no name, and difflib is quadratic)."""
    close = difflib.get_close_matches(word, names, n=1) if len(word) <= 100 else []
    return f"did you mean {close[0]!r}?" if close else None


def suggest(word: str, names: list[str], kind: str) -> str:
    """The hint for a reference to an undeclared ``kind``: the closest name, else the declared ones."""
    return closest(word, names) or (
        f"declared {kind}s: {', '.join(sorted(names))}" if names else f"no valid {kind} is declared")


def check_serving(experiment: Experiment, serving: ServingSpec) -> list[Finding]:
    """Whether the model trained by ``experiment`` can be served as ``serving`` says: the serving
    target's own rules (``Target.check``: the circuit's qubits on the device, shots on hardware),
    applied to the experiment with its backend replaced by the serving one. Paths are relative to
    the ``serving`` block (``("target",)``, ``("shots",)``)."""
    from qspec.spec.models import BackendSpec

    backend = BackendSpec(target=serving.target, shots=serving.shots)
    served = experiment.spec.model_copy(update={"backend": backend})
    out: list[Finding] = []
    for path, message, hint in backend.plugin.check(served):
        field = path[-1] if path[:2] == ("spec", "backend") else "target"
        out.append(((field,), message.replace("the circuit needs", f"the model's circuit ({experiment.name}) needs"),
                    hint))
    return out
