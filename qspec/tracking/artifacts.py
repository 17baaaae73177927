"""The files a training run leaves in MLflow: spec, circuit, parameters, data, device, results, plots.

``write_spec(directory, loaded)`` renders the spec, which ``qspec.tracking.runs`` uploads when the
run opens (a run that fails still says what it was); ``write_run_artifacts(directory, loaded, result)``
renders everything a ``TrainingResult`` holds into plain files (JSON, NumPy ``.npy``, QPY,
OpenQASM 3, text and PNG; no pickles), uploaded in one call when the training is done. The
layout is part of the contract with anyone who audits a run:

    spec/normalized.json        the spec with every default filled in (what the hash covers)
    circuit/circuit.txt|.qpy|.qasm      the logical circuit (feature map + ansatz), unbound
    circuit/transpiled.txt|.qpy|.qasm   the circuit as run on the target (when transpiled)
    parameters/parameters.json|.npy     trained parameters by name; initial_parameters.npy
    data/data.json              data fingerprint and split sizes (classification)
    device/device.json, device/noise_model.json, device/calibration.json
    results/results.json        final metrics, baseline, cost, summaries; results/history.csv
    plots/training_curve.png, plots/baseline_comparison.png
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qspec.quantum.result import TrainingResult
from qspec.spec.hashing import normalized
from qspec.spec.load import Loaded
from qspec.spec.models import Experiment


def write_run_artifacts(directory: Path, loaded: Loaded[Experiment], result: TrainingResult) -> list[str]:
    """Write every artifact of a finished training under ``directory`` (the spec excepted: it is
    written when the run opens); returns the relative paths."""
    write_circuits(directory, result)
    write_parameters(directory / "parameters", result)
    if result.data is not None:
        write_json(directory / "data" / "data.json", result.data)
    write_device(directory / "device", result)
    write_json(directory / "results" / "results.json", results_record(loaded, result))
    write_history(directory / "results" / "history.csv", result)
    from qspec.tracking.plots import plot_baseline, plot_training_curve

    plot_training_curve(directory / "plots" / "training_curve.png", loaded.name, result)
    plot_baseline(directory / "plots" / "baseline_comparison.png", loaded.name, result)
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def write_spec(directory: Path, loaded: Loaded[Experiment]) -> None:
    write_json(
        directory / "spec" / "normalized.json",
        {"spec_hash": loaded.hash, "spec_path": loaded.file, "resource": normalized(loaded.resource)},
    )


def write_circuits(directory: Path, result: TrainingResult) -> None:
    out = directory / "circuit"
    write_circuit(out, "circuit", result.circuit)
    # The trained circuit: weights bound, the data inputs (classification) left as OpenQASM inputs.
    (out / "trained.qasm").write_text(circuit_qasm3(trained_circuit(result)), encoding="utf-8")
    transpiled = first_circuit(result.transpiled)
    if transpiled is not None:
        write_circuit(out, "transpiled", transpiled)


def trained_circuit(result: TrainingResult) -> Any:
    values = dict(zip(result.parameter_names, np.asarray(result.parameters, dtype=float).tolist(), strict=True))
    bindings = {p: values[p.name] for p in result.circuit.parameters if p.name in values}
    return result.circuit.assign_parameters(bindings)


def first_circuit(circuits: Any) -> Any:
    """The engine may hand over one ISA circuit or a list of them (one per observable group)."""
    if isinstance(circuits, list | tuple):
        return circuits[0] if circuits else None
    return circuits


def write_circuit(out: Path, stem: str, circuit: Any) -> None:
    """A circuit as a text diagram, as QPY (exact, reloadable) and as OpenQASM 3 (portable)."""
    from qiskit import qpy

    out.mkdir(parents=True, exist_ok=True)
    # An ISA circuit spans every qubit of the device; idle wires would bury the few in use.
    diagram = circuit.draw(output="text", fold=-1, idle_wires=False)
    (out / f"{stem}.txt").write_text(str(diagram) + "\n", encoding="utf-8")
    with (out / f"{stem}.qpy").open("wb") as handle:
        qpy.dump(circuit, handle)
    (out / f"{stem}.qasm").write_text(circuit_qasm3(circuit), encoding="utf-8")


def circuit_qasm3(circuit: Any) -> str:
    """OpenQASM 3 of ``circuit``; library blocks that have no OpenQASM definition are decomposed first."""
    from qiskit import qasm3
    from qiskit.qasm3 import QASM3ExporterError

    try:
        return str(qasm3.dumps(circuit))
    except QASM3ExporterError:
        return str(qasm3.dumps(circuit.decompose(reps=3)))


def write_parameters(out: Path, result: TrainingResult) -> None:
    out.mkdir(parents=True, exist_ok=True)
    values = np.asarray(result.parameters, dtype=float)
    np.save(out / "parameters.npy", values)
    np.save(out / "initial_parameters.npy", np.asarray(result.initial_parameters, dtype=float))
    write_json(
        out / "parameters.json",
        {
            "names": list(result.parameter_names),
            "values": values.tolist(),
            "initial": np.asarray(result.initial_parameters, dtype=float).tolist(),
            "by_name": dict(zip(result.parameter_names, values.tolist(), strict=True)),
        },
    )


def write_device(out: Path, result: TrainingResult) -> None:
    device = result.device
    write_json(
        out / "device.json",
        {"target": device.target, "provider": device.provider, "device": device.device,
         "simulator": device.simulator, "noisy": device.noise is not None},
    )
    # Written even when empty, so that "no noise" is recorded rather than implied by absence.
    write_json(out / "noise_model.json", device.noise)
    write_json(out / "calibration.json", device.calibration)


def results_record(loaded: Loaded[Experiment], result: TrainingResult) -> dict[str, Any]:
    return {
        "spec_name": loaded.name,
        "spec_hash": loaded.hash,
        "task": result.task,
        "metrics": result.metrics,
        "baseline": {"name": result.baseline_name, "metrics": result.baseline},
        "iterations": result.iterations,
        "converged_iteration": result.converged_iteration,
        "shots_used": result.shots_used,
        "execution_seconds": result.execution_seconds,
        "estimate": result.estimate,
        "device": {k: v for k, v in asdict(result.device).items() if k not in ("noise", "calibration")},
        "data": result.data,
        "test_outputs": None if result.test_outputs is None else {
            "summary": summarize(result.test_outputs),
            "values": np.asarray(result.test_outputs).tolist(),
        },
        "extra": result.extra,
    }


def write_history(path: Path, result: TrainingResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    extra_keys = sorted({k for record in result.history for k in record.metrics})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["iteration", "loss", "gradient_norm", "parameter_norm", "elapsed", "evaluations",
                         *extra_keys])
        for r in result.history:
            writer.writerow([r.iteration, r.loss, "" if r.gradient_norm is None else r.gradient_norm,
                             r.parameter_norm, r.elapsed, r.evaluations,
                             *(r.metrics.get(k, "") for k in extra_keys)])


def summarize(values: Any) -> dict[str, float]:
    """mean/std/min/max of an array-valued result (MLflow metrics are scalars)."""
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        return {}
    return {"mean": float(array.mean()), "std": float(array.std()),
            "min": float(array.min()), "max": float(array.max())}


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(value), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from the engine's records: dataclasses, NumPy values, complex numbers."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, complex):
        return {"real": value.real, "imag": value.imag}
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
