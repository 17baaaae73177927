"""Secrets stay out of everything qspec prints, logs or records: one ``mask`` for every message.

    mask("cannot connect: token abc123... refused")  ->  "cannot connect: token *** refused"

What counts as a secret, read from the environment each time (a test, or a CI step, may set one
after qspec was imported):

- the values of the variables libraries read credentials from (``SECRET_ENV``: the IBM Quantum
  token, MLflow's password and token, AWS, Azure, Databricks and GitHub keys), and of any variable
  whose name says it holds one (``*_TOKEN``, ``*_PASSWORD``, ``*_SECRET``, ``*_API_KEY``,
  ``*_ACCESS_KEY``, ``*_SECRET_ACCESS_KEY``); values shorter than ``MIN_SECRET`` characters are
  left alone (``1``, ``true`` would mask half a message);
- the password of a URI's userinfo (``postgresql://qspec:***@db/mlflow``), also when the URI is
  not in the environment;
- the value of an ``Authorization`` header (``AUTHORIZATION: basic ***``), as a CI checkout keeps
  one in ``.git/config``.

Where it is applied: every line the CLI writes to stderr (errors, hints, notes), the details of
apply's outcomes (the JSON ones too), a plan's blocked reasons that quote a library's error, the
run tags, params and text artifacts that tracking writes to MLflow, and every log record of the
process once ``install_log_masking`` ran (the CLI calls it). Standard library only: every layer
may import it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

#: Variables whose values are credentials, whatever their length.
SECRET_ENV = (
    "QISKIT_IBM_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET",
    "DATABRICKS_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)

#: Any other variable named like one of these holds a secret too.
_SECRET_NAME = re.compile(r"(?i)(TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY)$")
#: Shorter values are not masked: they would match everywhere and protect nothing.
MIN_SECRET = 6
#: What a secret becomes.
MASK = "***"

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/?#\s]*):(?P<password>[^@/?#\s]+)@")
_AUTHORIZATION = re.compile(r"(?i)(\bauthorization\b[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|token)?\s*)[^\s\"',}]+")


def secret_values(environ: Iterable[tuple[str, str]] | None = None) -> list[str]:
    """The secret values of the environment, longest first (so a secret that contains another is
    masked whole)."""
    found: set[str] = set()
    for name, value in environ if environ is not None else os.environ.items():
        value = value.strip()
        if len(value) < MIN_SECRET:
            continue
        if name in SECRET_ENV or _SECRET_NAME.search(name):
            found.add(value)
    return sorted(found, key=len, reverse=True)


def mask(text: str) -> str:
    """``text`` with every secret replaced by ``***`` (see the module docstring for what is one)."""
    if not text:
        return text
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    return _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, text)


def mask_mapping(values: dict[str, str]) -> dict[str, str]:
    """Tags or params with their values masked (keys are qspec's own names)."""
    return {key: mask(value) for key, value in values.items()}


def mask_files(directory: Path, *, limit: int = 16 * 2**20) -> None:
    """Rewrite the text files under ``directory`` (up to ``limit`` bytes each) that hold a secret,
    masked, before they are uploaded as artifacts. Binary files cannot be masked and are left as
    they are; nothing qspec writes puts a secret in one."""
    values = secret_values()
    for path in directory.rglob("*"):
        if not path.is_file() or path.is_symlink() or path.stat().st_size > limit:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        masked = mask(text) if any(v in text for v in values) or "://" in text or "uthorization" in text else text
        if masked != text:
            path.write_text(masked, encoding="utf-8")


class _MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info, record.exc_text = None, text
        return True


_FILTER = _MaskingFilter()
_installed = False


def install_log_masking() -> None:
    """Mask secrets in every log record of this process, whichever library logs it: a record
    factory masks each record as it is made (handlers attached later included). Idempotent."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _FILTER.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
