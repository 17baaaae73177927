"""Crash safety and races: `qspec apply` killed with SIGKILL, or run twice at once, then re-applied.

Each apply here is a real process against a real SQLite MLflow store and a real git repository.
The kill points are exact (``QSPEC_CRASH_AT``, see qspec/apply/faults.py): mid-training, and
between registering a version and pointing its aliases at it. A training killed mid-way leaves its
claim (``qspec.apply.claims``) behind; its holder is a process of this machine that is gone, so the
next apply takes it over at once instead of waiting for its lease to run out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qspec import tags as tag
from qspec.registry.testing import client_for

pytestmark = pytest.mark.slow

SPECS = (Path(__file__).parent / "specs" / "iris.yaml").read_text()


@pytest.fixture
def workspace(spec_repo):
    return spec_repo({"specs/iris.yaml": SPECS.replace("production: {ref: v1.0}", "production: {track: HEAD}")})


def qspec_apply(repo, uri: str, *, crash_at: str | None = None, wait: bool = True):
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "NO_COLOR": "1"}
    env.pop("QSPEC_CRASH_AT", None)
    if crash_at:
        env["QSPEC_CRASH_AT"] = crash_at
    command = [sys.executable, "-m", "qspec.cli.main", "apply", "--auto-approve"]
    process = subprocess.Popen(command, cwd=repo.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    if not wait:
        return process
    out, err = process.communicate(timeout=240)
    return process.returncode, out, err


def state(uri: str) -> dict:
    client = client_for(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
    everything = client.search_registered_models()
    models = [m for m in everything if not tag.is_claim_model(m.name)]
    versions = client.search_model_versions("name = 'iris-classifier'") if models else []
    return {
        "claims": sorted(m.name.rsplit(".", 1)[-1] for m in everything if tag.is_claim_model(m.name)),
        "runs": sorted(r.info.status for r in runs),
        "versions": sorted((int(v.version), v.tags.get("qspec.spec_hash", "")[:12]) for v in versions),
        "aliases": ({a: int(v) for a, v in client.get_registered_model("iris-classifier").aliases.items()}
                    if models else {}),
    }


def test_killed_during_training_then_reapplied(workspace) -> None:
    repo, uri = workspace
    code, _, _ = qspec_apply(repo, uri, crash_at="training")
    assert code == -signal.SIGKILL
    assert state(uri)["runs"] == ["RUNNING"]  # the dead run, as a killed process leaves it
    assert state(uri)["versions"] == []
    assert state(uri)["claims"] == ["1"]  # and its claim, whose lease has not run out

    code, out, err = qspec_apply(repo, uri)
    assert code == 0, err
    assert "waiting for" not in err  # the holder's process is gone: its claim is taken over at once
    after = state(uri)
    assert after["runs"] == ["FAILED", "FINISHED"]  # the dead run marked FAILED, the spec retrained
    assert after["claims"] == []  # the takeover's claim released, the dead one's cleaned up
    assert [v for v, _ in after["versions"]] == [1]
    assert after["aliases"] == {"staging": 1, "production": 1}

    code, out, err = qspec_apply(repo, uri)  # and then nothing is left to do
    assert code == 0 and "No changes" in out, err
    assert state(uri) == after


def test_killed_between_registering_and_aliasing_then_reapplied(workspace) -> None:
    repo, uri = workspace
    code, _, _ = qspec_apply(repo, uri, crash_at="registered")
    assert code == -signal.SIGKILL
    crashed = state(uri)
    assert crashed["runs"] == ["FINISHED"] and [v for v, _ in crashed["versions"]] == [1]
    assert crashed["aliases"] == {}

    code, _out, err = qspec_apply(repo, uri)
    assert code == 0, err
    after = state(uri)
    assert after["runs"] == ["FINISHED"]  # nothing retrained
    assert after["versions"] == crashed["versions"]  # nothing registered twice
    assert after["aliases"] == {"staging": 1, "production": 1}


def test_two_applies_at_once_converge_on_one_version_per_hash(workspace) -> None:
    repo, uri = workspace
    first = qspec_apply(repo, uri, wait=False)
    second = qspec_apply(repo, uri, wait=False)
    results = [(*p.communicate(timeout=240), p.returncode) for p in (first, second)]
    assert any(code == 0 for _, _, code in results), results

    code, out, err = qspec_apply(repo, uri)
    assert code == 0, err
    after = state(uri)
    hashes = [h for _, h in after["versions"]]
    assert len(hashes) == len(set(hashes)) == 1, after
    only = after["versions"][0][0]
    assert after["aliases"] == {"staging": only, "production": only}
    assert "FINISHED" in after["runs"]
    code, out, _ = qspec_apply(repo, uri)
    assert code == 0 and "No changes" in out
