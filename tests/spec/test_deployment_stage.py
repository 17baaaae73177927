"""``SpecSet.deployment_stage``: the Deployment and stage ``qspec monitor``, ``render`` and ``serve``
address, the default stage, and the errors for a name or stage that is not declared."""

from __future__ import annotations

from pathlib import Path

import pytest

from qspec.errors import QspecError
from qspec.spec.load import load_specs

REPO = Path(__file__).resolve().parents[2]

# Two more Deployments of the example's iris-classifier, on stages of their own.
MORE = """
---
apiVersion: qspec/v1
kind: Deployment
metadata: {name: only}
spec: {model: iris-classifier, stages: {canary: {track: HEAD}}}
---
apiVersion: qspec/v1
kind: Deployment
metadata: {name: several}
spec: {model: iris-classifier, stages: {blue: {track: HEAD}, green: {track: HEAD}}}
"""


@pytest.fixture
def specs(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "specs").mkdir()
    text = (REPO / "specs" / "iris.yaml").read_text(encoding="utf-8")
    (tmp_path / "specs" / "d.yaml").write_text(text + MORE, encoding="utf-8")
    return load_specs([tmp_path / "specs"], root=tmp_path)


def test_the_default_stage_is_production_else_the_only_one(specs) -> None:  # type: ignore[no-untyped-def]
    assert specs.deployment_stage("iris-classifier")[1] == "production"
    assert specs.deployment_stage("iris-classifier", "staging")[1] == "staging"
    assert specs.deployment_stage("only")[1] == "canary"
    with pytest.raises(QspecError, match="several stages and none is 'production'") as several:
        specs.deployment_stage("several")
    assert several.value.hint == "pass --stage: one of blue, green"


def test_unknown_names_and_stages_say_where_and_suggest(specs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QspecError, match="no Deployment named 'iris-clasifier'") as name:
        specs.deployment_stage("iris-clasifier")
    assert name.value.hint == "did you mean 'iris-classifier'?"
    with pytest.raises(QspecError, match="Deployment 'iris-classifier' has no stage 'producton'") as stage:
        specs.deployment_stage("iris-classifier", "producton")
    assert stage.value.hint == "did you mean 'production'?"
    line = next(i for i, text in enumerate((REPO / "specs" / "iris.yaml").read_text().splitlines(), 1)
                if text.strip() == "stages:")
    assert stage.value.where is not None and stage.value.where.endswith(f"d.yaml:{line}")
    with pytest.raises(QspecError) as far:
        specs.deployment_stage("only", "zzz")
    assert far.value.hint == "its stages: canary"
