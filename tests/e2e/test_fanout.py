"""The reconcile workflow's fan-out, on one machine: the matrix jobs as separate processes racing on
one ``mlflow server``, then the final apply.

``qspec plan --format json`` lists the trainings; each "runner" (its own clone of the repository,
its own process, as each matrix job has its own checkout) runs ``qspec apply --only NAME#HASH
--train-only``, all started at once, one training twice (two jobs of the same training, as a
re-run or a second push would make). The per-hash claim lets each hash be trained once; no run is
left FAILED; nothing is registered until the final ``qspec apply``, after which the registry has
one version per model, the aliases where git says, and ``status --check`` exits 0. The processes
run with ``GITHUB_ACTIONS=true`` and their own ``$GITHUB_OUTPUT``, so the ``trained`` outputs say
which runner trained what.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from qspec import tags as tag
from qspec.registry.testing import client_for
from tests.servers import clean_env

pytestmark = pytest.mark.slow

BASE = (Path(__file__).parent / "specs" / "iris.yaml").read_text().replace(
    "production: {ref: v1.0}", "production: {track: HEAD}").replace("maxiter: 8}", "maxiter: 10}")
NAMES = ("iris-a", "iris-b", "iris-c")


def spec(name: str, seed: int) -> str:
    """One Experiment, its Model and Deployment; the seed gives each its own spec hash."""
    backend = "backend: {target: aer, shots: null, seed: %d}"
    return (BASE.replace("iris-vqc", name).replace("iris-classifier", f"{name}-model")
            .replace(backend % 1, backend % seed))


def start(cwd: Path, uri: str, *args: str, output: Path | None = None) -> subprocess.Popen[str]:
    env = clean_env(MLFLOW_TRACKING_URI=uri, NO_COLOR="1", QSPEC_CLAIM_LEASE_SECONDS="10")
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_EVENT_PATH", "RUNNER_TEMP"):
        env.pop(name, None)
    if output is not None:  # a matrix job on a GitHub runner
        output.touch()
        env.update(GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(output) + ".md",
                   RUNNER_TEMP=str(output.parent / (output.name + ".tmp")))
    return subprocess.Popen([sys.executable, "-m", "qspec.cli.main", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=240)
    return process.returncode, out, err


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_trainings_fanned_out_as_racing_processes_train_each_hash_once_and_converge(
        server: str, git_repo, tmp_path: Path) -> None:
    repo = git_repo.path
    for seed, name in enumerate(NAMES, start=1):
        git_repo.write(f"specs/{name}.yaml", spec(name, seed))
    git_repo.write(".gitignore", ".qspec/\n")
    git_repo.commit("three experiments")

    # The plan job: its `trainings` output is the matrix.
    code, out, err = finish(start(repo, server, "plan", "--format", "json"))
    assert code == 0, err
    trainings = json.loads(out)["trainings"]
    assert sorted(t["experiment"] for t in trainings) == sorted(NAMES)
    hashes = {t["spec_hash"] for t in trainings}
    assert len(hashes) == 3

    # The matrix: one runner per training, plus a second runner of the first training.
    jobs = [*trainings, trainings[0]]
    runners = []
    for i, training in enumerate(jobs):
        checkout = tmp_path / f"runner-{i}"
        subprocess.run(["git", "clone", "-q", str(repo), str(checkout)], check=True)
        runners.append((checkout, tmp_path / f"runner-{i}.out", training))
    racing = [start(checkout, server, "apply", "--only", training["only"], "--train-only", output=output)
              for checkout, output, training in runners]
    results = [finish(p) for p in racing]
    assert [code for code, _, _ in results] == [0] * len(jobs), results

    trained = Counter(h for _, output, _ in runners for h in json.loads(outputs(output)["trained"]))
    assert trained == Counter(hashes), trained  # every hash trained, and by one runner only
    logs = "\n".join(out + err for _, out, err in results)
    # The twin runner either waited for the claim's holder or found its run finished.
    assert "trained by another apply" in logs or "finished meanwhile" in logs or logs.count("No changes") == 1, logs

    client = client_for(server)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
    statuses = {h: sorted(r.info.status for r in runs if r.data.tags.get(tag.SPEC_HASH) == h) for h in hashes}
    assert statuses == {h: ["FINISHED"] for h in hashes}  # one run per hash, none FAILED
    assert len(runs) == 3
    assert client.search_registered_models() == []  # train-only registers nothing; claims are released

    # The final job: register and promote.
    code, out, err = finish(start(repo, server, "apply", "--auto-approve"))
    assert code == 0, out + err
    assert "✓ done     train" not in out  # nothing left to train
    for name in NAMES:
        model = client.get_registered_model(f"{name}-model")
        versions = client.search_model_versions(f"name = '{name}-model'")
        assert [int(v.version) for v in versions] == [1]
        assert {a: int(v) for a, v in model.aliases.items()} == {"staging": 1, "production": 1}
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)) == 3
    code, out, err = finish(start(repo, server, "status", "--check"))
    assert code == 0, out + err
    code, out, err = finish(start(repo, server, "apply", "--auto-approve"))
    assert code == 0 and "No changes" in out
