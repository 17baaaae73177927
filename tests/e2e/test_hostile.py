"""Hostile input and lost state (issue 13): each defect is a class of its own, driven through the CLI
against a real git repository and a real SQLite MLflow store.

- ``TestDataSourcesAreTrackedFiles``: ``csv:`` reads only a file git tracks, never ``.git/``, never
  an ignored file, never through a symlink out of the repository; nothing of a refused file is printed.
- ``TestQuotedSpecNamesAreDirty``: spec files whose names git quotes (spaces, non-ASCII), edited,
  are uncommitted changes that ``apply`` refuses without ``--allow-dirty``.
- ``TestSecretsAreMasked``: a token in the environment that a library's error quotes appears in no
  output, tag, param or artifact.
- ``TestEmptyDesiredSetIsRefused``: a prune that would remove every alias of a model needs
  ``--allow-empty``.
- ``TestStuckRunsAreClosed``: a managed run left RUNNING by a dead apply is closed even when a
  FINISHED run of its spec exists, and its PENDING logged model with it.

The IBM network errors are in tests/quantum/test_engine_ibm.py, the JSON purity of every command
against a real server in tests/e2e/test_json_output.py (slow tier).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

import pytest

from qspec import tags as tag
from qspec.registry.testing import client_for

SPECS = (Path(__file__).parent / "specs" / "iris.yaml").read_text()
EXPERIMENT, MODEL_AND_DEPLOYMENT = SPECS.split("---\n", 1)
FAKE_TOKEN = "qspec-fake-token-5f3a9c1e7b2d"
SECRET_CELL = "basic c2VjcmV0LWZyb20tZ2l0LWNvbmZpZw"


def csv_spec(path: str) -> str:
    return SPECS.replace("source: sklearn:iris", f"source: csv:{path}")


def leaked(result, *needles: str) -> list[str]:
    return [n for n in needles if n in result.out or n in result.err]


class TestDataSourcesAreTrackedFiles:
    ENV = f"KEY,VALUE\nAUTHORIZATION,{SECRET_CELL}\nUSER,ci\n"

    def test_an_ignored_file_is_refused_and_not_printed(self, spec_repo, run_cli) -> None:
        repo, _ = spec_repo({"specs/iris.yaml": csv_spec(".env"), ".gitignore": ".qspec/\n.env\n"})
        repo.write(".env", self.ENV)
        for args in (("validate",), ("validate", "--format", "json"), ("validate", "--format", "github"),
                     ("plan",)):
            result = run_cli(*args)
            assert result.code == 1, (args, result)
            assert ".env is not tracked by git" in result.out + result.err
            assert "git add .env and commit it" in result.out + result.err
            assert leaked(result, SECRET_CELL, "AUTHORIZATION", "USER") == [], args

    def test_an_untracked_file_is_refused_until_committed(self, spec_repo, run_cli) -> None:
        repo, _ = spec_repo({"specs/iris.yaml": csv_spec("data/iris.csv")})
        repo.write("data/iris.csv", self.ENV)
        result = run_cli("validate")
        assert result.code == 1 and "data/iris.csv is not tracked by git" in result.err
        assert "specs/iris.yaml:7 spec.data.source" in result.err  # where in the spec, as every problem
        repo.commit("add the data")
        result = run_cli("validate")
        # Tracked now: read, and found not to be a data set (the labels are not shown: it never parsed)
        assert "not tracked" not in result.err and leaked(result, SECRET_CELL) == []

    def test_git_config_is_refused_whatever_the_path_spelling(self, spec_repo, run_cli) -> None:
        repo, _ = spec_repo({"specs/iris.yaml": SPECS})
        repo.git("config", "http.extraheader", f"AUTHORIZATION: {SECRET_CELL}")
        for path in (".git/config", "./.git/config", "data/../.git/config"):
            repo.write("specs/iris.yaml", csv_spec(path))
            result = run_cli("validate")
            assert result.code == 1 and "inside .git/" in result.err, (path, result.err)
            assert leaked(result, SECRET_CELL, "extraheader") == [], path

    def test_a_tracked_symlink_to_an_ignored_file_is_refused(self, spec_repo, run_cli) -> None:
        repo, _ = spec_repo({"specs/iris.yaml": csv_spec("data/set.csv"), ".gitignore": ".qspec/\n.env\n"})
        repo.write(".env", self.ENV)
        (repo.path / "data").mkdir()
        os.symlink("../.env", repo.path / "data" / "set.csv")
        repo.commit("a link to the secrets")
        result = run_cli("validate")
        assert result.code == 1 and "data/set.csv (a link to .env) is not tracked by git" in result.err
        assert leaked(result, SECRET_CELL) == []

    def test_a_symlink_into_git_is_refused(self, spec_repo, run_cli) -> None:
        repo, _ = spec_repo({"specs/iris.yaml": csv_spec("data/set.csv")})
        (repo.path / "data").mkdir()
        os.symlink("../.git/config", repo.path / "data" / "set.csv")
        repo.commit("a link into .git")
        result = run_cli("validate")
        assert result.code == 1 and "inside .git/" in result.err

    def test_a_spec_file_linked_from_outside_the_repository_is_refused(self, spec_repo, run_cli,
                                                                        tmp_path) -> None:
        repo, _ = spec_repo({"specs/iris.yaml": SPECS})
        outside = tmp_path / "outside.yaml"
        outside.write_text("apiVersion: qspec/v1\nkind: Experiment\nmetadata: {name: x}\nspec: {}\n")
        os.symlink(outside, repo.path / "specs" / "linked.yaml")
        result = run_cli("validate")
        assert result.code == 1
        assert "specs/linked.yaml is a symlink that leads out of the repository" in result.err

    def test_outside_git_the_tracked_rule_cannot_apply_but_git_dir_still_is_refused(self, tmp_path,
                                                                                    run_cli) -> None:
        folder = tmp_path / "plain"
        (folder / "specs").mkdir(parents=True)
        (folder / "data").mkdir()
        (folder / "data" / "set.csv").write_text("a,label\n1,0\n2,1\n")
        (folder / "specs" / "iris.yaml").write_text(csv_spec("data/set.csv"))
        result = run_cli("validate", "specs", cwd=folder)
        assert "not tracked" not in result.err  # no git to ask: read (and judged as data)
        (folder / "specs" / "iris.yaml").write_text(csv_spec(".git/config"))
        assert "inside .git/" in run_cli("validate", "specs", cwd=folder).err


class TestQuotedSpecNamesAreDirty:
    """``git status`` quotes these names in its plain format; read with ``-z`` they are caught."""

    FILES: ClassVar[dict[str, str]] = {"specs/my spec.yaml": EXPERIMENT, "specs/modèle ünï.yaml": MODEL_AND_DEPLOYMENT}

    @pytest.mark.parametrize("name", sorted(FILES))
    def test_an_edited_spec_with_a_quoted_name_is_refused_by_apply(self, spec_repo, run_cli, name) -> None:
        repo, _ = spec_repo(dict(self.FILES))
        clean = run_cli("plan")
        assert clean.code == 0 and "uncommitted" not in clean.err, clean.err
        repo.write(name, self.FILES[name] + "# edited, not committed\n")
        result = run_cli("apply", "--auto-approve")
        assert result.code == 1
        assert f"uncommitted spec changes: {name}" in result.err
        assert "--allow-dirty" in result.err
        assert "1 uncommitted spec change" in run_cli("plan").err

    def test_a_new_untracked_spec_with_a_quoted_name_is_refused_too(self, spec_repo, run_cli) -> None:
        repo, _ = spec_repo({"specs/iris.yaml": SPECS})
        repo.write("specs/nouvelle expérience.yaml", EXPERIMENT.replace("iris-vqc", "iris-vqc-2"))
        result = run_cli("apply", "--auto-approve")
        assert result.code == 1 and "uncommitted spec changes: specs/nouvelle expérience.yaml" in result.err


class TestSecretsAreMasked:
    """A library error that quotes the IBM token, in a training run: the token is nowhere."""

    IBM = SPECS.replace("backend: {target: aer, shots: null, seed: 1}",
                        "backend: {target: 'ibm:ibm_torino', shots: 100}")

    def test_a_token_quoted_by_a_library_error_appears_nowhere(self, spec_repo, run_cli, monkeypatch) -> None:
        import logging

        import qiskit_ibm_runtime

        class Collect(logging.Handler):  # the runtime's logger has its own handler and does not propagate
            lines: ClassVar[list[str]] = []

            def emit(self, record: logging.LogRecord) -> None:
                self.lines.append(self.format(record))

        runtime_log = logging.getLogger("qiskit_ibm_runtime")
        monkeypatch.setattr(runtime_log, "handlers", [*runtime_log.handlers, Collect()])  # restored after

        def refuse(self, **kwargs) -> None:  # the network boundary: the service echoes what it was sent
            logging.getLogger("qiskit_ibm_runtime").warning("login with %s failed", kwargs.get("token"))
            raise RuntimeError(f"401 Unauthorized for token={kwargs.get('token')} "
                               f"(https://user:{kwargs.get('token')}@auth.quantum.invalid)")

        monkeypatch.setattr(qiskit_ibm_runtime.QiskitRuntimeService, "__init__", refuse)
        monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)
        repo, uri = spec_repo({"specs/iris.yaml": self.IBM})
        for fmt in ("text", "json"):
            result = run_cli("apply", "--auto-approve", "--format", fmt)
            assert result.code == 1
            assert "cannot connect to IBM Quantum" in result.out + result.err
            assert "***" in result.out + result.err  # masked, not dropped: the error still says what
            assert leaked(result, FAKE_TOKEN) == [], fmt
        assert any("login with *** failed" in line for line in Collect.lines), Collect.lines  # logged, masked
        assert not any(FAKE_TOKEN in line for line in Collect.lines)
        client = client_for(uri)
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        assert runs and {r.info.status for r in runs} == {"FAILED"}
        for run in runs:
            assert "***" in run.data.tags[tag.ERROR]
            recorded = json.dumps([run.data.tags, run.data.params])
            assert FAKE_TOKEN not in recorded
            folder = Path(client.download_artifacts(run.info.run_id, "", dst_path=str(repo.path / ".qspec" / "dl")))
            for path in folder.rglob("*"):
                assert not path.is_file() or FAKE_TOKEN.encode() not in path.read_bytes(), path

    def test_debug_tracebacks_are_masked(self, spec_repo, run_cli, monkeypatch) -> None:
        monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)
        spec_repo({"specs/iris.yaml": SPECS})
        result = run_cli("--debug", "plan", "--tracking-uri", f"postgresql://qspec:{FAKE_TOKEN}@127.0.0.1:1/qspec")
        assert result.code == 1 and leaked(result, FAKE_TOKEN) == []

    def test_the_mask_knows_the_credentials_of_the_libraries(self, monkeypatch) -> None:
        from qspec.secrets import mask

        for name in ("QISKIT_IBM_TOKEN", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "AWS_SECRET_ACCESS_KEY",
                     "MY_SERVICE_API_KEY", "DB_PASSWORD"):
            monkeypatch.setenv(name, f"value-of-{name}")
            assert mask(f"error: value-of-{name} refused") == "error: *** refused", name
        monkeypatch.setenv("SOME_FLAG_TOKEN", "1")  # too short to be a secret: masking it would mask every "1"
        assert mask("v1") == "v1"
        assert mask("http://alice:s3cr3t@host/x") == "http://alice:***@host/x"
        assert mask("AUTHORIZATION: basic eHh4") == "AUTHORIZATION: basic ***"


class TestStuckRunsAreClosed:
    """On a real store: a managed run left RUNNING beside the FINISHED run of its spec, with the logged
    model a kill left PENDING, is closed by the next apply; and only then is the registry in sync."""

    def test_a_stuck_run_and_its_pending_model_are_failed_by_the_next_apply(self, spec_repo, run_cli) -> None:
        _, uri = spec_repo({"specs/iris.yaml": SPECS.replace("production: {ref: v1.0}", "production: {track: HEAD}")})
        assert run_cli("apply", "--auto-approve").code == 0
        client = client_for(uri)
        finished = client.search_runs([e.experiment_id for e in client.search_experiments()])[0]
        identity = {k: v for k, v in finished.data.tags.items() if k.startswith("qspec.") and k != tag.MODEL_ID}
        # What a lost runs/create answer leaves, retried by MLflow's client: a second run, never ended,
        # and (killed mid-upload) its logged model, PENDING.
        stuck = client.create_run(finished.info.experiment_id, tags=identity)
        pending = client.create_logged_model(finished.info.experiment_id, name="model",
                                             source_run_id=stuck.info.run_id)
        assert str(client.get_logged_model(pending.model_id).status) == "PENDING"

        plan = run_cli("plan", "--detailed-exitcode")
        assert plan.code == 2 and "close-run" in plan.out and stuck.info.run_id in plan.out
        result = run_cli("apply", "--auto-approve")
        assert result.code == 0, result.err
        assert "No changes" not in result.out and "marked FAILED" in result.out
        assert client.get_run(stuck.info.run_id).info.status == "FAILED"
        assert str(client.get_logged_model(pending.model_id).status) == "FAILED"
        assert client.get_run(finished.info.run_id).info.status == "FINISHED"  # the good run is untouched
        assert [m.name for m in client.search_registered_models() if tag.is_claim_model(m.name)] == []
        again = run_cli("apply", "--auto-approve")
        assert again.code == 0 and "No changes" in again.out
        assert run_cli("plan", "--detailed-exitcode").code == 0


class TestEmptyDesiredSetIsRefused:
    """Every spec file emptied: ``--prune`` would delete every alias, production included. Refused (exit
    1, nothing written) unless ``--allow-empty``, as Argo CD's ``allowEmpty``."""

    BOTH = SPECS.replace("production: {ref: v1.0}", "production: {track: HEAD}")
    STAGING_ONLY = SPECS.replace("    production: {ref: v1.0}\n", "").split("  gates:")[0]
    NO_DEPLOYMENT = SPECS.split("---\napiVersion: qspec/v1\nkind: Deployment")[0]

    def applied(self, spec_repo, run_cli):  # type: ignore[no-untyped-def]
        repo, uri = spec_repo({"specs/iris.yaml": self.BOTH})
        assert run_cli("apply", "--auto-approve").code == 0
        return repo, client_for(uri)

    def aliases(self, client) -> dict[str, int]:  # type: ignore[no-untyped-def]
        return {a: int(v) for a, v in client.get_registered_model("iris-classifier").aliases.items()}

    def test_emptied_specs_do_not_prune_every_alias(self, spec_repo, run_cli) -> None:
        repo, client = self.applied(spec_repo, run_cli)
        repo.write("specs/iris.yaml", "# everything moved elsewhere\n")
        repo.commit("empty the specs")
        for args in (("plan", "--prune"), ("apply", "--prune", "--auto-approve"),
                     ("apply", "--prune", "--dry-run"), ("plan", "--prune", "--format", "json")):
            result = run_cli(*args)
            assert result.code == 1, (args, result)
            assert "refusing to prune: the specs declare no Model; it would delete every alias of iris-classifier" \
                in result.err
            assert "--allow-empty" in result.err and "delete-alias" not in result.out
        assert self.aliases(client) == {"staging": 1, "production": 1}  # nothing written
        assert run_cli("plan").code == 0  # without --prune nothing is deleted: nothing to refuse

        result = run_cli("apply", "--prune", "--allow-empty", "--auto-approve")
        assert result.code == 0, result.err
        assert self.aliases(client) == {}

    def test_removing_every_stage_of_one_model_is_refused_but_removing_one_is_not(self, spec_repo, run_cli) -> None:
        repo, client = self.applied(spec_repo, run_cli)
        repo.write("specs/iris.yaml", self.STAGING_ONLY)
        repo.commit("drop production")
        assert run_cli("apply", "--prune", "--auto-approve").code == 0  # one alias of two: an ordinary prune
        assert self.aliases(client) == {"staging": 1}
        repo.write("specs/iris.yaml", self.NO_DEPLOYMENT)
        repo.commit("drop the Deployment")
        result = run_cli("apply", "--prune", "--auto-approve")
        assert result.code == 1 and "it would delete every alias of iris-classifier" in result.err
        assert self.aliases(client) == {"staging": 1}
