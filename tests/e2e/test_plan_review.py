"""What the plan tells a reviewer (issue 12, item 4): the fields a retraining changes against the
version it replaces, the budget's use and headroom, and exit codes that say what they mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qspec.registry.testing import client_for

SPECS = (Path(__file__).parent / "specs" / "iris.yaml").read_text().replace(
    "production: {ref: v1.0}", "production: {track: HEAD}").replace(
    "training: {optimizer: {name: adam, learning_rate: 0.1, maxiter: 8}, seed: 1}",
    "training: {optimizer: {name: adam, learning_rate: 0.1, maxiter: 8}, seed: 1}\n"
    "  budget: {max_shots: 50000000, max_cost_usd: 0}")


@pytest.fixture
def workspace(spec_repo):
    return spec_repo({"specs/iris.yaml": SPECS})


def test_a_retraining_lists_the_fields_it_changes_and_its_budget(workspace, run_cli) -> None:
    repo, _ = workspace
    first = run_cli("plan")
    assert "changes since" not in first.out  # nothing to replace yet
    assert "      budget: shots 0 (exact) of 50M, $0.00 of $0.00" in first.out
    assert run_cli("apply", "--auto-approve").code == 0
    old_commit = repo.git("rev-parse", "HEAD")

    sampled = SPECS.replace("reps: 1", "reps: 2").replace("maxiter: 8", "maxiter: 9").replace(
        "shots: null", "shots: 1000")
    repo.write("specs/iris.yaml", sampled)
    repo.commit("deeper, longer, sampled")
    text = run_cli("plan")
    assert text.code == 0, text.err
    assert f"      changes since v1 (commit {old_commit[:12]}):\n" in text.out
    assert "        circuit.ansatz.reps: 1 -> 2\n" in text.out
    assert "        training.optimizer.maxiter: 8 -> 9\n" in text.out
    assert "        backend.shots: null -> 1000\n" in text.out
    assert "budget: shots " in text.out and " of 50M, $0.00 of $0.00" in text.out

    markdown = run_cli("plan", "--format", "markdown").out
    assert "#### What changed" in markdown
    assert "  - `circuit.ansatz.reps`: `1` -> `2`" in markdown
    assert "of 50M, $0.00 of $0.00 |" in markdown  # the training table's budget column

    data = json.loads(run_cli("plan", "--format", "json").out)
    (train,) = [i for i in data["items"] if i["action"] == "train"]
    changes = train["spec_changes"]
    assert changes["version"] == 1 and changes["git_commit"] == old_commit and changes["unknown"] is None
    assert {c["path"]: (c["old"], c["new"]) for c in changes["fields"]} == {
        "circuit.ansatz.reps": (1, 2), "training.optimizer.maxiter": (8, 9), "backend.shots": (None, 1000)}
    assert train["budget"]["max_shots"] == 50_000_000 and train["budget"]["shots_left"] == (
        50_000_000 - train["estimate"]["shots"])


def test_a_version_of_uncommitted_specs_says_its_fields_are_unknown(workspace, run_cli) -> None:
    repo, _ = workspace
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n  budget", "seed: 3}\n  budget"))
    assert run_cli("apply", "--auto-approve", "--allow-dirty").code == 0
    repo.write("specs/iris.yaml", SPECS.replace("reps: 1", "reps: 2"))
    repo.commit("deeper")
    text = run_cli("plan")
    assert text.code == 0, text.err
    assert "changes since v1: unknown, v1 was trained from uncommitted specs, which git does not hold" in text.out


def test_detailed_exit_codes_agree_with_status_check(workspace, run_cli) -> None:
    repo, uri = workspace
    client = client_for(uri)
    assert run_cli("plan", "--detailed-exitcode").code == 2  # changes
    assert run_cli("apply", "--auto-approve").code == 0
    assert run_cli("plan", "--detailed-exitcode").code == 0  # in sync
    assert run_cli("status", "--check").code == 0

    # Drift: an alias moved by hand.
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n  budget", "seed: 2}\n  budget"))
    repo.commit("another start")
    assert run_cli("apply", "--auto-approve").code == 0
    client.set_registered_model_alias("iris-classifier", "production", "1")
    assert run_cli("plan", "--detailed-exitcode").code == 2
    assert run_cli("status", "--check").code == 2
    assert run_cli("apply", "--auto-approve").code == 0

    # Blocked only (nothing to change): an impossible gate on a new stage.
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n  budget", "seed: 2}\n  budget").replace(
        "    production: {track: HEAD}\n", "    production: {track: HEAD}\n    canary: {ref: v9.9}\n"))
    repo.commit("a canary at a tag that does not exist")
    blocked = run_cli("plan", "--detailed-exitcode")
    assert blocked.code == 2 and "(1 blocked)" in blocked.out
    assert run_cli("status", "--check").code == 2
    refused = run_cli("apply", "--auto-approve")
    assert refused.code == 1
    assert "error: 1 item stayed blocked: iris-classifier@canary" in refused.err and "--allow-blocked" in refused.err
    assert run_cli("apply", "--auto-approve", "--allow-blocked").code == 0

    # A merge that removes a stage: the alias is kept and reported, and nothing is out of sync ...
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n  budget", "seed: 2}\n  budget").replace(
        "    production: {track: HEAD}\n", "").replace("  gates:\n    production: {test_accuracy: {min: 0.5}}\n", ""))
    repo.commit("no production stage")
    kept = run_cli("plan", "--detailed-exitcode")
    assert kept.code == 0 and "iris-classifier@production" in kept.out and "--prune" in kept.out
    applied = run_cli("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    status = run_cli("status", "--check")
    assert status.code == 0 and "kept (qspec apply --prune deletes it)" in status.out
    # ... until --prune is chosen: then it is a deletion pending.
    assert run_cli("plan", "--prune", "--detailed-exitcode").code == 2
    assert run_cli("apply", "--auto-approve", "--prune").code == 0
    assert run_cli("plan", "--prune", "--detailed-exitcode").code == 0
    assert set(client.get_registered_model("iris-classifier").aliases) == {"staging"}
