"""A ``Plan`` as text (terraform-like, for a terminal), markdown (for a PR comment) or JSON.

Pure string rendering, called by ``qspec/cli``; nothing here prints. The text form lists drift
first (as terraform lists objects changed outside of it), then the actions with ``+``, ``~``, ``-``,
``!`` and a counts line. Colour, if any, is the CLI's business.
"""

from __future__ import annotations

import json
from typing import Any

from qspec.plan.actions import ACTION_WIDTH, Action, Plan, PlanItem, Serving, describe
from qspec.plan.fields import mapping_changes
from qspec.plan.state import describe_estimate


def summary_line(plan: Plan) -> str:
    c = plan.counts
    line = (f"Plan: {c['train']} to train, {c['register']} to register, {c['change']} to change, "
            f"{c['delete']} to delete.")
    extra = []
    if c["blocked"]:
        extra.append(f"{c['blocked']} blocked")
    if c["drift"]:
        extra.append(f"{c['drift']} drifted")
    return line + (f" ({', '.join(extra)})" if extra else "")


def _change(item: PlanItem) -> str:
    if item.action is Action.UPDATE_SERVING and isinstance(item.old, Serving) and isinstance(item.new, Serving):
        before, after = item.old.fields(), item.new.fields()
        if before is not None and after is not None:  # field by field: "shots: 1024 -> 2048"
            return ", ".join(change.describe() for change in mapping_changes(before, after))
    old = None if item.old is None else describe(item.old)
    new = None if item.new is None else describe(item.new)
    if old is not None and new is not None:
        return f"{old} -> {new}"
    if new is not None:
        return f"-> {new}" if item.action in (Action.SET_ALIAS, Action.MOVE_ALIAS) else new
    if old is not None:
        removed = (Action.DRIFT, Action.DELETE_ALIAS, Action.UPDATE_SERVING)
        return f"{old} -> (none)" if item.action in removed else old
    return ""


def render_text(plan: Plan) -> str:
    drift = plan.by_action(Action.DRIFT)
    acts = [i for i in plan.items if i.action is not Action.DRIFT]
    if not plan.items:
        return "No changes. The registry matches git.\n"
    lines: list[str] = []
    width = max(len(i.subject) for i in plan.items)
    if drift:
        lines += _section("Drift (the registry differs from git, not through a git change):", drift, width)
    if acts:
        lines += _section("qspec will perform the following actions:", acts, width)
        total = plan.estimated_training()
        if plan.by_action(Action.TRAIN):
            lines.append(f"Estimated training: {describe_estimate(total)}.")
    lines.append(summary_line(plan))
    if drift and not plan.prune and any(i.alias and i.code.prunable for i in drift):
        lines.append("hint: aliases git does not declare are only reported; run apply --prune to delete them")
    return "\n".join(lines) + "\n"


def _section(title: str, items: list[PlanItem], width: int) -> list[str]:
    return [title, "", *(_text_line(item, width) for item in items), ""]


def _text_line(item: PlanItem, width: int) -> str:
    change = _change(item)
    line = f"  {item.action.symbol} {item.action.value:<{ACTION_WIDTH}} {item.subject:<{width}}  {change}".rstrip()
    lines = [line] + [f"      {detail}" for detail in _details(item)]
    return "\n".join(lines)


def _details(item: PlanItem) -> list[str]:
    """The lines under an item: its reason, the spec fields a training changes, its budget use."""
    out = [item.reason] if item.reason else []
    if item.spec_changes is not None:
        out.append(item.spec_changes.describe())
        out += [f"  {change.describe()}" for change in item.spec_changes.fields]
    use = _budget(item)
    if use is not None:
        out.append(f"budget: {use}")
    return out


def _budget(item: PlanItem) -> str | None:
    return None if item.budget is None else item.budget.describe_use(item.estimate)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, *, title: str = "qspec plan") -> str:
    """The PR comment: a summary, what would be trained and what it costs, and the actions table."""
    lines = [f"### {title}", "", f"**{summary_line(plan)}**", ""]
    if not plan.items:
        lines.append("No changes. The registry matches git.")
        return "\n".join(lines) + "\n"
    trains = plan.by_action(Action.TRAIN)
    if trains:
        lines += ["#### Training", "", "| experiment | spec | circuits | shots | est. cost | budget |",
                  "| --- | --- | ---: | ---: | ---: | --- |"]
        for item in trains:
            est = item.estimate
            circuits = "?" if est is None else f"{est.circuits:,}"
            shots = "?" if est is None else ("exact" if est.shots is None else f"{est.shots:,}")
            cost = "?" if est is None else f"${est.cost_usd:,.2f}"
            where = f" at `{item.rev}`" if item.rev else ""
            spec = (item.spec_hash or "")[:12]
            budget = _md_escape(_budget(item) or "none set")
            lines.append(f"| `{item.experiment}`{where} | `{spec}` | {circuits} | {shots} | {cost} | {budget} |")
        total = plan.estimated_training()
        shots_total = "exact" if total.shots is None else f"{total.shots:,}"
        lines += [f"| **total** | | **{total.circuits:,}** | **{shots_total}** | **${total.cost_usd:,.2f}** | |", ""]
        lines += _markdown_changes(trains)
    blocked = plan.by_action(Action.BLOCKED)
    if blocked:
        lines += ["> [!WARNING]", f"> {len(blocked)} action{'s' if len(blocked) != 1 else ''} blocked:"]
        lines += [f"> - `{_md_escape(i.subject)}`: {_md_escape(i.reason)}" for i in blocked]
        lines.append("")
    lines += ["#### Actions", "", "| | action | subject | change | reason |", "| --- | --- | --- | --- | --- |"]
    for item in plan.items:
        change = _md_escape(_change(item))
        lines.append(f"| `{item.action.symbol}` | {item.action.value} | `{_md_escape(item.subject)}` | {change} | "
                     f"{_md_escape(item.reason)} |")
    return "\n".join(lines) + "\n"


def _markdown_changes(trains: list[PlanItem]) -> list[str]:
    """Per retraining, the spec fields it changes since the version it replaces."""
    changed = [i for i in trains if i.spec_changes is not None]
    if not changed:
        return []
    lines = ["#### What changed", ""]
    for item in changed:
        assert item.spec_changes is not None
        heading = item.spec_changes.describe().rstrip(":")
        lines.append(f"- `{_md_escape(item.subject)}` ({_md_escape(item.model or '')}): {_md_escape(heading)}")
        for change in item.spec_changes.fields:
            lines.append(f"  - `{_md_escape(change.path)}`: `{_md_escape(change.before)}` -> "
                         f"`{_md_escape(change.after)}`")
    return [*lines, ""]


def trainings(plan: Plan) -> list[dict[str, Any]]:
    """The plan's trainings, one per spec hash: what a CI matrix fans out, one job each running
    ``qspec apply --only <only> --train-only`` (``only`` is the training's subject, NAME#HASH)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in plan.by_action(Action.TRAIN):
        if item.spec_hash is None or item.spec_hash in seen:
            continue
        seen.add(item.spec_hash)
        est = item.estimate
        out.append({
            "experiment": item.experiment, "spec_hash": item.spec_hash, "subject": item.subject,
            "only": item.subject, "rev": item.rev,
            "estimate": None if est is None else {"circuits": est.circuits, "shots": est.shots,
                                                  "cost_usd": est.cost_usd, "qpu_seconds": est.qpu_seconds},
        })
    return out


def plan_as_dict(plan: Plan) -> dict[str, Any]:
    total = plan.estimated_training()
    return {
        "format_version": 1,
        "prune": plan.prune,
        "has_changes": plan.has_changes,
        "in_sync": plan.in_sync,
        "counts": plan.counts,
        "estimated_training": {"circuits": total.circuits, "shots": total.shots, "cost_usd": total.cost_usd,
                               "qpu_seconds": total.qpu_seconds},
        "trainings": trainings(plan),
        "items": [item.as_dict() for item in plan.items],
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_as_dict(plan), indent=2, sort_keys=False) + "\n"


def render(plan: Plan, fmt: str) -> str:
    """``fmt`` is text, markdown or json (the CLI's ``--format``)."""
    renderers = {"text": render_text, "markdown": render_markdown, "json": render_json}
    if fmt not in renderers:
        raise ValueError(f"unknown plan format {fmt!r}; one of: {', '.join(renderers)}")
    return renderers[fmt](plan)
