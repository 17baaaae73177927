"""The statevector target: qiskit's reference primitives, exactly or sampled, and never Aer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qspec.errors import SpecError
from qspec.plugins.targets import run_tags
from qspec.quantum import train
from qspec.spec.models import Experiment

H2_EXACT = -1.13730604
REPO = Path(__file__).resolve().parents[2]


def test_trains_exactly_and_with_shots_without_importing_aer() -> None:
    code = """
import sys
from qspec.spec import load_specs
from qspec.quantum import train

h2 = load_specs(["specs"]).experiments["h2-vqe"].resource
data = h2.model_dump(mode="json", by_alias=True)
data["spec"]["backend"] = {"target": "statevector", "seed": 3}
exact = train(type(h2).model_validate(data))
data["spec"]["backend"]["shots"] = 500
data["spec"]["training"]["optimizer"] = {"name": "cobyla", "maxiter": 12}
sampled = train(type(h2).model_validate(data))
print(round(exact.metrics["energy"], 6), exact.extra["exact_training"], sampled.shots_used,
      [m for m in ("qiskit_aer", "qiskit_ibm_runtime") if m in sys.modules])
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    energy, exact, shots, loaded = done.stdout.split(maxsplit=3)
    assert abs(float(energy) - H2_EXACT) < 1e-5 and exact == "True"
    assert shots == str(500 * 2 * 13) and loaded.strip() == "[]"  # two bases x (12 + 1) calls; no Aer loaded


def test_exact_training_is_the_numpy_path_with_reference_final_metrics(examples: dict[str, Experiment],
                                                                       with_changes) -> None:
    on_aer = train(examples["iris-vqc"])
    result = train(with_changes(examples["iris-vqc"], backend={"target": "statevector"}))
    assert result.parameters.tobytes() == on_aer.parameters.tobytes()  # same numpy path, same seeds
    assert result.extra["exact_vs_backend_max_deviation"] < 1e-10  # StatevectorEstimator agrees
    assert result.metrics["test_accuracy"] == on_aer.metrics["test_accuracy"] >= 0.95
    assert (result.device.provider, result.device.device, result.transpiled is result.circuit) == ("qiskit", None, True)


def test_sampled_training_repeats_and_matches_its_estimate(examples: dict[str, Experiment], with_changes) -> None:
    spec = with_changes(examples["h2-vqe"], backend={"target": "statevector", "shots": 4000, "seed": 1},
                        training={"optimizer": {"name": "cobyla", "maxiter": 40}})
    first, second = train(spec), train(spec)
    assert first.parameters.tobytes() == second.parameters.tobytes() and first.metrics == second.metrics
    assert first.extra["exact_training"] is False
    assert first.shots_used == first.estimate.shots == 4000 * first.estimate.circuits
    assert first.estimate.circuits == first.extra["circuit_executions"] == 2 * (40 + 1)  # two measurement bases
    assert abs(first.metrics["energy"] - H2_EXACT) < 2e-2
    other = train(with_changes(spec, backend={"seed": 2}))
    assert other.parameters.tobytes() != first.parameters.tobytes()  # the seed drives the shots


def test_noise_is_refused_and_tags_name_the_reference_simulator(tmp_path: Path) -> None:
    from qspec.spec import load_specs

    text = (REPO / "specs" / "h2-vqe.yaml").read_text().replace(
        "backend: {target: aer, shots: null, seed: 5}", "backend: {target: statevector, noise: {readout: 0.01}}")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "h2.yaml").write_text(text)
    with pytest.raises(SpecError) as info:
        load_specs([tmp_path / "specs"])
    (problem,) = [p for p in info.value.problems if p.path == "spec.backend.noise"]
    assert problem.message == "a noise block applies to target aer only, not statevector"
    assert "noiseless" in (problem.hint or "")
    experiment = load_specs([REPO / "specs"]).experiments["h2-vqe"].resource
    backend = experiment.spec.backend.model_copy(update={"target": "statevector"})
    assert run_tags(backend) == {"quantum.provider": "qiskit", "quantum.device": "statevector",
                                 "quantum.type": "simulator"}
