"""GitHub Actions output, on when ``GITHUB_ACTIONS=true`` (as every GitHub runner sets it).

``qspec plan`` and ``qspec apply`` then also

- append a markdown report to ``$GITHUB_STEP_SUMMARY`` (the job summary page);
- set step outputs in ``$GITHUB_OUTPUT``: ``changes``, ``in-sync``, ``blocked``, ``failed`` (apply),
  ``plan-json`` and ``plan-markdown`` (paths of the plan as JSON and as the PR comment's markdown,
  written under ``$RUNNER_TEMP/qspec``), and ``trainings``: the plan's trainings as one line of JSON,
  what a job matrix fans out (``qspec apply --only <only> --train-only`` each);
- fold apply's long logs (the plan it applies, the trainings' progress) into ``::group::`` blocks;
- turn errors into annotations: every problem of an invalid spec on its file and line, a failed or
  blocked item on the run.

Secrets: before anything is written, the password of the tracking URI (as given and percent-decoded)
and the token variables qspec reads are registered with ``::add-mask::``, so the runner hides them
even inside an error message; and nothing this module writes (summary, outputs, annotations) holds
a URI with credentials: each text is scrubbed of those values and passed through ``redact_uri``.

Workflow commands go to stderr, which the runner reads as it reads stdout: stdout stays the
command's output (``--format json`` stays JSON). Nothing here changes an exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

#: The hidden first line of the plan comment: the PR workflow finds its own comment by it and
#: updates it in place instead of posting another.
MARKER = "<!-- qspec-plan -->"

#: Variables whose values are credentials, besides the tracking URI's password.
SECRET_VARIABLES = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "QISKIT_IBM_TOKEN",
                    "DATABRICKS_TOKEN", "AWS_SECRET_ACCESS_KEY")

_URI_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


def enabled() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


# --- secrets ------------------------------------------------------------------------------------


def secrets(uris: Iterable[str | None] = ()) -> list[str]:
    """The credential strings to hide: each URI's password (or the whole userinfo when it has no
    password: a token), raw and percent-decoded, secret query values, and the token variables."""
    found: set[str] = set()
    for uri in [*uris, os.environ.get("MLFLOW_TRACKING_URI")]:
        if not uri:
            continue
        try:
            parts = urlsplit(uri)
        except ValueError:
            continue
        userinfo, at, _ = parts.netloc.rpartition("@")
        if at and userinfo:
            _, colon, password = userinfo.partition(":")
            secret = password if colon else userinfo
            found.update({secret, unquote(secret)})
        for pair in parts.query.split("&"):
            key, eq, value = pair.partition("=")
            if eq and value and key.lower() in ("password", "passwd", "pwd", "token", "secret", "access_token",
                                                "api_key"):
                found.update({value, unquote(value)})
    found.update(v for name in SECRET_VARIABLES if (v := os.environ.get(name)))
    # A secret of a character or two would mask every occurrence of that character in the log.
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def scrub(text: str, hidden: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced by ``***`` and every URI in it without credentials."""
    from qspec.plan.saved import redact_uri

    for secret in hidden:
        text = text.replace(secret, "***")
    return _URI_IN_TEXT.sub(lambda m: redact_uri(m.group(0)), text)


def mask(hidden: Iterable[str]) -> None:
    """Register each secret with the runner, which then prints it as ``***`` wherever it appears."""
    for secret in hidden:
        for line in secret.splitlines():  # add-mask takes one line
            if line.strip():
                _command("add-mask", line)


# --- workflow commands --------------------------------------------------------------------------


def escape(text: str, prop: bool = False) -> str:
    """Workflow-command escaping: data escapes %, CR and LF; properties also ':' and ','."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def command_line(name: str, message: str = "", **props: object) -> str:
    given = ",".join(f"{key}={escape(str(value), True)}" for key, value in props.items() if value is not None)
    return f"::{name}{' ' + given if given else ''}::{escape(message)}"


def _command(name: str, message: str = "", **props: object) -> None:
    sys.stdout.flush()  # keep the order of what stdout printed before it
    sys.stderr.write(command_line(name, message, **props) + "\n")
    sys.stderr.flush()


class Groups:
    """``::group::`` blocks on stderr, one open at a time (GitHub does not nest them)."""

    def __init__(self) -> None:
        self.open_title: str | None = None

    def open(self, title: str) -> None:
        if not enabled():
            return
        self.close()
        _command("group", title)
        self.open_title = title

    def close(self) -> None:
        if self.open_title is not None:
            _command("endgroup")
            self.open_title = None

    def __enter__(self) -> Groups:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def annotate_error(exc: Exception, hidden: Iterable[str] = ()) -> None:
    """An error as annotations: each problem of a ``SpecError`` on its file and line, anything else
    on the run."""
    from qspec.errors import QspecError, SpecError

    hidden = list(hidden)
    if isinstance(exc, SpecError):
        for p in exc.problems:
            message = f"{p.path}: {p.message}" if p.path else p.message
            if p.hint:
                message += f" (hint: {p.hint})"
            _command("error", scrub(message, hidden), file=p.file, line=p.line or None, title="qspec")
        return
    if isinstance(exc, QspecError):
        where = f"{exc.where}: " if exc.where else ""
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        _command("error", scrub(f"{where}{exc.message}{hint}", hidden), title="qspec")


def annotate(level: str, title: str, message: str, hidden: Iterable[str] = ()) -> None:
    _command(level, scrub(message, hidden), title=title)


# --- files the runner reads ---------------------------------------------------------------------


def set_outputs(values: Mapping[str, str], hidden: Iterable[str] = ()) -> None:
    """Append step outputs to ``$GITHUB_OUTPUT`` (multi-line values with a random delimiter)."""
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return
    hidden = list(hidden)
    lines = []
    for name, value in values.items():
        value = scrub(value, hidden)
        if "\n" in value:
            delimiter = f"qspec_{uuid.uuid4().hex}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}")
        else:
            lines.append(f"{name}={value}")
    with open(target, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def append_summary(markdown: str, hidden: Iterable[str] = ()) -> None:
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(scrub(markdown, hidden).rstrip("\n") + "\n\n")


def artifact_dir() -> Path:
    """Where the plan files go: ``$RUNNER_TEMP/qspec`` (cleaned by the runner after the job)."""
    base = os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()
    target = Path(base) / "qspec"
    target.mkdir(parents=True, exist_ok=True)
    return target


def event() -> dict[str, Any]:
    """The webhook payload of the run (``$GITHUB_EVENT_PATH``), or {}."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _context_title(what: str) -> str:
    """``qspec plan for #12 (feature -> main)`` on a pull request, ``qspec apply at 1a2b3c4d5e6f`` on a push."""
    payload = event()
    pr = payload.get("pull_request")
    if isinstance(pr, dict) and pr.get("number") is not None:
        head = (pr.get("head") or {}).get("ref")
        base = (pr.get("base") or {}).get("ref")
        branches = f" ({head} -> {base})" if head and base else ""
        return f"{what} for #{pr['number']}{branches}"
    sha = os.environ.get("GITHUB_SHA")
    return f"{what} at {sha[:12]}" if sha else what


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def _context_line(planned: Any) -> str:
    from qspec.plan.saved import redact_uri

    git = planned.git
    where = f"commit `{git.commit[:12]}`" if git.commit else "no commit"
    base = f", changes since `{planned.base}`" if planned.base else ""
    return f"<sub>specs: {len(planned.specs)} resources at {where}{base}; registry: " \
           f"`{redact_uri(planned.tracking_uri)}`</sub>"


# --- per command ---------------------------------------------------------------------------------


def report_plan(planned: Any, hidden: Iterable[str] = ()) -> dict[str, str]:
    """``qspec plan`` in a workflow: the summary, the plan files, the outputs (returned too)."""
    from qspec.plan.actions import Action
    from qspec.plan.render import render_json, render_markdown, trainings

    hidden = list(hidden)
    plan = planned.plan
    markdown = "\n".join([MARKER, render_markdown(plan, title=_context_title("qspec plan")).rstrip("\n"), "",
                          _context_line(planned), ""])
    folder = artifact_dir()
    json_path, md_path = folder / "plan.json", folder / "plan.md"
    json_path.write_text(scrub(render_json(plan), hidden), encoding="utf-8")
    md_path.write_text(scrub(markdown, hidden), encoding="utf-8")
    append_summary(markdown, hidden)
    for item in plan.by_action(Action.BLOCKED):
        annotate("warning", "qspec plan: blocked", f"{item.subject}: {item.reason}", hidden)
    outputs = {
        "changes": _bool(plan.has_changes),
        "in-sync": _bool(plan.in_sync),
        "blocked": str(plan.counts["blocked"]),
        "plan-json": str(json_path),
        "plan-markdown": str(md_path),
        "trainings": _compact(trainings(plan)),
    }
    set_outputs(outputs, hidden)
    return outputs


def report_apply(result: Any, plan: Any, hidden: Iterable[str] = (), *, title: str = "qspec apply") -> dict[str, str]:
    """``qspec apply`` in a workflow: what each item did as the summary, errors as annotations."""
    from qspec.apply.result import Status
    from qspec.plan.render import render_json, summary_line, trainings

    hidden = list(hidden)
    done = [o for o in result.outcomes if o.status is Status.DONE]
    trained = [o.item.spec_hash for o in done if o.item.action.value == "train" and o.item.spec_hash]
    lines = [f"### {_context_title(title)}", "", f"**{summary_line(plan)}**", ""]
    if result.outcomes:
        lines += ["| status | action | subject | detail |", "| --- | --- | --- | --- |"]
        for o in result.outcomes:
            detail = o.detail.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {o.status.value} | {o.item.action.value} | `{o.item.subject}` | {detail} |")
        lines.append("")
    else:
        lines.append("No changes. The registry matches git.")
    lines += [f"- cleaned up: {c}" for c in result.cleanups]
    not_attempted = sum(1 for o in result.skipped if o.not_attempted)
    lines.append(f"\n{'Apply complete' if result.ok else 'Apply finished with errors'}: {len(result.done)} done, "
                 f"{len(result.skipped) - not_attempted} already in place, {not_attempted} not attempted, "
                 f"{len(result.blocked)} blocked, {len(result.failed)} failed.")
    append_summary("\n".join(lines), hidden)
    for o in result.failed:
        annotate("error", "qspec apply: failed", f"{o.item.subject}: {o.detail}", hidden)
    for o in result.blocked:
        annotate("warning", "qspec apply: blocked", f"{o.item.subject}: {o.detail}", hidden)
    json_path = artifact_dir() / "apply-plan.json"
    json_path.write_text(scrub(render_json(plan), hidden), encoding="utf-8")
    outputs = {
        "changes": _bool(result.changed),
        "blocked": str(len(result.blocked)),
        "failed": str(len(result.failed)),
        "plan-json": str(json_path),
        "trainings": _compact(trainings(plan)),
        "trained": _compact(trained),
    }
    set_outputs(outputs, hidden)
    return outputs


def report_status(report: Any, text: str, hidden: Iterable[str] = ()) -> dict[str, str]:
    """``qspec status`` in a workflow: the report as the summary, ``in-sync`` as an output."""
    append_summary(f"### {_context_title('qspec status')}\n\n```text\n{text.rstrip()}\n```", hidden)
    outputs = {"in-sync": _bool(report.in_sync)}
    set_outputs(outputs, hidden)
    return outputs


def _bool(value: bool) -> str:
    return "true" if value else "false"


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    """One ``::group::`` block around what the body prints (nothing outside GitHub Actions)."""
    groups = Groups()
    groups.open(title)
    try:
        yield
    finally:
        groups.close()
