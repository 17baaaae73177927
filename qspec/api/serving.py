"""``render`` and ``serve``: a Deployment stage's ``serving`` block as deploy configuration, or as a
local ``mlflow models serve``.

Both read the stage from the specs in the work tree (``qspec.serving.config.served_stage``) and use
the one command and environment ``qspec.serving.config`` builds, so what runs locally is what the
manifests run. ``render`` is pure (no registry, no git beyond finding the specs); ``serve`` checks
that the alias exists in the registry, warns when the registry's serving record differs from git
(not applied yet), and runs the server in the foreground with its signals forwarded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from qspec import tags as tag
from qspec.api.wiring import Workspace, connect_registry
from qspec.errors import QspecError
from qspec.plugins.targets import target_of
from qspec.serving.config import ServedStage, serve_command, served_stage, serving_env
from qspec.serving.render import DEFAULT_IMAGE, DEFAULT_SECRET
from qspec.serving.render import render as render_text

#: The port ``qspec serve`` listens on when ``--port`` is not given (``mlflow models serve``'s own default).
DEFAULT_PORT = 5000


@dataclass(frozen=True)
class Rendered:
    served: ServedStage
    text: str


def stage(deployment: str, stage_name: str | None = None, *, specs: Sequence[str | Path] | None = None,
          root: Path | None = None) -> ServedStage:
    """The served stage ``stage_name`` of ``deployment``, from the specs in the work tree."""
    return served_stage(Workspace.open(specs, root=root).load(), deployment, stage_name)


def render(deployment: str, fmt: str, *, stage_name: str | None = None, image: str = DEFAULT_IMAGE,
           secret: str = DEFAULT_SECRET, specs: Sequence[str | Path] | None = None,
           root: Path | None = None) -> Rendered:
    """The deploy configuration (``kubernetes`` or ``compose``) of a stage, as YAML text."""
    served = stage(deployment, stage_name, specs=specs, root=root)
    return Rendered(served, render_text(served, fmt, image=image, secret=secret))


def serve(deployment: str, *, stage_name: str | None = None, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
          specs: Sequence[str | Path] | None = None, tracking_uri: str | None = None, root: Path | None = None,
          note: Callable[[str], None] | None = None) -> int:
    """Run ``mlflow models serve`` of the stage's alias as the stage declares; its exit code.

    The tracking URI is resolved as for every command (``--tracking-uri``, ``MLFLOW_TRACKING_URI``,
    the embedded store) and handed to the server in its environment."""
    workspace = Workspace.open(specs, root=root)
    served = served_stage(workspace.load(), deployment, stage_name)
    # The server runs here: a target that needs an account (ibm:) needs it here, before anything starts.
    target_of(served.serving.target).check_credentials()
    tracking, registry = connect_registry(tracking_uri, workspace.root)
    model = registry.get_model(served.model)
    if model is None:
        raise QspecError(f"registered model {served.model!r} does not exist", where=tracking.uri,
                         hint="qspec apply registers what the specs declare (qspec plan shows what it would do)")
    if served.stage not in model.aliases:
        raise QspecError(f"{served.model}@{served.stage} is not set: the stage has no version to serve yet",
                         where=tracking.uri, hint="run qspec apply; qspec status shows each alias")
    recorded = model.tags.get(tag.serving_record(served.stage))
    if recorded != served.serving.canonical() and note is not None:
        note(f"note: the registry's serving record of @{served.stage} differs from git "
             f"({'none' if recorded is None else recorded}); qspec apply records it. Serving as git declares.")
    if note is not None:
        note(f"serving {served.model_uri} (v{model.aliases[served.stage]}) on http://{host}:{port} "
             f"as {served.deployment} declares: {served.serving.canonical()}")
    command = serve_command(served, host=host, port=port)
    # This interpreter's mlflow, and its scripts first on PATH (models serve execs uvicorn from
    # PATH), as an activated virtual environment would have them.
    argv = [sys.executable, "-m", "mlflow", *command[1:]]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.uri, **serving_env(served)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return run_forwarding_signals(argv, env)


def run_forwarding_signals(argv: list[str], env: dict[str, str]) -> int:
    """Run ``argv`` in a session of its own, forwarding SIGINT, SIGTERM and SIGHUP to its process
    group (the server and its workers); its exit code (128 + N when signal N ended it)."""
    try:
        process = subprocess.Popen(argv, env=env, start_new_session=True)
    except OSError as exc:
        raise QspecError(f"cannot start {argv[0]}: {exc}", hint="is mlflow installed in this environment?") from exc

    def forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):  # it has just exited
            os.killpg(process.pid, signum)

    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in forwarded}
    try:
        code = process.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code
