"""The plan/apply flags a pull request, a CI job or a person at a laptop relies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qspec.registry.testing import client_for
from tests.conftest import example_text

IRIS = (Path(__file__).parent / "specs" / "iris.yaml").read_text().replace(
    "production: {ref: v1.0}", "production: {track: HEAD}")

# The example H2 spec, trained for fewer iterations (L-BFGS-B converges on two qubits long before 200).
H2 = example_text("h2-vqe.yaml").replace("maxiter: 200", "maxiter: 50")


@pytest.fixture
def workspace(spec_repo):
    return spec_repo({"specs/iris.yaml": IRIS, "specs/h2.yaml": H2})


def subjects(plan_json: str) -> set[str]:
    return {item["subject"] for item in json.loads(plan_json)["items"]}


def test_plan_base_shows_only_what_the_change_affects(workspace, run_cli) -> None:
    repo, _ = workspace
    assert run_cli("apply", "--auto-approve").code == 0
    base = repo.git("rev-parse", "HEAD")
    repo.write("specs/iris.yaml", IRIS.replace("maxiter: 8", "maxiter: 9"))
    repo.commit("train iris longer")
    full = run_cli("plan", "--format", "json")
    pr = run_cli("plan", "--base", base, "--format", "json")
    assert full.code == pr.code == 0, pr.err
    assert any(s.startswith("iris") for s in subjects(pr.out))
    assert not any(s.startswith("h2") for s in subjects(pr.out))
    # A model the change removes is part of the PR view (its aliases are now undeclared).
    repo.write("specs/h2.yaml", "")
    repo.commit("drop h2")
    removed = run_cli("plan", "--base", "HEAD~1", "--format", "json")
    assert any(s.startswith("h2-ground-state") for s in subjects(removed.out)), removed.out
    repo.write("specs/h2.yaml", H2)
    repo.commit("h2 back")
    # The PR view still validates everything: a broken h2 spec fails the plan.
    repo.write("specs/h2.yaml", H2.replace("qubits: 2", "qubits: 3"))
    repo.commit("break h2")
    broken = run_cli("plan", "--base", base)
    assert broken.code == 1 and "specs/h2.yaml:" in broken.err
    # ... and a PR that fixes a broken base still gets a plan, of every model.
    repo.write("specs/h2.yaml", H2)
    repo.commit("fix h2")
    fixing = run_cli("plan", "--base", "HEAD~1", "--format", "json")
    assert fixing.code == 0, fixing.err
    assert "cannot be read" in fixing.err


def test_markdown_plan_for_a_pull_request_comment(workspace, run_cli) -> None:
    result = run_cli("plan", "--format", "markdown", "--detailed-exitcode")
    assert result.code == 2
    assert result.out.lstrip().startswith("#") or "|" in result.out
    assert "iris-vqc" in result.out and "h2-vqe" in result.out
    assert "shots" in result.out.lower() or "exact" in result.out.lower()
    assert "$" in result.out  # the estimated cost of what would be trained


def test_only_one_experiment(workspace, run_cli) -> None:
    _, uri = workspace
    result = run_cli("apply", "--auto-approve", "--only", "h2-vqe")
    assert result.code == 0, result.err
    assert [m.name for m in client_for(uri).search_registered_models()] == ["h2-ground-state"]
    unknown = run_cli("apply", "--auto-approve", "--only", "nope")
    assert unknown.code == 1 and "--only nope" in unknown.err and "iris-vqc" in unknown.err


def test_dry_run_changes_nothing(workspace, run_cli) -> None:
    _, uri = workspace
    result = run_cli("apply", "--dry-run")
    assert result.code == 0
    assert "to train" in result.out
    assert client_for(uri).search_registered_models() == []
    assert client_for(uri).search_experiments(filter_string="name = 'iris-vqc'") == []


def test_allow_dirty_tags_the_run(workspace, run_cli) -> None:
    repo, uri = workspace
    repo.write("specs/h2.yaml", H2.replace("seed: 5", "seed: 6"))
    assert run_cli("apply", "--auto-approve", "--only", "h2-vqe").code == 1
    result = run_cli("apply", "--auto-approve", "--only", "h2-vqe", "--allow-dirty")
    assert result.code == 0, result.err
    client = client_for(uri)
    (experiment,) = client.search_experiments(filter_string="name = 'h2-vqe'")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["qspec.git_dirty"] == "true"
    (version,) = client.search_model_versions("name = 'h2-ground-state'")
    assert version.tags["qspec.git_dirty"] == "true"  # the version keeps the provenance
    assert run.data.tags["qspec.git_commit"] == repo.git("rev-parse", "HEAD")


def test_files_qspec_does_not_read_do_not_make_the_tree_dirty(workspace, run_cli) -> None:
    repo, _ = workspace
    repo.write("specs/.iris.yaml.swp", b"\x00swap")
    repo.write("specs/notes.txt", "ideas")
    result = run_cli("apply", "--auto-approve", "--only", "h2-vqe")
    assert result.code == 0, result.err


def test_apply_never_prompts_without_a_terminal(workspace) -> None:
    repo, uri = workspace
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    done = subprocess.run([sys.executable, "-m", "qspec.cli.main", "apply", "--only", "h2-vqe"], cwd=repo.path,
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "Apply complete" in done.stdout
    assert "Apply these changes?" not in done.stderr


def test_unreachable_registry_is_a_clear_error(workspace, run_cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("plan", "--tracking-uri", f"sqlite:///{blocker}/sub/mlflow.db")
    assert result.code == 1
    assert "Traceback" not in result.err and "error:" in result.err


def test_console_script_keeps_output_and_exit_codes_of_read_only_commands(workspace) -> None:
    repo, uri = workspace
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    # Piped (fully buffered) stdout must still be flushed before the fast exit.
    done = subprocess.run([sys.executable, "-m", "qspec.cli.main", "plan", "--detailed-exitcode"], cwd=repo.path,
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 2, done.stderr
    assert done.stdout.rstrip().endswith("0 to delete.")
    status = subprocess.run([sys.executable, "-m", "qspec.cli.main", "status", "--check", "--format", "json"],
                            cwd=repo.path, env=env, capture_output=True, text=True, timeout=240)
    assert status.returncode == 2
    assert json.loads(status.stdout)


def test_an_unreachable_tracking_server_is_reported_not_retried_for_minutes(workspace) -> None:
    repo, _ = workspace
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
    # 127.0.0.1:1 refuses connections; MLflow's own defaults would retry for about 4 minutes.
    done = subprocess.run([sys.executable, "-m", "qspec.cli.main", "plan", "--tracking-uri", "http://127.0.0.1:1"],
                          cwd=repo.path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "127.0.0.1:1" in done.stderr and "hint:" in done.stderr and "Traceback" not in done.stderr


def test_apply_wait_timeout_0_leaves_a_spec_another_apply_is_training_and_says_who(spec_repo, run_cli) -> None:
    import time

    from qspec.apply.ports import ClaimInfo
    from qspec.registry.mlflow import MlflowRegistry

    _, uri = spec_repo({"specs/iris.yaml": IRIS})
    items = json.loads(run_cli("plan", "--format", "json").out)["items"]
    spec_hash = next(i["spec_hash"] for i in items if i["action"] == "train")
    # Another apply, on another CI runner, holds the claim on this spec's training.
    holder = "ci-runner-7 pid 42 id 0bad"
    assert MlflowRegistry(client_for(uri)).create_claim(ClaimInfo(spec_hash, 1, holder, time.time() + 600))

    result = run_cli("apply", "--auto-approve", "--wait-timeout", "0")
    assert result.code == 0, result.err
    assert f"another apply holds its training ({holder}, lease until" in result.out
    assert "not waited for (--wait-timeout 0)" in result.out and "4 not attempted" in result.out
    client = client_for(uri)
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []  # nothing trained
    assert run_cli("status", "--check").code == 2  # and not claimed to be in sync
    refused = run_cli("apply", "--auto-approve", "--wait-timeout", "-1")
    assert refused.code == 1 and "--wait-timeout" in refused.err
