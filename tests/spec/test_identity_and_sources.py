"""Content hashes, reading specs at a git revision, layering, the device table and the schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qspec import api
from qspec.errors import SourceError
from qspec.spec import load_specs

REPO = Path(__file__).resolve().parents[2]

BASE = """\
apiVersion: qspec/v1
kind: Experiment
metadata: {name: iris-vqc, description: first}
spec:
  task: classification
  data: {source: sklearn:iris, classes: [0, 1], seed: 7}
  circuit:
    qubits: 4
    feature_map: {type: zz}
    ansatz: {type: real_amplitudes, reps: 2}
  training: {optimizer: {name: adam, learning_rate: 0.1, maxiter: 60}, seed: 42}
"""

# The same spec: comments, key order, flow vs block style, quoting, defaults written out, metadata.
SAME = """\
# a comment changes nothing
kind: Experiment
apiVersion: "qspec/v1"
metadata:
  name: renamed-experiment
  description: another description
  labels: {team: qml}
spec:
  training:
    seed: 42
    optimizer:
      maxiter: 60
      learning_rate: 0.1
      name: adam
  circuit:
    ansatz: {type: real_amplitudes, reps: 2, entanglement: linear}
    feature_map: {type: zz, reps: 1, entanglement: linear}
    qubits: 4
  data:
    seed: 7
    classes: [0, 1]
    features: 4
    source: 'sklearn:iris'
    test_fraction: 0.3
  task: classification
  backend: {target: aer, shots: null, seed: 0}
  baseline: logistic_regression
  budget: {max_cost_usd: 10}
"""


def hash_of(tmp_path: Path, text: str, name: str = "x") -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "a.yaml").write_text(text)
    specs = load_specs([folder], root=tmp_path)
    (loaded,) = specs.experiments.values()
    return loaded.hash


def test_hash_ignores_formatting_order_comments_defaults_and_metadata(tmp_path: Path) -> None:
    assert hash_of(tmp_path, BASE, "a") == hash_of(tmp_path, SAME, "b")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("seed: 7", "seed: 8"),
        ("classes: [0, 1]", "classes: [1, 2]"),
        ("qubits: 4", "qubits: 3"),
        ("{type: zz}", "{type: z}"),
        ("reps: 2", "reps: 3"),
        ("learning_rate: 0.1", "learning_rate: 0.05"),
        ("maxiter: 60", "maxiter: 61"),
        ("seed: 42", "seed: 43"),
        ("task: classification", "task: classification\n  backend: {shots: 100}"),
        ("task: classification", "task: classification\n  baseline: svc"),
    ],
)
def test_any_field_that_can_change_the_result_changes_the_hash(tmp_path: Path, old: str, new: str) -> None:
    text = BASE.replace(old, new, 1)
    if old == "qubits: 4":
        text = text.replace("seed: 7}", "seed: 7, features: 3}")
    assert text != BASE
    assert hash_of(tmp_path, BASE, "a") != hash_of(tmp_path, text, "b")


def test_budget_and_price_do_not_change_identity(tmp_path: Path) -> None:
    text = BASE.replace("task: classification", "task: classification\n  budget: {max_shots: 10}\n"
                        "  backend: {price_per_second_usd: 2.5}\n  tracking: {experiment_name: other}")
    assert hash_of(tmp_path, BASE, "a") == hash_of(tmp_path, text, "b")


def test_csv_content_is_part_of_the_hash(tmp_path: Path) -> None:
    text = BASE.replace("sklearn:iris", "csv:data/set.csv")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "set.csv").write_text("a,b,c,d,label\n1,2,3,4,0\n4,3,2,1,1\n1,2,3,5,0\n4,3,2,2,1\n")
    first = hash_of(tmp_path, text, "a")
    (tmp_path / "data" / "set.csv").write_text("a,b,c,d,label\n1,2,3,4,0\n4,3,2,9,1\n1,2,3,5,0\n4,3,2,2,1\n")
    assert hash_of(tmp_path, text, "b") != first


def test_hash_is_stable_across_processes(tmp_path: Path) -> None:
    code = "from qspec.spec import load_specs; print(load_specs(['specs']).experiments['iris-vqc'].hash)"
    runs = {subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(runs) == 1 and len(runs.pop().strip()) == 64


def test_rev_reads_git_blobs_without_touching_the_work_tree(git_repo, run_cli) -> None:
    git_repo.write("specs/iris.yaml", BASE)
    first = git_repo.commit("first")
    git_repo.git("tag", "v1.0")
    # The work tree now differs (and is even invalid): --rev must read the committed version.
    git_repo.write("specs/iris.yaml", BASE.replace("qubits: 4", "qubits: 99"))
    git_repo.write("specs/new.yaml", "not: [valid")
    assert run_cli("validate", cwd=git_repo.path).code == 1
    result = run_cli("validate", "--rev", "v1.0", "--format", "json", cwd=git_repo.path)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["revision"] == first
    assert [r["file"] for r in data["resources"]] == ["specs/iris.yaml"]
    assert (git_repo.path / "specs" / "iris.yaml").read_text().count("qubits: 99") == 1
    assert "new.yaml" in git_repo.git("status", "--porcelain")
    # The same content hashes the same from a revision and from the work tree.
    at_rev = api.validate(["specs"], rev="HEAD", root=git_repo.path).experiments["iris-vqc"].hash
    git_repo.write("specs/iris.yaml", BASE)
    (git_repo.path / "specs" / "new.yaml").unlink()
    assert load_specs([git_repo.path / "specs"]).experiments["iris-vqc"].hash == at_rev


def test_rev_reads_csv_data_at_that_revision(git_repo) -> None:
    git_repo.write("specs/a.yaml", BASE.replace("sklearn:iris", "csv:data/set.csv"))
    git_repo.write("data/set.csv", "a,b,c,d,label\n1,2,3,4,0\n4,3,2,1,1\n1,2,3,5,0\n4,3,2,2,1\n")
    git_repo.commit()
    at_head = api.validate(["specs"], rev="HEAD", root=git_repo.path).experiments["iris-vqc"].hash
    git_repo.write("data/set.csv", "a,b,c,d,label\n1,2,3,4,0\n4,3,2,1,2\n")  # class 1 gone in the work tree
    assert api.validate(["specs"], rev="HEAD", root=git_repo.path).experiments["iris-vqc"].hash == at_head


def test_unknown_revision_is_a_clear_error(git_repo, run_cli) -> None:
    git_repo.write("specs/iris.yaml", BASE)
    git_repo.commit()
    result = run_cli("validate", "--rev", "v9.9", cwd=git_repo.path)
    assert result.code == 1
    assert "git revision 'v9.9' does not resolve" in result.err
    assert "hint:" in result.err and "Traceback" not in result.err
    with pytest.raises(SourceError):
        api.validate(["specs"], rev="no-such-branch", root=git_repo.path)
    # Reflog and message forms are git's own syntax: resolved by git, or refused cleanly.
    assert run_cli("validate", "--rev", "HEAD@{99}", cwd=git_repo.path).err.count("does not resolve") == 1
    assert run_cli("validate", "--rev", ":/update", cwd=git_repo.path).code == 0


def test_rev_outside_a_git_repository(tmp_path: Path, run_cli, isolated_home) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(BASE)
    result = run_cli("validate", "--rev", "HEAD", cwd=tmp_path)
    assert result.code == 1
    assert "not a git repository" in result.err


HEAVY = ("mlflow", "qiskit", "qiskit_aer", "qiskit_ibm_runtime", "git", "sklearn", "click")


def test_spec_layer_imports_nothing_heavy() -> None:
    code = (
        "import sys, qspec.spec, qspec.spec.schema; from qspec.spec import load_specs; load_specs(['specs']); "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validate_command_imports_no_mlflow_or_qiskit() -> None:
    code = (
        "import sys\nfrom qspec.cli.main import main\ntry:\n    main(['validate', 'specs'])\n"
        "except SystemExit:\n    pass\n"
        "print([m for m in ('mlflow', 'qiskit', 'sklearn') if m in sys.modules], file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stderr.strip().splitlines()[-1] == "[]"


def test_fake_device_table_matches_installed_runtime() -> None:
    import warnings

    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    from qspec.spec.devices import FAKE_DEVICES

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some snapshots warn that their error values are not typical
        installed = {b.name.removeprefix("fake_"): b.num_qubits for b in FakeProviderForBackendV2().backends()}
    assert installed == FAKE_DEVICES


def test_schema_describes_all_kinds(run_cli) -> None:
    result = run_cli("schema")
    assert result.code == 0
    schema = json.loads(result.out)
    kinds = {schema["$defs"][d]["properties"]["kind"]["const"] for d in ("Experiment", "Model", "Deployment")}
    assert kinds == {"Experiment", "Model", "Deployment"}
    assert schema["$defs"]["BackendSpec"]["additionalProperties"] is False
    assert schema["$defs"]["CircuitSpec"]["properties"]["qubits"]["maximum"] == 32
    assert "apiVersion" in schema["$defs"]["Experiment"]["properties"]
    # the names the plug-in tables hold are enums an editor can offer
    from qspec.plugins import ansatze, feature_maps, optimizers

    defs = schema["$defs"]
    assert defs["AnsatzSpec"]["properties"]["type"]["enum"] == list(ansatze.plugins())
    assert defs["FeatureMapSpec"]["properties"]["type"]["enum"] == list(feature_maps.plugins())
    union = defs["TrainingSpec"]["properties"]["optimizer"]
    assert list(union["discriminator"]["mapping"]) == list(optimizers.plugins())
    assert [defs[ref["$ref"].split("/")[-1]]["properties"]["name"]["const"] for ref in union["oneOf"]] == list(
        optimizers.plugins())


def test_every_command_and_option_has_help() -> None:
    import click

    from qspec.cli.main import cli

    def walk(command: click.Command, path: str) -> None:
        assert command.help, f"{path} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{path} {param.opts} has no help text"
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "qspec")
