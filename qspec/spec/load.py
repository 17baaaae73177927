"""Load and validate a set of spec files into a ``SpecSet`` (the desired state).

``load_source(source)`` is what ``qspec validate`` and the planner call (``load_specs(paths)`` reads
the work tree; ``qspec.api`` also passes a git revision's source). Every problem of the run is
collected (YAML, per-field, cross-field, cross-document) and raised together as one ``SpecError``;
each problem names ``file:line``, the key path and a hint. On success each resource carries its
content hash.
"""

from __future__ import annotations

import itertools
import re
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from qspec.errors import Problem, QspecError, SourceError, SpecError
from qspec.spec import checks
from qspec.spec.hashing import data_fingerprint, spec_hash
from qspec.spec.models import (
    API_VERSION,
    KINDS,
    RESOURCE_TYPES,
    Deployment,
    Experiment,
    Model,
    Resource,
    shown,
)
from qspec.spec.source import DATA_HINT, SpecSource, open_source
from qspec.spec.table import CELL_HINT, TableError, read_table
from qspec.spec.yamlload import Document, parse_documents

R = TypeVar("R", bound=Resource)


@dataclass(frozen=True)
class Loaded(Generic[R]):
    """A validated resource, where it was written, and its content hash."""

    resource: R
    document: Document = field(repr=False)
    hash: str

    @property
    def name(self) -> str:
        return self.resource.metadata.name

    @property
    def file(self) -> str:
        return self.document.file

    @property
    def line(self) -> int:
        return self.document.line


#: The stage ``qspec monitor``, ``render`` and ``serve`` address when none is named (if declared).
DEFAULT_STAGE = "production"


@dataclass
class SpecSet:
    """Every resource of one revision of the spec repository, by kind and name."""

    root: Path
    revision: str | None
    experiments: dict[str, Loaded[Experiment]] = field(default_factory=dict)
    models: dict[str, Loaded[Model]] = field(default_factory=dict)
    deployments: dict[str, Loaded[Deployment]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    data_fingerprints: dict[str, str] = field(default_factory=dict)
    #: (kind, name) of documents that declare a resource but failed validation: a reference to
    #: one is not reported again as "no Experiment named ...".
    invalid: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def __iter__(self) -> Iterator[Loaded[Any]]:
        yield from self.experiments.values()
        yield from self.models.values()
        yield from self.deployments.values()

    def __len__(self) -> int:
        return len(self.experiments) + len(self.models) + len(self.deployments)

    def deployment_stage(self, name: str, stage: str | None = None) -> tuple[Loaded[Deployment], str]:
        """The Deployment ``name`` and one of its stages: ``stage``, else ``production`` when it is
        declared, else the only one. What ``qspec monitor``, ``render`` and ``serve`` address; an
        unknown name or stage is a ``QspecError`` with the closest match or the choices."""
        loaded = self.deployments.get(name)
        if loaded is None:
            raise QspecError(f"no Deployment named {name!r}", hint=checks.suggest(name, list(self.deployments),
                                                                                  "Deployment"))
        stages = list(loaded.resource.spec.stages)
        if stage is None:
            if DEFAULT_STAGE in stages:
                return loaded, DEFAULT_STAGE
            if len(stages) == 1:
                return loaded, stages[0]
            raise QspecError(f"Deployment {name!r} has several stages and none is {DEFAULT_STAGE!r}",
                             where=loaded.file, hint="pass --stage: one of " + ", ".join(stages))
        if stage not in stages:
            line = loaded.document.locate(("spec", "stages"))[0]
            raise QspecError(f"Deployment {name!r} has no stage {stage!r}", where=f"{loaded.file}:{line}",
                             hint=checks.closest(stage, stages) or "its stages: " + ", ".join(stages))
        return loaded, stage


def load_specs(paths: Sequence[str | Path] | None = None, *, root: Path | None = None) -> SpecSet:
    """Load and validate the specs under ``paths`` in the work tree (``qspec.api.validate`` also reads
    a git revision)."""
    return load_source(open_source(paths, root=root))


def load_source(source: SpecSource) -> SpecSet:
    problems: list[Problem] = []
    valid: list[tuple[Resource, Document]] = []
    files = source.files()
    if not files:
        raise SourceError(
            f"no spec files (*.yaml, *.yml) found in {source.describe()}",
            hint="point qspec at the directory that holds your specs, e.g. --specs specs/",
        )
    invalid: set[tuple[str, str]] = set()
    for name in files:
        documents, found = parse_documents(name, source.read(name))
        problems.extend(found)
        for document in documents:
            resource = validate_document(document, problems)
            if resource is not None:
                valid.append((resource, document))
            else:
                invalid.update(_declared(document.data))

    specset = SpecSet(root=source.root, revision=source.revision, files=files, invalid=invalid)
    seen: dict[tuple[str, str], Document] = {}
    for resource, document in valid:
        key = (resource.kind, resource.metadata.name)  # type: ignore[attr-defined]
        if key in seen:
            first = seen[key]
            problems.append(
                Problem(
                    document.file,
                    document.locate(("metadata", "name"))[0],
                    "metadata.name",
                    f"{key[0]} {key[1]!r} is declared twice (first at {first.file}:{first.line})",
                    f"names are unique per kind; rename one of the two {key[0]}s",
                )
            )
            continue
        seen[key] = document
        fingerprint = None
        if isinstance(resource, Experiment):
            fingerprint = _data_fingerprint(resource, document, source, problems)
        loaded: Loaded[Any] = Loaded(resource, document, spec_hash(resource, fingerprint))
        if isinstance(resource, Experiment):
            specset.experiments[resource.name] = loaded
            if fingerprint is not None:
                specset.data_fingerprints[resource.name] = fingerprint
        elif isinstance(resource, Model):
            specset.models[resource.name] = loaded
        elif isinstance(resource, Deployment):
            specset.deployments[resource.name] = loaded

    problems.extend(checks.check_references(specset))
    if problems:
        raise SpecError(problems)
    return specset


def _declared(data: Any) -> set[tuple[str, str]]:
    """The (kind, name) a document that failed validation meant to declare, when it says."""
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return set()
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return {(data["kind"], name)} if isinstance(name, str) else set()


def validate_document(document: Document, problems: list[Problem]) -> Resource | None:
    """The resource a document declares, or None with its problems appended."""
    data, file = document.data, document.file
    if data is None:
        return None  # an empty document, e.g. after a trailing '---'
    if not isinstance(data, dict):
        problems.append(
            Problem(file, document.line, "", f"a spec document is a mapping, not a {type(data).__name__}",
                    "start with apiVersion: qspec/v1, kind, metadata, spec")
        )
        return None
    api = data.get("apiVersion")
    if not isinstance(api, str) or api != API_VERSION:
        line = document.locate(("apiVersion",))[0]
        what = ("has no apiVersion" if api is None else f"apiVersion {shown(api)} is not supported"
                if isinstance(api, str) else f"apiVersion is a {_type_name(api)}, not a string")
        problems.append(Problem(file, line, "apiVersion", what, f"write apiVersion: {API_VERSION}"))
        return None
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in RESOURCE_TYPES:
        line = document.locate(("kind",))[0]
        what = ("has no kind" if kind is None else f"unknown kind {shown(kind)}" if isinstance(kind, str)
                else f"kind is a {_type_name(kind)}, not a string")
        close = checks.closest(kind, list(KINDS)) if isinstance(kind, str) else None
        problems.append(Problem(file, line, "kind", what, close or "one of: " + ", ".join(KINDS)))
        return None
    cls = RESOURCE_TYPES[kind]
    try:
        resource = cls.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, document, cls))
        return None
    before = len(problems)
    if isinstance(resource, Experiment):
        for path, message, hint in checks.check_experiment(resource):
            problems.append(_at(document, path, message, hint))
    return resource if len(problems) == before else None


def _at(document: Document, path: tuple[str | int, ...], message: str, hint: str | None) -> Problem:
    line, _ = document.locate(path)
    return Problem(document.file, line, format_path(path), message, hint)


def format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems_from(exc: ValidationError, document: Document, cls: type[BaseModel]) -> list[Problem]:
    merged: dict[tuple[str | int, ...], tuple[int, list[str], str | None]] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        line, shown = document.locate(loc)
        if error["type"] == "missing" and loc:
            shown = (*shown, loc[-1])
        message = _message(error)
        hint = _hint(error, cls, loc)
        if shown in merged:
            old_line, messages, old_hint = merged[shown]
            if message not in messages:
                messages.append(message)
            merged[shown] = (old_line, messages, old_hint or hint)
        else:
            merged[shown] = (line, [message], hint)
    return [
        Problem(document.file, line, format_path(path), _joined(messages), hint)
        for path, (line, messages, hint) in merged.items()
    ]


def _joined(messages: list[str]) -> str:
    """Messages of one key path: a union's alternatives, or several errors at a key the file lacks."""
    if len(messages) <= 3:
        return " or ".join(messages)
    return " or ".join(messages[:3]) + f" (and {len(messages) - 3} more problems here)"


def _message(error: Any) -> str:
    kind, msg = error["type"], error["msg"]
    msg = msg.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"unknown key {shown(error['loc'][-1])}"
    if kind == "missing":
        return f"required key {error['loc'][-1]!r} is missing"
    if kind == "qspec":
        return str(msg)
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        return f"unknown {ctx.get('discriminator', 'tag').strip(chr(39))} {shown(ctx.get('tag'))}"
    value = error.get("input")
    if isinstance(value, (int, float, str, bool)) or value is None:
        return f"{msg[0].lower()}{msg[1:]}, got {shown(value)}"  # short values only
    return f"{msg[0].lower()}{msg[1:]}, got a {_type_name(value)}"


def _type_name(value: object) -> str:
    """What a YAML value is, in YAML's words."""
    return {dict: "mapping", list: "list", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__)


def _hint(error: Any, cls: type[BaseModel], loc: tuple[str | int, ...]) -> str | None:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "qspec":
        hint = ctx.get("hint")
        return str(hint) if hint else None
    if kind == "extra_forbidden":
        allowed = _keys_at(cls, loc[:-1])
        return checks.closest(str(loc[-1]), list(allowed)) or (
            "allowed keys here: " + ", ".join(sorted(allowed)) if allowed else None
        )
    if kind == "missing":
        return f"add {loc[-1]}: to this mapping"
    if kind in ("literal_error", "union_tag_invalid", "enum"):
        expected = str(ctx.get("expected") or ctx.get("expected_tags") or "")
        choices = re.findall(r"'([^']*)'", expected)
        given = error.get("input")
        if kind == "union_tag_invalid":
            given = ctx.get("tag")
        return checks.closest(str(given), list(choices)) or ("one of: " + ", ".join(choices) if choices else None)
    if kind in ("int_type", "float_type", "bool_type") and isinstance(error.get("input"), str):
        if kind == "float_type" and re.fullmatch(r"[-+]?[0-9.]+[eE][-+]?[0-9]+", error["input"].strip()):
            return "YAML reads an exponent as a number only with a dot and a sign, e.g. 1.0e+3 (and without quotes)"
        return "write the value without quotes"
    if (loc and loc[-1] == "[key]") or kind == "invalid_key":
        key = loc[-2] if loc and loc[-1] == "[key]" and len(loc) > 1 else loc[-1] if loc else ""
        return f"keys here are strings: quote the key, e.g. '{key}':"
    if kind == "finite_number":
        return _field_hint(cls, loc) or "write a finite number: .nan and .inf have no meaning here"
    if kind == "union_tag_not_found":
        tag = str(ctx.get("discriminator", "name")).strip("'")
        return f"add {tag}: to this mapping"
    return _field_hint(cls, loc) or _TYPE_HINTS.get(kind) or _limit_hint(kind, ctx)


def _limit_hint(kind: str, ctx: dict[str, Any]) -> str | None:
    """A hint from the limit pydantic checked, for fields whose description states none."""
    if kind == "greater_than_equal":
        return f"use a value of at least {ctx.get('ge')}"
    if kind == "greater_than":
        return f"use a value above {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"use a value of at most {ctx.get('le')}"
    if kind == "less_than":
        return f"use a value below {ctx.get('lt')}"
    if kind in ("too_short", "string_too_short"):
        return f"give at least {ctx.get('min_length')} {'character' if kind.startswith('string') else 'item'}(s)"
    if kind in ("too_long", "string_too_long"):
        return f"give at most {ctx.get('max_length')} {'characters' if kind.startswith('string') else 'items'}"
    return None


#: What to write instead, by pydantic error type, where the field states no limits of its own.
_TYPE_HINTS = {
    "int_type": "write a whole number without quotes or a decimal point, e.g. 42",
    "int_from_float": "write a whole number without a decimal point, e.g. 42",
    "int_parsing": "write a whole number, e.g. 42",
    "float_type": "write a number without quotes, e.g. 0.5",
    "float_parsing": "write a number, e.g. 0.5",
    "string_type": "write a text value here (quote it if YAML reads it as a number, a list or a mapping)",
    "bool_type": "write true or false",
    "dict_type": "write a mapping here: key: value lines, or {key: value}",
    "model_type": "write a mapping here: key: value lines, or {key: value}",
    "model_attributes_type": "write a mapping here: key: value lines, or {key: value}",
    "list_type": "write a list here: [a, b], or one '- item' per line",
    "none_required": "remove the value",
}


def _keys_at(cls: type[BaseModel], loc: tuple[str | int, ...]) -> set[str]:
    """The keys a mapping at ``loc`` may hold, found by walking the model's annotations."""
    current = _unwrap(_walk(cls, loc)[0])
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {f.alias or n for n, f in current.model_fields.items()}
    return set()


def _field_hint(cls: type[BaseModel], loc: tuple[str | int, ...]) -> str | None:
    """The description of the deepest field on ``loc``: where a spec field states its limits."""
    field_info = _walk(cls, loc)[1]
    return field_info.description if field_info is not None else None


def _walk(cls: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[Any, FieldInfo | None]:
    """The annotation at ``loc``, and the last model field met on the way."""
    current: Any = cls
    last: FieldInfo | None = None
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {f.alias or n: f for n, f in current.model_fields.items()}
            if part in fields:
                last = fields[part]
                current = last.annotation
            continue  # a union tag that pydantic added to the loc
        if get_origin(current) in _UNIONS:
            members = [m for m in get_args(current) if isinstance(m, type) and issubclass(m, BaseModel)]
            tagged = [m for m in members if part in get_args(m.model_fields.get("name", _NoField).annotation)]
            current = tagged[0] if tagged else (members[0] if members else current)
            continue
        origin = get_origin(current)
        if origin is dict:
            current = get_args(current)[1]
        elif origin is list:
            current = get_args(current)[0]
    return current, last


_UNIONS = (Union, types.UnionType)


class _NoField:
    annotation = None


def _unwrap(tp: Any) -> Any:
    from typing import Annotated

    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        args = get_args(tp)
        if get_origin(tp) in _UNIONS and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007 (built at run time)
            continue
        return tp


def _data_fingerprint(experiment: Experiment, document: Document, source: SpecSource,
                      problems: list[Problem]) -> str | None:
    data = experiment.spec.data
    if data is None:
        return None
    if data.csv_path is None:
        return data_fingerprint(data.source, None)
    path = data.csv_path
    if not source.exists(path):
        problems.append(
            _at(document, ("spec", "data", "source"), f"csv file {path!r} does not exist in {source.describe()}",
                "csv paths are relative to the repository root; is the file committed?")
        )
        return None
    try:
        content = source.read(path)
    except SourceError as exc:  # refused (not tracked, under .git/, out of the repository) or unreadable
        problems.append(_at(document, ("spec", "data", "source"), exc.message, exc.hint or DATA_HINT))
        return None
    for where, message, hint in _check_csv(experiment, path, content):
        problems.append(_at(document, where, message, hint))
    return data_fingerprint(data.source, content)


#: Bad cells reported per csv file; the rest are counted.
MAX_CELL_PROBLEMS = 5


def _check_csv(experiment: Experiment, path: str,
               content: bytes) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    """What training would refuse in a csv data set, each at the ``spec.data`` key to blame.

    A bad cell is named by ``path:line:column`` and its column's name, never by its value; the
    labels present are shown only once the file has parsed as data."""
    data = experiment.spec.data
    assert data is not None
    source = ("spec", "data", "source")
    try:
        table = read_table(path, content)
        column = table.label_column(data.target)
    except TableError as exc:
        return [(("spec", "data", exc.key), exc.message, exc.hint)]
    bad = list(itertools.islice(table.bad_cells(column), MAX_CELL_PROBLEMS + 1))
    if bad:
        out: list[tuple[tuple[str | int, ...], str, str | None]] = [
            (source, message, CELL_HINT) for message in bad[:MAX_CELL_PROBLEMS]]
        if len(bad) > MAX_CELL_PROBLEMS:
            more = sum(1 for _ in table.bad_cells(column)) - MAX_CELL_PROBLEMS
            out.append((source, f"{path}: {more:,} more rows or cells like these", CELL_HINT))
        return out
    out = [(("spec", "data", "classes", i), message, hint)
           for i, message, hint in table.missing_classes(column, data.classes)]
    raw_features = len(table.header) - 1
    if data.features is not None and data.features > raw_features:
        out.append((("spec", "data", "features"),
                    f"{data.features} features asked, the csv has {raw_features} feature columns",
                    f"use at most {raw_features} features (and as many qubits)"))
    if not out:
        out.extend(checks.check_split(data, table.class_rows(column, data.classes), raw_features))
    return out
