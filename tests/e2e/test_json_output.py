"""Machine-readable output is only that: every ``--format json`` command, run as a process against a
real ``mlflow server``, writes one JSON document to stdout and nothing else (issue 13).

MLflow prints "View run ... at: http://..." to stdout when a run against a server ends; library
chatter of any kind goes to stderr or nowhere, so ``qspec apply --format json | jq`` works.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import clean_env

pytestmark = pytest.mark.slow

SPECS = (Path(__file__).parent / "specs" / "iris.yaml").read_text().replace(
    "production: {ref: v1.0}", "production: {track: HEAD}")


def qspec(repo: Path, uri: str, *args: str) -> tuple[int, str, str]:
    env = clean_env(MLFLOW_TRACKING_URI=uri, NO_COLOR="1")
    env.pop("QISKIT_IBM_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "qspec.cli.main", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def parsed(out: str, err: str) -> object:
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:
        pytest.fail(f"stdout is not one JSON document ({exc}):\n{out}\n--- stderr ---\n{err}")


class TestJsonOutputIsJson:
    def test_every_json_command_writes_only_json_to_stdout(self, git_repo, server) -> None:
        git_repo.write(".gitignore", ".qspec/\nplan.json\n")
        git_repo.write("specs/iris.yaml", SPECS)
        git_repo.commit("specs")
        repo = git_repo.path
        steps = [
            (("validate", "--format", "json"), 0, lambda d: d["valid"] is True),
            (("plan", "--format", "json"), 0, lambda d: d["counts"]["train"] == 1),
            (("apply", "--dry-run", "--format", "json"), 0, lambda d: d["counts"]["train"] == 1),
            (("apply", "--auto-approve", "--format", "json"), 0, lambda d: d["ok"] is True),
            (("apply", "--auto-approve", "--format", "json"), 0, lambda d: d["ok"] is True),
            (("status", "--format", "json"), 0, lambda d: d["in_sync"] is True),
            (("plan", "--format", "json", "--detailed-exitcode"), 0, lambda d: d["items"] == []),
            (("schema",), 0, lambda d: "$defs" in d or "properties" in d or "oneOf" in d or "anyOf" in d),
        ]
        for args, code, check in steps:
            got, out, err = qspec(repo, server, *args)
            assert got == code, (args, out, err)
            data = parsed(out, err)
            assert check(data), (args, data)
            assert "View run" not in out and "View experiment" not in out, args

        # A training that fails, and invalid specs: still JSON on stdout, the errors on stderr.
        git_repo.write("specs/iris.yaml", SPECS.replace("maxiter: 8}", "maxiter: 9}").replace(
            "backend: {target: aer, shots: null, seed: 1}", "backend: {target: 'ibm:ibm_torino', shots: 100}"))
        git_repo.commit("to hardware, without an account")
        got, out, err = qspec(repo, server, "apply", "--auto-approve", "--format", "json")
        assert got == 1 and "blocked" in err
        assert isinstance(parsed(out, err), dict)
        git_repo.write("specs/iris.yaml", SPECS.replace("qubits: 4", "qubits: -4"))
        got, out, err = qspec(repo, server, "validate", "--format", "json")
        assert got == 1 and parsed(out, err)["valid"] is False  # type: ignore[index]
