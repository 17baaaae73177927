"""These tests drive the CLI, which writes GitHub output when it runs on a GitHub runner
(``GITHUB_ACTIONS=true``, ``qspec/cli/github.py``). When the suite itself runs on one (the ``test``
job of ``.github/workflows/ci.yml``), that would append to the job's real summary and outputs and
add workflow commands to what the tests read: each test starts without the runner's variables, and
sets the ones it means to use."""

from __future__ import annotations

import pytest

RUNNER_VARIABLES = ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH",
                    "GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME", "GITHUB_SHA", "RUNNER_TEMP")


@pytest.fixture(autouse=True)
def _not_on_a_github_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in RUNNER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
