"""GitHub-aware output: with ``GITHUB_ACTIONS=true``, plan, apply and status write the job summary,
the step outputs and annotations, fold long logs, and never write a credential.

The runner's files (``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY``, ``$RUNNER_TEMP``) are temp files
here and the event is a sample pull_request payload (``events/pull_request.json``); the CLI runs
in-process on a real git repository and a real SQLite MLflow store.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from qspec.cli import github
from qspec.registry.testing import client_for

EVENTS = Path(__file__).parent / "events"
IRIS = (Path(__file__).parents[1] / "e2e" / "specs" / "iris.yaml").read_text().replace(
    "production: {ref: v1.0}", "production: {track: HEAD}")


class Runner:
    """The files a GitHub runner gives a step, in a temp folder."""

    def __init__(self, base: Path) -> None:
        self.base = base
        base.mkdir(parents=True)
        self.output = base / "github_output"
        self.summary = base / "step_summary"
        self.temp = base / "runner_temp"
        self.temp.mkdir()
        self.output.touch()
        self.summary.touch()

    def outputs(self) -> dict[str, str]:
        """``$GITHUB_OUTPUT`` parsed as the runner parses it (name=value, name<<DELIM ... DELIM); the
        last value of a name wins."""
        lines = self.output.read_text().splitlines()
        found: dict[str, str] = {}
        i = 0
        while i < len(lines):
            line = lines[i]
            if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
                name, delimiter = line.split("<<", 1)
                end = lines.index(delimiter, i + 1)
                found[name] = "\n".join(lines[i + 1:end])
                i = end + 1
                continue
            name, _, value = line.partition("=")
            found[name] = value
            i += 1
        return found

    def take_outputs(self) -> dict[str, str]:
        found = self.outputs()
        self.output.write_text("")
        return found


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    box = Runner(tmp_path / "runner")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(box.output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(box.summary))
    monkeypatch.setenv("RUNNER_TEMP", str(box.temp))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(EVENTS / "pull_request.json"))
    monkeypatch.setenv("GITHUB_SHA", "4f1c2b7e9d0a3c5b6e8f1a2d3c4b5a6978e9f0a1")
    monkeypatch.setenv("NO_COLOR", "1")
    for name in github.SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return box


@pytest.fixture
def iris(spec_repo: Any) -> tuple[Any, str]:
    return spec_repo({"specs/iris.yaml": IRIS})


def test_plan_writes_the_summary_the_outputs_and_the_plan_files(iris: Any, runner: Runner, run_cli: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as outside:
        outside.delenv("GITHUB_ACTIONS")
        plain = run_cli("plan", "--format", "json")
    result = run_cli("plan", "--format", "json")
    assert result.code == 0, result.err
    assert result.out == plain.out  # stdout is the command's output, with or without GitHub
    assert "::" not in result.out

    out = runner.outputs()
    assert out["changes"] == "true" and out["in-sync"] == "false" and out["blocked"] == "0"
    trainings = json.loads(out["trainings"])
    assert "\n" not in out["trainings"]  # one line: fromJSON() of a matrix reads it as is
    (training,) = trainings
    assert training["experiment"] == "iris-vqc" and len(training["spec_hash"]) == 64
    assert training["only"] == training["subject"] == f"iris-vqc#{training['spec_hash'][:12]}"
    assert training["estimate"]["circuits"] > 0
    plan_json = json.loads(Path(out["plan-json"]).read_text())
    assert plan_json == json.loads(plain.out)  # the file is plan --format json
    assert plan_json["trainings"] == trainings
    assert Path(out["plan-json"]).parent == runner.temp / "qspec"

    markdown = Path(out["plan-markdown"]).read_text()
    summary = runner.summary.read_text()
    assert markdown.startswith(github.MARKER + "\n")  # the PR comment's marker
    assert summary.strip() == markdown.strip()
    assert "### qspec plan for #7 (train-longer -> main)" in summary  # from the event payload
    assert "**Plan: 1 to train, 1 to register, 3 to change, 0 to delete.**" in summary
    assert f"| `iris-vqc` | `{training['spec_hash'][:12]}` |" in summary


def test_a_blocked_action_is_an_output_and_a_warning_annotation(spec_repo: Any, runner: Runner,
                                                                run_cli: Any) -> None:
    spec_repo({"specs/iris.yaml": IRIS.replace("seed: 1}\n---", "seed: 1}\n  budget: {max_shots: 10}\n---")
              .replace("shots: null", "shots: 100")})
    result = run_cli("plan")
    assert result.code == 0, result.err
    assert runner.outputs()["blocked"] != "0"
    assert re.search(r"^::warning title=qspec plan%3A blocked::iris-vqc#[0-9a-f]{12}: .*budget", result.err, re.M), \
        result.err
    assert runner.outputs()["trainings"] == "[]"  # a blocked training is not fanned out


def test_spec_errors_become_annotations_on_their_file_and_line(spec_repo: Any, runner: Runner, run_cli: Any) -> None:
    spec_repo({"specs/iris.yaml": IRIS.replace("shots: null", "shots: -5")})
    line = next(i for i, text in enumerate(IRIS.splitlines(), 1) if "shots: null" in text)
    model_line = next(i for i, text in enumerate(IRIS.splitlines(), 1) if "experiment: iris-vqc" in text)
    for command in (["plan"], ["apply", "--auto-approve"], ["validate"]):
        result = run_cli(*command)
        assert result.code == 1
        annotations = [x for x in result.err.splitlines() if x.startswith("::error")]
        assert annotations[0] == (f"::error file=specs/iris.yaml,line={line},title=qspec::spec.backend.shots: "
                                  "input should be greater than or equal to 1, got -5 (hint: 1 to 1,000,000 "
                                  "shots per circuit, or null for exact expectation values)"), (command, result.err)
        # The Model naming the invalid Experiment is not a second problem: the Experiment's own says what.
        assert len(annotations) == 1 and f"line={model_line}," not in result.err
        assert "error: specs/iris.yaml" in result.err  # the human form too
    # validate --format github writes its annotations on stdout, and only once.
    own = run_cli("validate", "--format", "github")
    assert own.code == 1 and own.out.count("::error") == 1 and "::error" not in own.err
    assert runner.outputs() == {}  # nothing was planned


def test_credentials_never_reach_the_log_the_summary_or_the_outputs(iris: Any, runner: Runner, run_cli: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the server below refuses at once
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-0123456789")
    uri = "http://ci:s3cr%40t-pw@127.0.0.1:9/"  # port 9 (discard): nothing listens
    result = run_cli("plan", "--tracking-uri", uri)
    assert result.code == 1
    masks = [x for x in result.err.splitlines() if x.startswith("::add-mask::")]
    # The runner unescapes command data (%25 -> %): these mask the password as given, decoded, and the token.
    assert set(masks) == {"::add-mask::s3cr%2540t-pw", "::add-mask::s3cr@t-pw", "::add-mask::tok-0123456789"}
    rest = "\n".join(x for x in result.err.splitlines() if not x.startswith("::add-mask::"))
    assert "127.0.0.1:9" in rest  # the error is told ...
    for secret in ("s3cr%40t-pw", "s3cr@t-pw", "tok-0123456789"):
        assert secret not in rest and secret not in result.out  # ... without the secret
    assert re.search(r"^::error title=qspec::.*http://ci:\*\*\*@127\.0\.0\.1:9", rest, re.M), rest
    assert runner.summary.read_text() == "" and runner.outputs() == {}


def test_scrub_hides_secrets_and_uri_credentials_anywhere_in_a_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://qspec:hunter2%21@db.internal:5432/mlflow")
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "ibm-abcdef")
    hidden = github.secrets(["https://tok-zzz@mlflow.example/?access_token=qq-123"])
    assert set(hidden) >= {"hunter2%21", "hunter2!", "ibm-abcdef", "tok-zzz", "qq-123"}
    text = ("could not reach postgresql://qspec:hunter2%21@db.internal:5432/mlflow (password hunter2!), "
            "nor https://tok-zzz@mlflow.example/?access_token=qq-123; token ibm-abcdef")
    clean = github.scrub(text, hidden)
    for secret in ("hunter2", "tok-zzz", "qq-123", "ibm-abcdef"):
        assert secret not in clean
    assert "postgresql://qspec:***@db.internal:5432/mlflow" in clean


def test_step_outputs_with_several_lines_use_a_delimiter(runner: Runner) -> None:
    github.set_outputs({"one": "a=b", "many": "line 1\nline 2"})
    assert runner.outputs() == {"one": "a=b", "many": "line 1\nline 2"}


def test_apply_writes_what_it_did_groups_its_log_and_sets_outputs(iris: Any, runner: Runner, run_cli: Any) -> None:
    result = run_cli("apply", "--auto-approve")
    assert result.code == 0, result.err
    out = runner.take_outputs()
    assert out["changes"] == "true" and out["failed"] == "0" and out["blocked"] == "0"
    (trained,) = json.loads(out["trained"])
    assert json.loads(out["trainings"])[0]["spec_hash"] == trained
    assert json.loads(Path(out["plan-json"]).read_text())["counts"]["train"] == 1
    summary = runner.summary.read_text()
    assert "### qspec apply for #7 (train-longer -> main)" in summary
    assert re.search(r"^\| done \| train \| `iris-vqc#[0-9a-f]{12}` \| run [0-9a-f]+ finished \|$", summary, re.M)
    assert "| done | set-alias | `iris-classifier@production` | @production v1 |" in summary
    assert "Apply complete: 5 done" in summary
    groups = [x for x in result.err.splitlines() if x.startswith("::group::") or x == "::endgroup::"]
    assert groups == ["::group::qspec apply: the plan (5 items)", "::endgroup::",
                      "::group::qspec apply: training and registry changes", "::endgroup::"]
    # Applied again: no changes.
    again = run_cli("apply", "--auto-approve")
    assert again.code == 0
    assert runner.take_outputs()["changes"] == "false"
    status = run_cli("status", "--check")
    assert status.code == 0
    assert runner.take_outputs() == {"in-sync": "true"}
    assert "### qspec status for #7" in runner.summary.read_text()


def test_a_failed_gate_in_apply_is_an_annotation_and_an_output(spec_repo: Any, runner: Runner, run_cli: Any) -> None:
    spec_repo({"specs/iris.yaml": IRIS.replace("production: {test_accuracy: {min: 0.5}}",
                                               "production: {test_accuracy: {min: 1.01}}")})
    result = run_cli("apply", "--auto-approve")
    assert result.code == 1  # an item stayed blocked
    assert runner.outputs()["blocked"] == "1"
    assert re.search(r"^::warning title=qspec apply%3A blocked::iris-classifier@production: .*gate", result.err, re.M)


def test_nothing_github_outside_github_actions(iris: Any, run_cli: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    output, summary = tmp_path / "out", tmp_path / "sum"
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))  # set, but this is not a GitHub runner
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run_cli("plan")
    assert result.code == 0 and "::" not in result.err
    assert not output.exists() and not summary.exists()


# --- --train-only ------------------------------------------------------------------------------------


def test_train_only_trains_and_records_and_a_final_apply_registers(iris: Any, run_cli: Any) -> None:
    _, uri = iris
    plan = json.loads(run_cli("plan", "--format", "json").out)
    (training,) = plan["trainings"]
    result = run_cli("apply", "--only", training["only"], "--train-only")
    assert result.code == 0, result.err
    assert "+ train" in result.out and "create-model" not in result.out and "set-alias" not in result.out
    assert "Apply complete: 1 done" in result.out
    client = client_for(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [(r.info.status, r.data.tags["qspec.spec_hash"]) for r in runs] == [("FINISHED", training["spec_hash"])]
    assert [m.name for m in client.search_registered_models()] == []  # nothing registered, no claim left

    assert run_cli("apply", "--only", training["only"], "--train-only").out.startswith("No changes")
    final = run_cli("apply", "--auto-approve")
    assert final.code == 0, final.err
    assert "train" not in final.out.split("Plan:")[0]  # nothing left to train
    assert "registered v1 from run " + runs[0].info.run_id in final.out
    assert run_cli("status", "--check").code == 0


def test_only_takes_a_training_subject_and_refuses_other_shapes(iris: Any, run_cli: Any) -> None:
    bad = run_cli("plan", "--only", "iris-vqc#XYZ")
    assert bad.code == 1 and "not NAME or NAME#SPEC_HASH" in bad.err
    other = run_cli("plan", "--format", "json", "--only", "iris-vqc#" + "0" * 12)
    assert other.code == 0 and json.loads(other.out)["items"] == []  # no such training
    full = json.loads(run_cli("plan", "--format", "json").out)
    one = json.loads(run_cli("plan", "--format", "json", "--only", full["trainings"][0]["only"]).out)
    assert {i["action"] for i in one["items"]} == {"create-model", "train", "register", "set-alias"}
    pruned = run_cli("apply", "--train-only", "--prune")
    assert pruned.code == 1 and "--train-only trains and records runs" in pruned.err
    assert run_cli("plan", "-out", "plan.json").code == 0
    saved = run_cli("apply", "plan.json", "--train-only")
    assert saved.code == 1 and "--train-only" in saved.err
