"""Content hashes: the identity of a spec (docs/architecture.md, "Identity and vocabulary").

An experiment's hash is the sha256 of its normalized spec (defaults filled in, keys sorted, as
canonical JSON) together with a fingerprint of the data it reads. Comments, key order, quoting and
formatting do not change it; any field that can change the trained result does. Fields that
cannot change the result (budget, the MLflow experiment name, the price per QPU second) are left
out, so raising a budget does not retrain. The metadata (name, description, labels) is left out
too: identity is content, not name.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from qspec.spec.models import Experiment, Resource

#: Key paths of an Experiment that do not take part in its identity.
NOT_IDENTITY: tuple[tuple[str, ...], ...] = (
    ("spec", "budget"),
    ("spec", "tracking"),
    ("spec", "backend", "price_per_second_usd"),
)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def normalized(resource: Resource) -> dict[str, Any]:
    """The resource as plain JSON data, every default filled in."""
    data: dict[str, Any] = resource.model_dump(mode="json", by_alias=True)
    return data


def experiment_identity(experiment: Experiment, data_fingerprint: str | None) -> dict[str, Any]:
    data = normalized(experiment)
    for path in NOT_IDENTITY:
        node = data
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1], None)
    del data["metadata"]
    return {"resource": data, "data_fingerprint": data_fingerprint}


def spec_hash(resource: Resource, data_fingerprint: str | None = None) -> str:
    """sha256 hex digest of a resource's identity."""
    if isinstance(resource, Experiment):
        identity = experiment_identity(resource, data_fingerprint)
    else:
        identity = normalized(resource)
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()


def data_fingerprint(source: str, content: bytes | None) -> str:
    """What the hash knows of a data set: the bytes of a csv file, or the name of a set that
    scikit-learn ships (those files are fixed within scikit-learn)."""
    if content is None:
        return source
    return "sha256:" + hashlib.sha256(content).hexdigest()
