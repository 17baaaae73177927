"""Property-based: no input makes validation crash (issue 13).

The example specs (``specs/*.yaml``, the e2e iris spec, and a csv variant of it with its data
file) are mutated (keys deleted, items duplicated, values retyped or replaced with random scalars,
lists and mappings, nan, inf and huge numbers, random bytes spliced into the text or the csv)
and validated through the public API. Every outcome is a ``SpecSet`` or a ``SpecError`` whose
every problem names a file and a line; a spec that validates also prices (the plan's estimate)
without an error. Any other exception is a bug.

The example count is bounded for CI; ``QSPEC_FUZZ_EXAMPLES=20000`` runs a longer search. Examples
are derandomized (the same inputs on every run) and no example database is written.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from qspec.errors import SpecError
from qspec.spec import SpecSet, load_source

# Nothing of hypothesis's in the repository: no example database, and its caches in the temp dir.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "qspec-hypothesis"))

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("QSPEC_FUZZ_EXAMPLES", "400"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CSV_PATH = "data/iris.csv"


def _iris_csv() -> bytes:
    rows = ["sepal_length,sepal_width,petal_length,petal_width,label"]
    rows += [f"{5 + i % 7 / 10:.1f},{3 + i % 5 / 10:.1f},{1 + i % 4 / 10:.1f},{0.2 + i % 3 / 10:.1f},{i % 2}"
             for i in range(40)]
    return ("\n".join(rows) + "\n").encode()


def _spec_files() -> dict[str, bytes]:
    files = {f"specs/{p.name}": p.read_bytes() for p in sorted((REPO / "specs").glob("*.yaml"))}
    e2e = (REPO / "tests" / "e2e" / "specs" / "iris.yaml").read_bytes()
    files["specs/e2e-iris.yaml"] = e2e.replace(b"iris-vqc", b"e2e-vqc").replace(b"iris-classifier",
                                                                                 b"e2e-classifier")
    files["specs/csv-iris.yaml"] = e2e.replace(b"sklearn:iris", f"csv:{CSV_PATH}".encode()).replace(
        b"iris-vqc", b"csv-vqc").replace(b"iris-classifier", b"csv-classifier")
    return files


SPECS = _spec_files()


@dataclass
class MemorySource:
    """A repository held in memory: the spec files and the csv data they name."""

    content: dict[str, bytes]
    root: Path = REPO
    revision: str | None = None

    def files(self) -> list[str]:
        return sorted(name for name in self.content if name.startswith("specs/"))

    def read(self, path: str) -> bytes:
        return self.content[path]

    def exists(self, path: str) -> bool:
        return path in self.content

    def describe(self) -> str:
        return "the fuzzed tree"


def check(content: dict[str, bytes]) -> SpecSet | SpecError:
    """Validate ``content``: a SpecSet, or a SpecError with a file and a line on every problem."""
    try:
        specset = load_source(MemorySource(content))
    except SpecError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file in content, problem
            assert isinstance(problem.line, int) and problem.line >= 1, problem
            assert problem.message and len(problem.message) < 600, problem  # values echoed only when short
            assert problem.hint and problem.hint.strip(), problem  # every error says what to do
        return exc
    _runnable(specset, content)
    return specset


def _runnable(specset: SpecSet, content: dict[str, bytes]) -> None:
    """What validate accepts, the plan can build and price: finite counts, seconds and dollars."""
    from qspec.plan.desired import desired_state
    from qspec.quantum.estimate import estimate_resources, peak_memory_bytes

    def estimate(experiment: Any, read: Any = None) -> Any:
        priced = estimate_resources(experiment, read=content.__getitem__)
        assert priced.circuits >= 1
        assert math.isfinite(priced.qpu_seconds) and math.isfinite(priced.cost_usd)
        assert peak_memory_bytes(experiment, read=content.__getitem__) > 0
        return priced

    desired = desired_state(specset, estimate=estimate)
    assert set(desired.experiments) == set(specset.experiments)


# --- strategies --------------------------------------------------------------------------------

SPECIAL_NUMBERS = [0, -1, 1, 2**31, 2**32 - 1, 2**32, 2**63, 10**18, 10**30, -(10**30), 0.0, -0.0, 1e-300,
                   1e308, float("nan"), float("inf"), float("-inf")]

NAMES = ["Experiment", "Model", "Deployment", "qspec/v1", "aer", "fake:manila", "fake:armonk", "ibm:ibm_torino",
         "statevector", "sklearn:iris", "sklearn:wine", "sklearn:breast_cancer", f"csv:{CSV_PATH}", "csv:../x.csv",
         "HEAD", "v1.0", "ZZ", "II", "XX", "ZI", "cobyla", "adam", "spsa", "l_bfgs_b", "nelder_mead", "zz", "z",
         "angle", "real_amplitudes", "efficient_su2", "hardware_efficient", "linear", "full", "vqe",
         "classification", "svc", "label", "staging", "production", "latest", "v2", "test_accuracy", "energy",
         "accuracy", "iris-vqc", "iris-classifier", "h2-vqe", "setosa", "benign", "x" * 300]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(SPECIAL_NUMBERS),
    st.text(max_size=20), st.text(alphabet="abcIXYZ01:-_ \t'\"{}[]#&*!|>%@`", max_size=12),
    st.sampled_from(NAMES),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.booleans()),
                                                 inner, max_size=4)), max_leaves=12)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _like(value: Any) -> st.SearchStrategy[Any]:
    """Values of the type of ``value``, biased to the edges."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.integers(-3, 300), st.sampled_from([n for n in SPECIAL_NUMBERS if isinstance(n, int)]),
                         st.integers())
    if isinstance(value, float):
        return st.one_of(st.floats(-2, 2), st.sampled_from([float(n) for n in SPECIAL_NUMBERS]), st.floats())
    if isinstance(value, str):
        return st.one_of(st.sampled_from(NAMES), st.text(max_size=12), st.just(value + value[-1:]),
                         st.just(value[:-1]))
    if isinstance(value, dict):
        return st.one_of(st.just({}), st.dictionaries(st.sampled_from(NAMES), values, max_size=3).map(
            lambda extra: {**value, **extra}))
    if isinstance(value, list):
        return st.one_of(st.just([]), st.lists(scalars, max_size=4), st.just([*value, *value]))
    return scalars


def _retype(value: Any) -> Any:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float):
        return str(value)
    if isinstance(value, str):
        return [value]
    return 0


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, bytes]:
    """The example tree with one to three structural mutations of one spec file."""
    name = draw(st.sampled_from(sorted(n for n in SPECS)))
    documents = list(yaml.safe_load_all(SPECS[name]))
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(documents) - 1))
        paths = _paths(documents[index])
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["delete", "duplicate", "retype", "replace", "replace", "tweak", "tweak", "tweak"]))
        if not path:
            if op == "delete" and len(documents) > 1:
                documents.pop(index)
            elif op == "duplicate":
                documents.insert(index, copy.deepcopy(documents[index]))
            else:
                documents[index] = draw(values)
            continue
        parent = documents[index]
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        if op == "delete":
            del parent[key]
        elif op == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[f"{key}_copy"] = copy.deepcopy(parent[key])
        elif op == "retype":
            parent[key] = _retype(parent[key])
        elif op == "tweak":  # a value of the same type: reaches the range and cross-field checks
            parent[key] = draw(_like(parent[key]))
        else:
            parent[key] = draw(values)
    text = yaml.safe_dump_all(documents, allow_unicode=True, sort_keys=False)
    return {**SPECS, name: text.encode(), CSV_PATH: _iris_csv()}


TOKENS = [b"\t", b"'", b'"', b"[", b"{", b": ", b"- ", b"&a ", b"*a", b"!!python/name:os ", b".nan", b".inf",
          b"1e999", b"nan", b"inf", b",", b"\n", b"\r", b"\xef\xbb\xbf", b"\x00", b"\xff", b"\x07", b"---\n",
          b"<<: *a\n", b"? ", b"%YAML 1.1\n", b"|\n", b"#"]


@st.composite
def mutated_bytes(draw: st.DrawFn) -> dict[str, bytes]:
    """The example tree with random byte edits of one spec file or of the csv file."""
    name = draw(st.sampled_from([*sorted(SPECS), CSV_PATH]))
    content = {**SPECS, CSV_PATH: _iris_csv()}
    data = bytearray(content[name])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "line", "token"]))
        if op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8).filter(lambda b: b"\x00" not in b))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "replace":
            data[at:at + 1] = draw(st.binary(min_size=1, max_size=1))
        elif op == "line":  # duplicate a line: duplicate keys, repeated items, ragged csv rows
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            end = len(data) if end < 0 else end + 1
            data[start:start] = data[start:end]
        else:
            data[at:at] = draw(st.sampled_from(TOKENS))
    content[name] = bytes(data)
    return content


# --- the properties ------------------------------------------------------------------------------

def test_the_unmutated_examples_are_valid() -> None:
    outcome = check({**SPECS, CSV_PATH: _iris_csv()})
    assert isinstance(outcome, SpecSet), outcome
    assert "csv-vqc" in outcome.experiments


@FUZZ
@given(mutated_documents())
def test_structural_mutations_never_crash(content: dict[str, bytes]) -> None:
    check(content)


@FUZZ
@given(mutated_bytes())
def test_byte_mutations_never_crash(content: dict[str, bytes]) -> None:
    check(content)


@settings(max_examples=max(10, EXAMPLES // 40), deadline=None, derandomize=True, database=None)
@given(mutated_documents())
def test_the_cli_validate_never_shows_a_traceback(tmp_path_factory: pytest.TempPathFactory,
                                                  content: dict[str, bytes]) -> None:
    """The same through ``qspec.api.validate`` on a real work tree."""
    from qspec import api

    root = tmp_path_factory.mktemp("tree")
    for name, data in content.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    try:
        api.validate(["specs"], root=root)
    except SpecError as exc:
        assert all(p.line is not None and p.file.startswith(("specs/", "data/")) for p in exc.problems), exc
