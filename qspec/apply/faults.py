"""Crash points for testing crash safety: ``QSPEC_CRASH_AT=<point>`` kills the process there.

The crash-safety tests (tests/e2e) SIGKILL ``qspec apply`` at exact points of its work, which
polling from outside cannot hit reliably: mid-training, and between registering a version and
pointing an alias at it. Unset (always, outside those tests), a checkpoint costs one dict lookup.

Points: ``training`` (at an optimizer iteration), ``registered`` (a version exists, no alias yet).
"""

from __future__ import annotations

import os
import signal

ENV = "QSPEC_CRASH_AT"


def checkpoint(point: str) -> None:
    if os.environ.get(ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
