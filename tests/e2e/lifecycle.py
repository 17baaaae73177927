"""The GitOps lifecycle of issue 5's "Must show", as one function any store can be put through:
the embedded SQLite store (test_gitops.py) and an ``mlflow server`` on PostgreSQL (test_postgres.py).

First apply; a second apply is a no-op; an edited spec retrains and moves `staging` while
`production` (pinned to a tag) stays; an alias moved by hand is drift in `plan` and `status --check`
and is healed by `apply`; `--prune` removes only managed aliases; an unmanaged model is never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qspec.registry.testing import client_for
from tests.conftest import GitRepo, Result

SPECS = (Path(__file__).parent / "specs" / "iris.yaml").read_text()


def versions(client, name: str) -> list[int]:
    return sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))


def aliases(client, name: str) -> dict[str, int]:
    return {alias: int(version) for alias, version in client.get_registered_model(name).aliases.items()}


def run_count(client) -> int:
    experiments = client.search_experiments()
    return len(client.search_runs([e.experiment_id for e in experiments], max_results=1000))


def gitops_lifecycle(repo: GitRepo, uri: str, run_cli: Callable[..., Result]) -> None:
    """Issue 5's story against the registry at ``uri`` (the CLI reads it from ``MLFLOW_TRACKING_URI``);
    ``repo`` holds SPECS, committed and tagged ``v1.0``, and is the current directory."""
    client = client_for(uri)

    # A plan before anything exists: changes pending.
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert "train" in plan.out

    first = run_cli("apply", "--auto-approve")
    assert first.code == 0, first.err
    assert versions(client, "iris-classifier") == [1]
    assert aliases(client, "iris-classifier") == {"staging": 1, "production": 1}
    assert run_count(client) == 1
    version = client.get_model_version("iris-classifier", "1")
    assert version.tags["qspec.managed"] == "true"
    assert len(version.tags["qspec.spec_hash"]) == 64
    # The quantum metadata of issue 4 travels with versions that apply registers.
    assert version.tags["quantum.qubits"] == "4"
    assert {"quantum.parameter_count", "quantum.provider"} <= set(version.tags)

    # Nothing changed: no training, no new version, exit 0 for the plan.
    assert run_cli("plan", "--detailed-exitcode").code == 0
    again = run_cli("apply", "--auto-approve")
    assert again.code == 0, again.err
    assert run_count(client) == 1 and versions(client, "iris-classifier") == [1]
    assert run_cli("status", "--check").code == 0

    # An edited spec retrains; staging (HEAD) moves, production (pinned to v1.0) stays.
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n---", "seed: 2}\n---", 1))
    repo.commit("another initial point")
    edited = run_cli("apply", "--auto-approve")
    assert edited.code == 0, edited.err
    assert run_count(client) == 2
    assert versions(client, "iris-classifier") == [1, 2]
    assert aliases(client, "iris-classifier") == {"staging": 2, "production": 1}

    # Someone moves staging by hand: drift in plan and status, healed by apply.
    client.set_registered_model_alias("iris-classifier", "staging", "1")
    drift = run_cli("plan", "--detailed-exitcode")
    assert drift.code == 2
    assert "drift" in drift.out.lower()
    assert run_cli("status", "--check").code == 2
    assert run_cli("apply", "--auto-approve").code == 0
    assert aliases(client, "iris-classifier") == {"staging": 2, "production": 1}
    assert run_cli("status", "--check").code == 0
    assert run_count(client) == 2

    # An unmanaged model with an alias of the same name is never touched.
    client.create_registered_model("hand-made")
    theirs = client.get_model_version("iris-classifier", "1")
    # A server wants the logged model a models:/<id> source names (a SQLite store looks it up itself).
    client.create_model_version("hand-made", theirs.source, run_id=theirs.run_id,
                                model_id=theirs.source.removeprefix("models:/"))
    client.set_registered_model_alias("hand-made", "staging", "1")

    # Git stops declaring staging: reported, kept without --prune, removed with it.
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n---", "seed: 2}\n---", 1)
               .replace("    staging: {track: HEAD}\n", ""))
    repo.commit("no staging stage")
    kept = run_cli("apply", "--auto-approve")
    assert kept.code == 0, kept.err
    assert "staging" in aliases(client, "iris-classifier")
    pruned = run_cli("apply", "--auto-approve", "--prune")
    assert pruned.code == 0, pruned.err
    assert aliases(client, "iris-classifier") == {"production": 1}
    assert aliases(client, "hand-made") == {"staging": 1}
    assert run_count(client) == 2
