"""How much `qspec validate` costs over merely parsing the same YAML.

Generates 1,000 spec files (an Experiment, a Model and a Deployment each: 3,000 documents), then
times, in this one process, (a) parsing every file with PyYAML's C loader and nothing else, and
(b) ``qspec validate`` on the same directory (loading with line tracking, duplicate-key and alias
checks, pydantic validation, cross-document checks, content hashes). Prints both and the ratio.
Goal (issue 2): at most 2x the bare parse.

    python benchmarks/bench_validate.py [--files 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import yaml

TEMPLATE = """\
# generated spec {i}
apiVersion: qspec/v1
kind: Experiment
metadata:
  name: exp-{i}
  description: Variational classifier number {i}
  labels: {{team: qml, batch: "{batch}"}}
spec:
  task: classification
  data:
    source: sklearn:{dataset}
    classes: [0, 1]
    features: 4
    test_fraction: 0.3
    seed: {i}
  circuit:
    qubits: 4
    feature_map: {{type: zz, reps: 1}}
    ansatz: {{type: real_amplitudes, reps: {reps}, entanglement: linear}}
  backend:
    target: aer
    shots: 1024
    seed: 42
  training:
    optimizer: {{name: adam, learning_rate: 0.1, maxiter: 60}}
    seed: 42
  baseline: logistic_regression
  budget: {{max_shots: 50000000, max_cost_usd: 0}}
---
apiVersion: qspec/v1
kind: Model
metadata: {{name: model-{i}}}
spec:
  experiment: exp-{i}
  requirements:
    test_accuracy: {{min: 0.9}}
---
apiVersion: qspec/v1
kind: Deployment
metadata: {{name: model-{i}}}
spec:
  model: model-{i}
  stages:
    staging: {{track: HEAD}}
    production: {{version: {version}}}
  gates:
    production: {{test_accuracy: {{min: 0.93}}}}
  monitoring:
    accuracy: {{max_drop: 0.05}}
"""


def generate(folder: Path, count: int) -> None:
    for i in range(count):
        text = TEMPLATE.format(i=i, batch=i % 7, dataset=("iris", "wine", "breast_cancer")[i % 3],
                               reps=1 + i % 3, version=1 + i % 5)
        (folder / f"spec-{i:04d}.yaml").write_text(text)


def bare_parse(folder: Path) -> int:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    documents = 0
    for path in sorted(folder.glob("*.yaml")):
        documents += len(list(yaml.load_all(path.read_bytes(), Loader=loader)))
    return documents


def qspec_validate(folder: Path) -> int:
    from qspec.cli.main import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["validate", str(folder)])
    if code not in (None, 0) or "valid:" not in out.getvalue():
        raise SystemExit(f"qspec validate failed: {out.getvalue()}")
    return 0


def best(func: object, folder: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func(folder)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(folder, args.files)
        documents = bare_parse(folder)
        qspec_validate(folder)  # warm-up: imports, pydantic schema build
        parse = best(bare_parse, folder, args.repeat)
        validate = best(qspec_validate, folder, args.repeat)
    print(f"files: {args.files}, documents: {documents}, best of {args.repeat}")
    print(f"PyYAML C loader, parse only : {parse * 1000:8.1f} ms")
    print(f"qspec validate             : {validate * 1000:8.1f} ms")
    print(f"ratio validate / parse     : {validate / parse:8.2f}x   (goal: <= 2.00x)")


if __name__ == "__main__":
    main()
