"""``qspec.api.wiring``: the workspace found once per command, and the tracked trainer that joins a
TRAIN item to the engine and to tracking (a real SQLite store and a real Aer training here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qspec import tags as tag
from qspec.api.wiring import Workspace, connect_registry, tracked_trainer
from qspec.apply import TrainRequest, apply
from qspec.errors import ApplyError, SourceError
from qspec.plan import desired_state, diff
from tests.conftest import example_text

EXAMPLES = Path(__file__).resolve().parents[2] / "specs"


def test_refuses_a_spec_that_changed_since_the_plan(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "iris.yaml").write_text(example_text("iris.yaml"))
    workspace = Workspace.open(["specs"], root=tmp_path)
    specs = workspace.load()
    trainer = tracked_trainer(workspace, specs, tracking=None, registry=None)  # type: ignore[arg-type]
    with pytest.raises(ApplyError, match="no longer spec 000000000000"):
        trainer(TrainRequest("iris-vqc", "0" * 64))
    with pytest.raises(ApplyError, match="outside a git repository"):
        trainer(TrainRequest("iris-vqc", specs.experiments["iris-vqc"].hash, rev="v1.0"))


def test_workspace_finds_the_repository_once(spec_repo: Any) -> None:
    repo, _ = spec_repo({"specs/h2.yaml": example_text("h2-vqe.yaml")})
    workspace = Workspace.open(["specs"])
    assert workspace.root == repo.path.resolve() and workspace.paths == ("specs",)
    specs = workspace.load()
    assert workspace.git_state(specs).commit == repo.git("rev-parse", "HEAD")
    assert workspace.resolver is workspace.resolver  # one resolver (and one git.Repo) per command
    repo.write("specs/h2.yaml", example_text("h2-vqe.yaml") + "\n# edited\n")
    assert workspace.git_state(specs).dirty == ("specs/h2.yaml",)


def test_rev_outside_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    with pytest.raises(SourceError, match="not a git repository"):
        Workspace.open(["specs"], rev="HEAD", root=tmp_path)


def test_trains_the_planned_spec_in_a_tracked_run(spec_repo: Any) -> None:
    repo, uri = spec_repo({"specs/h2.yaml": example_text("h2-vqe.yaml")})
    workspace = Workspace.open(["specs"])
    specs = workspace.load()
    tracking, registry = connect_registry(uri, workspace.root)
    seen: list[int] = []
    trainer = tracked_trainer(workspace, specs, tracking=tracking, registry=registry, git_dirty=True,
                              progress=lambda request, record: seen.append(record.iteration))
    commit = repo.git("rev-parse", "HEAD")
    result = apply(diff(desired_state(specs, git_commit=commit), registry.snapshot()), registry, trainer)
    assert result.ok, result.failed
    (run,) = registry.snapshot().runs
    assert run.finished and run.spec_hash == specs.experiments["h2-vqe"].hash
    assert run.tags[tag.GIT_COMMIT] == commit and run.tags[tag.GIT_DIRTY] == "true"
    assert seen and seen == sorted(seen)
    assert "energy" in run.metrics


@pytest.mark.parametrize(("text", "expected"), [("8GiB", 8 * 2**30), ("512M", 512 * 2**20), ("1.5 GB", 1_500_000_000),
                                                ("4096", 4096)])
def test_memory_sizes_parse(text: str, expected: int) -> None:
    from qspec.api.wiring import parse_memory

    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "3 parsecs"])
def test_bad_memory_sizes_are_errors(text: str) -> None:
    from qspec.api.wiring import parse_memory
    from qspec.errors import QspecError

    with pytest.raises(QspecError, match="is not a memory size"):
        parse_memory(text)


def test_the_default_memory_budget_is_a_share_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from qspec.api.wiring import memory_budget

    monkeypatch.delenv("QSPEC_MAX_MEMORY", raising=False)
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert memory_budget() == int(0.8 * physical)
    monkeypatch.setenv("QSPEC_MAX_MEMORY", "2GiB")
    assert memory_budget() == 2 * 2**30 and memory_budget("1GiB") == 2**30


def test_validating_the_work_tree_opens_no_git(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "h2.yaml").write_text(example_text("h2-vqe.yaml"))
    code = ("import sys; from qspec import api; api.validate(['specs']); "
            "print([m for m in ('git', 'mlflow', 'qiskit', 'sklearn') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
