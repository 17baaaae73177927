"""Apply writes a stage's serving as the ``qspec.serving.<stage>`` tag, and removes it, without training."""

from __future__ import annotations

from qspec import tags as tag
from qspec.apply import Status, apply
from qspec.plan import Action, Plan, PlanItem, Reason, diff
from qspec.plan.testing import desired, model
from qspec.registry import MemoryRegistry
from qspec.registry.memory import FakeTrainer
from tests.plan.test_serving_plan import LARGER, SMALL, served


def test_apply_writes_and_removes_the_tag_without_training() -> None:
    registry = MemoryRegistry()
    trainer = FakeTrainer(registry)
    first = desired(model(stages=[served(SMALL)]))
    apply(diff(first, registry.snapshot()), registry, trainer)
    assert registry.models["m"].tags[tag.serving_record("staging")] == SMALL
    assert len(trainer.requests) == 1
    changed = desired(model(stages=[served(LARGER)]))
    result = apply(diff(changed, registry.snapshot()), registry, trainer)
    assert [o.status for o in result.outcomes] == [Status.DONE]
    assert registry.models["m"].tags[tag.serving_record("staging")] == LARGER
    assert len(trainer.requests) == 1  # no retraining
    assert diff(changed, registry.snapshot()).items == ()
    removed = desired(model(stages=[served(None)]))
    apply(diff(removed, registry.snapshot()), registry, trainer)
    assert tag.serving_record("staging") not in registry.models["m"].tags
    again = apply(Plan((PlanItem(Action.UPDATE_SERVING, "m@staging", model="m", alias="staging",
                                 code=Reason.SERVING_REMOVED),)), registry, trainer)
    assert [o.status for o in again.outcomes] == [Status.SKIPPED]
