"""Saved plans: ``qspec plan -out FILE`` then ``qspec apply FILE`` applies exactly that plan, and
refuses (nothing written) when git or the registry moved since it was saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qspec.registry.testing import client_for

SPECS = (Path(__file__).parent / "specs" / "iris.yaml").read_text().replace(
    "production: {ref: v1.0}", "production: {track: HEAD}")


@pytest.fixture
def workspace(spec_repo):
    return spec_repo({"specs/iris.yaml": SPECS})


def aliases(client, name: str = "iris-classifier") -> dict[str, int]:
    return {a: int(v) for a, v in client.get_registered_model(name).aliases.items()}


def test_plan_out_then_apply_the_file(workspace, run_cli, tmp_path: Path) -> None:
    repo, uri = workspace
    planfile = tmp_path / "plan.json"
    planned = run_cli("plan", "-out", str(planfile))
    assert planned.code == 0, planned.err
    assert f"qspec apply {planfile}" in planned.err
    saved = json.loads(planfile.read_text())
    assert saved["format"] == "qspec-plan" and saved["format_version"] == 1
    assert saved["git"] == {"commit": repo.git("rev-parse", "HEAD"), "dirty": {}, "is_repo": True}
    assert saved["specs"]["paths"] == [] and saved["specs"]["repo_paths"] == ["specs"]  # the default: specs/
    assert saved["registry"]["fingerprint"].startswith("sha256:")
    assert saved["plan"]["counts"]["train"] == 1

    applied = run_cli("apply", str(planfile))  # no prompt, no re-plan
    assert applied.code == 0, applied.err
    assert "Apply complete" in applied.out and "made at commit" in applied.err
    client = client_for(uri)
    assert aliases(client) == {"staging": 1, "production": 1}
    # Applying it again: the registry is no longer what the plan was made from.
    again = run_cli("apply", str(planfile))
    assert again.code == 1 and "error: the registry changed since the plan was saved: plan again" in again.err
    # --long option spelling, and a saved plan with nothing to do.
    assert run_cli("plan", "--out", str(planfile)).code == 0
    nothing = run_cli("apply", str(planfile))
    assert nothing.code == 0 and "No changes" in nothing.out


def test_a_saved_plan_is_refused_after_a_new_commit(workspace, run_cli, tmp_path: Path) -> None:
    repo, uri = workspace
    planfile = tmp_path / "plan.json"
    assert run_cli("plan", "-out", str(planfile)).code == 0
    repo.write("specs/iris.yaml", SPECS.replace("maxiter: 8", "maxiter: 9"))
    repo.commit("train longer")
    refused = run_cli("apply", str(planfile))
    assert refused.code == 1
    assert "error: git moved since the plan was saved" in refused.err and "hint: make the plan again" in refused.err
    assert client_for(uri).search_registered_models() == []  # nothing written


def test_a_saved_plan_is_refused_after_an_alias_moved_by_hand(workspace, run_cli, tmp_path: Path) -> None:
    repo, uri = workspace
    client = client_for(uri)
    assert run_cli("apply", "--auto-approve").code == 0
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n---", "seed: 2}\n---", 1))
    repo.commit("another start")
    assert run_cli("apply", "--auto-approve").code == 0
    assert aliases(client) == {"staging": 2, "production": 2}
    repo.write("specs/iris.yaml", SPECS.replace("seed: 1}\n---", "seed: 3}\n---", 1))
    repo.commit("a third start")
    planfile = tmp_path / "plan.json"
    assert run_cli("plan", "-out", str(planfile)).code == 0
    client.set_registered_model_alias("iris-classifier", "production", "1")  # a person rolls production back
    refused = run_cli("apply", str(planfile))
    assert refused.code == 1 and "the registry changed since the plan was saved" in refused.err
    assert len(client.search_model_versions("name = 'iris-classifier'")) == 2  # nothing trained or registered
    assert aliases(client) == {"staging": 2, "production": 1}


def test_a_saved_plan_is_refused_when_the_work_tree_changed(workspace, run_cli, tmp_path: Path) -> None:
    repo, _ = workspace
    planfile = tmp_path / "plan.json"
    repo.write("specs/iris.yaml", SPECS.replace("maxiter: 8", "maxiter: 9"))
    assert run_cli("plan", "-out", str(planfile)).code == 0
    assert json.loads(planfile.read_text())["git"]["dirty"].keys() == {"specs/iris.yaml"}
    repo.write("specs/iris.yaml", SPECS.replace("maxiter: 8", "maxiter: 10"))
    changed = run_cli("apply", str(planfile), "--allow-dirty")
    assert changed.code == 1 and "uncommitted spec changes are not the ones the plan was made from" in changed.err
    repo.write("specs/iris.yaml", SPECS.replace("maxiter: 8", "maxiter: 9"))
    dirty = run_cli("apply", str(planfile))
    assert dirty.code == 1 and "uncommitted spec changes: specs/iris.yaml" in dirty.err


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "is not a qspec plan (not JSON"),
    ('{"format": "terraform"}', "is not a qspec plan"),
    ('{"format": "qspec-plan", "format_version": 0, "qspec_version": "0.0.1"}',
     "was saved in plan format 0 by qspec 0.0.1"),
    ('{"format": "qspec-plan", "format_version": 1, "plan": {}}', "is damaged: KeyError"),
])
def test_a_file_that_is_not_a_plan_is_a_clear_error(workspace, run_cli, tmp_path: Path, content: str,
                                                    message: str) -> None:
    planfile = tmp_path / "plan.json"
    planfile.write_text(content)
    result = run_cli("apply", str(planfile))
    assert result.code == 1 and message in result.err and "Traceback" not in result.err
    assert "hint:" in result.err


def test_options_a_saved_plan_fixes_are_refused(workspace, run_cli, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    assert run_cli("plan", "-out", str(planfile)).code == 0
    result = run_cli("apply", str(planfile), "--prune", "--only", "iris-vqc")
    assert result.code == 1 and "the saved plan already fixes --only, --prune" in result.err
    missing = run_cli("apply", str(tmp_path / "nope.json"))
    assert missing.code == 1 and "cannot read the plan" in missing.err
