"""``ref:`` stages resolved in a real temporary git repository (``qspec.gitrepo.RefResolver``), end to
end with apply on the in-memory registry: an edited spec moves staging, production pinned to a tag stays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qspec.apply import apply
from qspec.gitrepo import GitRepo, RefResolver
from qspec.plan import Action, desired_state, diff
from qspec.registry import MemoryRegistry
from qspec.registry.memory import FakeTrainer
from qspec.spec import load_specs

EXAMPLES = Path(__file__).resolve().parents[2] / "specs"


def iris(maxiter: int) -> str:
    text = (EXAMPLES / "iris.yaml").read_text()
    return text.replace("production: {track: HEAD}", "production: {ref: v1.0}").replace(
        "maxiter: 60", f"maxiter: {maxiter}")


def plan_at(repo: Any, registry: MemoryRegistry) -> Any:
    specs = load_specs([repo.path / "specs"], root=repo.path)
    git = GitRepo.open(repo.path)
    assert git is not None
    return desired_state(specs, resolve_ref=RefResolver(git, ["specs"]),
                         git_commit=repo.git("rev-parse", "HEAD")), specs


def test_ref_stage_pins_the_spec_at_a_tag(git_repo: Any) -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry)

    git_repo.write("specs/iris.yaml", iris(60))
    git_repo.commit("v1")
    git_repo.git("tag", "v1.0")
    state, specs = plan_at(git_repo, registry)
    v1_hash = specs.experiments["iris-vqc"].hash
    model = state.models["iris-classifier"]
    assert model.stages["production"].spec_hash == v1_hash == model.head_hash
    assert apply(diff(state, registry.snapshot()), registry, trainer).ok
    assert registry.models["iris-classifier"].aliases == {"staging": 1, "production": 1}

    git_repo.write("specs/iris.yaml", iris(80))
    commit = git_repo.commit("more iterations")
    state, specs = plan_at(git_repo, registry)
    plan = diff(state, registry.snapshot())
    assert [(i.action, i.subject) for i in plan.items] == [
        (Action.TRAIN, f"iris-vqc#{specs.experiments['iris-vqc'].hash[:12]}"),
        (Action.REGISTER, "iris-classifier"),
        (Action.MOVE_ALIAS, "iris-classifier@staging"),
    ]
    assert plan.items[0].git_commit == commit and plan.items[0].rev is None
    assert apply(plan, registry, trainer).ok
    assert registry.models["iris-classifier"].aliases == {"staging": 2, "production": 1}
    assert len(trainer.requests) == 2


def test_a_tag_that_does_not_exist_blocks_only_its_stage(git_repo: Any) -> None:
    git_repo.write("specs/iris.yaml", iris(60).replace("ref: v1.0", "ref: v9.9"))
    git_repo.commit()
    state, _ = plan_at(git_repo, MemoryRegistry())
    plan = diff(state, MemoryRegistry().snapshot())
    blocked = plan.by_action(Action.BLOCKED)
    assert [i.subject for i in blocked] == ["iris-classifier@production"]
    assert "ref v9.9: git revision 'v9.9' does not resolve" in blocked[0].reason
    assert [i.action for i in plan.items if i.alias == "staging"] == [Action.SET_ALIAS]


def test_a_ref_from_before_the_experiment_existed_blocks(git_repo: Any) -> None:
    git_repo.write("specs/other.yaml", (EXAMPLES / "h2-vqe.yaml").read_text())
    git_repo.commit("h2 only")
    git_repo.git("tag", "v0")
    git_repo.write("specs/iris.yaml", iris(60).replace("ref: v1.0", "ref: v0"))
    git_repo.commit()
    state, _ = plan_at(git_repo, MemoryRegistry())
    stage = state.models["iris-classifier"].stages["production"]
    assert "does not resolve to a revision that declares Experiment 'iris-vqc'" in (stage.error or "")
