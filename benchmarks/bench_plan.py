"""Benchmark: ``plan`` (snapshot + diff + render) against a registry of 500 managed models x 3 versions.

    .venv/bin/python benchmarks/bench_plan.py [--models 500] [--versions 3] [--keep DIR] [--repeat 3]

Seeds a fresh MLflow SQLite store through ``MlflowClient`` (as qspec itself writes: tagged runs
with metrics, versions with tags set at creation, aliases and their ``qspec.alias.*`` records),
then measures, in a fresh interpreter each time:

- ``plan``: import qspec + mlflow, snapshot the registry in pages, diff against a desired state
  where 10% of the models have a changed spec, render the text plan;
- the baseline: the same snapshot read model by model (what an O(models) planner would do).

It prints wall times (beyond a bare interpreter start; the fastest of ``--repeat`` fresh
interpreters), MLflow call counts and their ratio to the baseline. Seeding 500 x 3 through the
client takes about 35 s; ``--keep DIR`` seeds once and reuses the store on later runs.
Goal (issue 5): plan under 3 s beyond interpreter start, with O(pages) MLflow calls.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def spec_hash(model: int, version: int) -> str:
    return f"{model:06d}{version:02d}".ljust(64, "a")


def seed(uri: str, models: int, versions: int) -> None:
    from qspec import tags as tag
    from qspec.registry.testing import client_for, seed_run, seed_version

    client = client_for(uri)
    folder = Path(uri.removeprefix("sqlite:///")).parent
    for m in range(models):
        name = f"model-{m:04d}"
        exp = client.create_experiment(f"exp-{m:04d}", artifact_location=(folder / "artifacts" / name).as_uri())
        client.create_registered_model(name, tags={tag.MANAGED: "true"})
        for v in range(1, versions + 1):
            run_id = seed_run(client, exp, spec_hash(m, v), experiment=f"exp-{m:04d}",
                              metrics={"test_accuracy": 0.9 + v / 100, "loss": 0.3})
            seed_version(client, name, run_id, spec_hash(m, v), experiment=f"exp-{m:04d}")
        client.set_registered_model_alias(name, "staging", str(versions))
        client.set_registered_model_alias(name, "production", str(max(1, versions - 1)))
        client.set_registered_model_tag(name, tag.alias_record("staging"), str(versions))
        client.set_registered_model_tag(name, tag.alias_record("production"), str(max(1, versions - 1)))


# Runs in a fresh interpreter: what `qspec plan` pays after the interpreter has started.
PLAN_CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
from qspec import tags as tag
from qspec.registry.testing import import_mlflow_stores
import_mlflow_stores()
from qspec.registry.mlflow import MlflowRegistry
from qspec.plan import diff, render_text
from qspec.plan.state import Budget, Build, DesiredModel, DesiredState, Estimate, Stage
from qspec.spec.models import Bound
t_import = time.perf_counter()
uri, models, versions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def h(m, v): return f"{m:06d}{v:02d}".ljust(64, "a")
desired = {}
for m in range(models):
    head = h(m, versions + 1) if m % 10 == 0 else h(m, versions)  # 10% have a changed spec
    build = Build(head, f"exp-{m:04d}", estimate=Estimate(1200, 1_228_800, 0.0), budget=Budget(50_000_000))
    gates = {"test_accuracy": Bound(min=0.9)}
    stages = {"staging": Stage("staging", "track HEAD", spec_hash=head),
              "production": Stage("production", f"version {max(1, versions - 1)}", version=max(1, versions - 1),
                                  gates=gates)}
    desired[f"model-{m:04d}"] = DesiredModel(f"model-{m:04d}", f"exp-{m:04d}", head, {head: build},
                                             {"test_accuracy": Bound(min=0.9)}, stages)
state = DesiredState(desired)
registry = MlflowRegistry(tracking_uri=uri, registry_uri=uri)
t1 = time.perf_counter()
actual = registry.snapshot()
t2 = time.perf_counter()
plan = diff(state, actual)
t3 = time.perf_counter()
text = render_text(plan)
t4 = time.perf_counter()
print(json.dumps({"import": t_import - t0, "setup": t1 - t_import, "snapshot": t2 - t1, "diff": t3 - t2,
                  "render": t4 - t3, "total": t4 - t0, "calls": dict(registry.calls),
                  "call_count": registry.call_count, "items": len(plan.items), "summary": text.splitlines()[-1],
                  "models": len(actual.models), "versions": sum(len(m.versions) for m in actual.models.values()),
                  "runs": len(actual.runs)}))
sys.stdout.flush()
os._exit(0)  # as the qspec console script ends a read-only command (qspec.cli.main.run)
"""

# The baseline: one model at a time (get the model, list its versions, read each version's run).
BASELINE_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from qspec.registry.testing import import_mlflow_stores
import_mlflow_stores()
from mlflow import MlflowClient
uri, models = sys.argv[1], int(sys.argv[2])
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
t1 = time.perf_counter()
calls = 0
for m in range(models):
    name = f"model-{m:04d}"
    client.get_registered_model(name); calls += 1
    for mv in client.search_model_versions(f"name = '{name}'"):
        client.get_run(mv.run_id); calls += 1
    calls += 1
t2 = time.perf_counter()
print(json.dumps({"snapshot": t2 - t1, "total": t2 - t0, "call_count": calls}))
"""


def child(code: str, *args: str) -> dict[str, object]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                          cwd=HERE.parent)
    out: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="seed into (or reuse) this folder")
    parser.add_argument("--repeat", type=int, default=3, help="fresh interpreters per measurement; the fastest counts")
    parser.add_argument("--debug", action="store_true", help="print each child's raw timings")
    args = parser.parse_args()

    from qspec.registry.testing import sqlite_store

    folder = args.keep or Path(tempfile.mkdtemp(prefix="qspec-bench-"))
    db = folder / "store" / "mlflow.db"
    uri = f"sqlite:///{db}"
    if args.keep is None or not db.exists():
        t = time.perf_counter()
        uri = sqlite_store(folder / "store")
        seed(uri, args.models, args.versions)
        print(f"seeded {args.models} models x {args.versions} versions through MlflowClient "
              f"in {time.perf_counter() - t:.1f} s ({folder})", file=sys.stderr)

    bare = min(child("import json, time; print(json.dumps({}))")["wall"] for _ in range(3))  # type: ignore[type-var]
    # The fastest of a few fresh interpreters: the others measured the machine's other load (timeit's rule).
    plan = min((child(PLAN_CHILD, uri, str(args.models), str(args.versions)) for _ in range(args.repeat)),
               key=lambda r: float(r["wall"]))  # type: ignore[arg-type]
    base = min((child(BASELINE_CHILD, uri, str(args.models)) for _ in range(args.repeat)),
               key=lambda r: float(r["wall"]))  # type: ignore[arg-type]
    if args.debug:
        print(f"plan child: {plan}\nbaseline child: {base}", file=sys.stderr)
    beyond = float(plan["wall"]) - float(bare)  # type: ignore[arg-type]
    inside = float(plan["total"])  # type: ignore[arg-type]
    print(f"registry: {plan['models']} models, {plan['versions']} versions, {plan['runs']} managed runs")
    print(f"plan:     {inside:.2f} s from interpreter start to rendered plan "
          f"[import {plan['import']:.2f} s, build desired {plan['setup']:.2f} s, snapshot {plan['snapshot']:.2f} s, "
          f"diff {plan['diff']:.3f} s, render {plan['render']:.3f} s]")
    print(f"          {beyond:.2f} s process wall time beyond a bare interpreter ({float(bare):.2f} s), "  # type: ignore[arg-type]
          f"of which {beyond - inside:.2f} s is interpreter teardown after the plan is printed")
    print(f"          {plan['call_count']} MLflow calls {plan['calls']}; {plan['items']} plan items")
    print(f"          {plan['summary']}")
    print(f"baseline: snapshot one model at a time {base['snapshot']:.2f} s, {base['call_count']} MLflow calls")
    print(f"ratio:    snapshot {float(base['snapshot']) / float(plan['snapshot']):.1f}x faster, "  # type: ignore[arg-type]
          f"{int(base['call_count']) / int(plan['call_count']):.0f}x fewer calls "  # type: ignore[call-overload]
          f"({'goal met' if inside < 3 else 'GOAL MISSED'}: < 3 s to the rendered plan)")


if __name__ == "__main__":
    main()
