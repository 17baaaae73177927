"""The reconciler's pure core: desired and actual state, ``diff`` into a ``Plan``, and rendering.

Imports no mlflow, qiskit, git or click (tests/plan/test_layering.py checks it), so planning is
fast and testable from plain records. ``qspec.registry`` fills ``ActualState``; ``qspec.apply``
executes a ``Plan``.
"""

from __future__ import annotations

from qspec.plan.actions import Action, Plan, PlanItem, Reason
from qspec.plan.desired import ResolvedSpec, desired_state
from qspec.plan.diff import changed_models, diff
from qspec.plan.render import render, render_json, render_markdown, render_text
from qspec.plan.state import (
    ActualState,
    Budget,
    Build,
    DesiredModel,
    DesiredState,
    Estimate,
    RegisteredModelInfo,
    RunInfo,
    Stage,
    VersionInfo,
)
from qspec.plan.status import StatusReport, render_status, status

__all__ = [
    "Action",
    "ActualState",
    "Budget",
    "Build",
    "DesiredModel",
    "DesiredState",
    "Estimate",
    "Plan",
    "PlanItem",
    "Reason",
    "RegisteredModelInfo",
    "ResolvedSpec",
    "RunInfo",
    "Stage",
    "StatusReport",
    "VersionInfo",
    "changed_models",
    "desired_state",
    "diff",
    "render",
    "render_json",
    "render_markdown",
    "render_status",
    "render_text",
    "status",
]
