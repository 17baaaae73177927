"""The JSON Schema of the spec language, generated from the pydantic models.

Served by ``qspec schema`` for editors: point the YAML language server at it with
``# yaml-language-server: $schema=qspec.schema.json`` and keys, enums and ranges are checked
while typing.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from qspec.spec.models import Deployment, Experiment, Model

_ANY_RESOURCE = TypeAdapter(Annotated[Experiment | Model | Deployment, Field(discriminator="kind")])


def json_schema() -> dict[str, Any]:
    schema: dict[str, Any] = _ANY_RESOURCE.json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "qspec/v1 resource (Experiment, Model or Deployment)",
        **schema,
    }
