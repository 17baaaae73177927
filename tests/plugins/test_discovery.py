"""The plug-in tables: found by module, light to import in any order, and kept away from the outer layers."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import qspec.plugins

PACKAGES = ("ansatze", "feature_maps", "optimizers", "targets")
HEAVY = ("qiskit", "qiskit_aer", "qiskit_ibm_runtime", "mlflow", "sklearn", "scipy", "numpy")
#: What a plug-in may not import even inside a function: the layers above the engine, and their tools.
ROOT = Path(qspec.plugins.__file__).parent


def modules(package: str) -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules([str(ROOT / package)]) if not info.name.startswith("_"))


def fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_every_plugin_imports_in_a_fresh_interpreter_without_heavy_modules() -> None:
    names = [f"qspec.plugins.{package}.{module}" for package in PACKAGES for module in modules(package)]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"for package in {PACKAGES!r}:\n"
        "    importlib.import_module('qspec.plugins.' + package).plugins()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    assert fresh(code) == "[]"


@pytest.mark.parametrize("package", PACKAGES)
def test_a_plugin_imported_before_the_spec_still_loads(package: str) -> None:
    # the spec models read the tables and plug-ins import the models' base: either may come first
    first = f"qspec.plugins.{package}.{modules(package)[0]}"
    code = (f"import {first}\nfrom qspec.spec import load_specs\n"
            "print(sorted(n for n, e in load_specs(['specs']).experiments.items()))")
    assert fresh(code.replace("'specs'", repr(str(ROOT.parents[1] / "specs")))).startswith("['breast-cancer-noisy'")


@pytest.mark.parametrize("package", PACKAGES)
def test_each_module_is_one_plugin_named_like_it(package: str) -> None:
    table = importlib.import_module(f"qspec.plugins.{package}").plugins()
    assert list(table) == modules(package)  # sorted by name, one per module
    for name, plugin in table.items():
        assert plugin.name == name
        assert importlib.import_module(f"qspec.plugins.{package}.{name}").PLUGIN is plugin


def test_a_module_without_a_plugin_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "extra_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text("class Thing:\n    name = 'good'\nPLUGIN = Thing()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    good = importlib.import_module("extra_plugins.good").PLUGIN
    thing = type(good)
    assert qspec.plugins.discover("extra_plugins", thing) == {"good": good}
    (package / "misnamed.py").write_text("from extra_plugins.good import Thing\nPLUGIN = Thing()\n")
    with pytest.raises(TypeError, match="named 'good', not 'misnamed'"):
        qspec.plugins.discover("extra_plugins", thing)
    (package / "misnamed.py").unlink()
    (package / "empty.py").write_text("x = 1\n")
    with pytest.raises(TypeError, match=r"extra_plugins\.empty defines no PLUGIN"):
        qspec.plugins.discover("extra_plugins", thing)
