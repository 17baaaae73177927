"""Plug-ins: the ansätze, feature maps, optimizers and backend targets a spec may name, one module each.

Each sub-package (``ansatze``, ``feature_maps``, ``optimizers``, ``targets``) defines the type its
plug-ins implement and a cached ``plugins()`` that imports every module of the package and returns
``{name: plug-in}`` sorted by name; each module defines one plug-in object, ``PLUGIN``, named as
the module. Adding one is adding one module: the spec models build their enums and unions from
these tables (so an unknown name is a validation error), and the engine, the estimate and the
run tags dispatch through them.

A plug-in module imports nothing heavy at module level (qiskit, qiskit-aer, qiskit-ibm-runtime,
scipy, scikit-learn, numpy): those are imported inside the functions that use them, because
``qspec validate`` reads the tables and must stay light. Plug-ins never import tracking, the
registry, the API, the CLI, MLflow or git.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

P = TypeVar("P")


def discover(package: str, kind: type[P] | Any) -> dict[str, P]:
    """``{name: plug-in}`` of every module of ``package`` (``PLUGIN``, an instance of ``kind``), by name."""
    module = importlib.import_module(package)
    found: dict[str, P] = {}
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        plugin = getattr(importlib.import_module(f"{package}.{info.name}"), "PLUGIN", None)
        if not isinstance(plugin, kind):
            raise TypeError(f"{package}.{info.name} defines no PLUGIN of type {kind.__name__}")
        if getattr(plugin, "name", None) != info.name:
            # one name for the file, the spec and the table: a plug-in is found where it is named
            raise TypeError(f"{package}.{info.name}.PLUGIN is named {getattr(plugin, 'name', None)!r}, "
                            f"not {info.name!r} like its module")
        found[info.name] = plugin
    return found


# The spec models read the plug-in tables, and plug-in modules import the spec models' base
# (optimizer options are SpecModels). Whichever is imported first, qspec.spec.models must run
# before any plug-in module: it defines its base, then imports the sub-packages, which use
# ``discover`` above. Hence this import, last.
import qspec.spec.models  # noqa: E402, F401
