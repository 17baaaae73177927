"""One training per spec hash at a time, across processes: real applies racing on a real ``mlflow server``.

Three ``qspec apply`` processes start at the same moment after one spec change, against one
``mlflow server`` on 127.0.0.1 (the only state they share, as CI runners do): one takes the
hash's claim and trains, the others wait for it and register its run. Then a holder is killed
mid-training while another apply waits: the waiter takes over (the holder's process is gone) and
trains. Nothing here is mocked; the lease is shortened through ``QSPEC_CLAIM_LEASE_SECONDS``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qspec import tags as tag
from qspec.apply.ports import ClaimInfo
from qspec.registry.testing import client_for
from tests.servers import clean_env

pytestmark = pytest.mark.slow

SPECS = (Path(__file__).parent / "specs" / "iris.yaml").read_text().replace(
    "production: {ref: v1.0}", "production: {track: HEAD}")
#: The spec change: a longer training (still a few seconds), so that the racers overlap it.
CHANGED = SPECS.replace("maxiter: 8}", "maxiter: 40}")
MODEL = "iris-classifier"


def qspec(repo: Path, uri: str, *args: str, crash_at: str | None = None) -> subprocess.Popen[str]:
    env = clean_env(MLFLOW_TRACKING_URI=uri, NO_COLOR="1", QSPEC_CLAIM_LEASE_SECONDS="10")
    env.pop("QSPEC_CRASH_AT", None)
    if crash_at is not None:
        env["QSPEC_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, "-m", "qspec.cli.main", *args], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=180)
    return process.returncode, out, err


def runs_by_hash(uri: str) -> dict[str, list[str]]:
    client = client_for(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    found: dict[str, list[str]] = {}
    for run in client.search_runs(ids, max_results=1000):
        found.setdefault(run.data.tags.get(tag.SPEC_HASH, ""), []).append(run.info.status)
    return {h: sorted(s) for h, s in found.items()}


def registry_state(uri: str) -> tuple[list[tuple[int, str]], dict[str, int], list[str]]:
    client = client_for(uri)
    found = client.search_model_versions(f"name = '{MODEL}'")
    versions = sorted((int(v.version), v.tags[tag.SPEC_HASH]) for v in found)
    aliases = {a: int(v) for a, v in client.get_registered_model(MODEL).aliases.items()}
    claims = [m.name for m in client.search_registered_models() if tag.is_claim_model(m.name)]
    return versions, aliases, claims


def commit(repo: Path, text: str, message: str) -> None:
    (repo / "specs").mkdir(exist_ok=True)
    (repo / "specs" / "iris.yaml").write_text(text)
    (repo / ".gitignore").write_text(".qspec/\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, check=True)


def test_claims_over_http_refuse_a_second_creator(server: str) -> None:
    from qspec.registry.mlflow import MlflowRegistry

    registry = MlflowRegistry(client_for(server))
    spec_hash = "f" * 64
    assert registry.create_claim(ClaimInfo(spec_hash, 1, "a", time.time() + 60)) is True
    assert registry.create_claim(ClaimInfo(spec_hash, 1, "b", time.time() + 60)) is False
    assert [c.holder for c in registry.claims_for(spec_hash)] == ["a"]
    registry.delete_claim(spec_hash, 1)
    assert registry.claims_for(spec_hash) == []


def test_three_applies_at_once_train_the_changed_spec_once(server: str, git_repo, tmp_path: Path) -> None:
    repo = git_repo.path
    commit(repo, SPECS, "first spec")
    code, out, err = finish(qspec(repo, server, "apply", "--auto-approve"))
    assert code == 0, err
    (first_hash,) = runs_by_hash(server)

    commit(repo, CHANGED, "train longer")
    racers = [qspec(repo, server, "apply", "--auto-approve") for _ in range(3)]
    results = [finish(p) for p in racers]
    assert [code for code, _, _ in results] == [0, 0, 0], results

    runs = runs_by_hash(server)
    (new_hash,) = set(runs) - {first_hash}
    assert runs[new_hash] == ["FINISHED"]  # trained once
    assert all("FAILED" not in statuses for statuses in runs.values())  # no live run marked FAILED
    outs = "\n".join(out + err for _, out, err in results)
    assert sum("✓ done     train" in out for _, out, _ in results) == 1, outs
    # The others used its run; under heavy load one may start so late that its plan has nothing to train.
    assert 1 <= sum("trained by another apply" in out for _, out, _ in results) <= 2, outs

    versions, aliases, claims = registry_state(server)
    assert [h for _, h in versions] == [first_hash, new_hash]  # one version per hash
    assert aliases == {"staging": 2, "production": 2}
    assert claims == []  # released
    code, out, err = finish(qspec(repo, server, "status", "--check"))
    assert code == 0, out + err


def test_a_run_is_dead_only_when_its_lease_expired(server: str, git_repo) -> None:
    """A holder killed mid-training on another machine (its process cannot be checked from here):
    the next apply waits until the lease runs out, then marks the run FAILED and trains."""
    repo = git_repo.path
    spec = SPECS.replace("iris-vqc", "iris-lease").replace("iris-classifier", "iris-lease-model")
    commit(repo, spec.replace("maxiter: 8}, seed: 1}", "maxiter: 8}, seed: 3}"), "a spec of its own hash")
    code, _, _ = finish(qspec(repo, server, "apply", "--auto-approve", crash_at="training"))
    assert code == -signal.SIGKILL
    client = client_for(server)
    (claim,) = [m.name for m in client.search_registered_models() if tag.is_claim_model(m.name)]
    client.set_registered_model_tag(claim, tag.CLAIM_PROCESS, "")  # as if held on another machine
    client.set_registered_model_tag(claim, tag.CLAIM_EXPIRES, f"{time.time() + 3600:.3f}")

    # The next apply waits while the lease holds (however long it takes to start on a busy machine);
    # once it says so, the lease runs out, and only then is the run dead.
    waiter = qspec(repo, server, "apply", "--auto-approve")
    assert waiter.stderr is not None
    seen: list[str] = []
    for line in waiter.stderr:
        seen.append(line)
        if "waiting for iris-lease#" in line:
            break
    assert "another apply is training it" in "".join(seen), "".join(seen)
    client.set_registered_model_tag(claim, tag.CLAIM_EXPIRES, f"{time.time() - 1:.3f}")
    code, out, rest = finish(waiter)
    err = "".join(seen) + rest
    assert code == 0, err
    assert "was left RUNNING by a dead apply (its claim expired): marked FAILED" in out, out
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string="tags.`qspec.spec_name` = 'iris-lease'", max_results=100)
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
    assert {a: int(v) for a, v in client.get_registered_model("iris-lease-model").aliases.items()} == {
        "staging": 1, "production": 1}
    assert not any(tag.is_claim_model(m.name) for m in client.search_registered_models())
