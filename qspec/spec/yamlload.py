"""Safe YAML parsing that keeps line numbers and refuses what PyYAML would silently accept.

``parse_documents(label, raw)`` turns one file's bytes into ``Document`` objects, each holding the
plain data and the YAML node graph it came from (used only to find the line of a key path when
something is wrong). Refused, each as a ``Problem`` naming the file and line:

- bytes that are not UTF-8 text (binary files, Latin-1, ...);
- a key given twice in one mapping (PyYAML keeps the last one without a word);
- anchors and aliases that expand to a huge or recursive document ("billion laughs");
- documents nested deeper than ``MAX_DEPTH`` levels;
- tags that construct Python objects (only the safe constructor is used).

Every problem carries a hint: tabs, unterminated quotes, duplicate and non-scalar keys, nesting,
unclosed brackets and the other syntax errors each say what to change.

Called by ``qspec.spec.load``; libyaml's C parser is used where PyYAML was built with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from qspec.errors import Problem

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment,unused-ignore]

#: The largest number of nodes one document may have once its aliases are expanded.
MAX_EXPANDED_NODES = 20_000

#: The deepest nesting of mappings and lists read (a spec needs six levels).
MAX_DEPTH = 64

DEPTH_HINT = (f"spec documents are a few levels deep (at most {MAX_DEPTH} are read): look for brackets opened "
              "and never closed")


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _CycleError(Exception):
    pass


class _TooDeepError(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__()
        self.mark = mark


class _StrictLoader(_BaseLoader):
    """libyaml's parser and composer with PyYAML's safe constructors for scalars only."""


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


def _next_node(loader: _StrictLoader) -> yaml.Node:
    node = loader.get_node()
    assert node is not None  # check_node() said there is one
    return node


def _construct(loader: _StrictLoader, node: yaml.Node, depth: int = 0) -> Any:
    """Node graph -> plain data, checking duplicate keys on the way.

    Faster than PyYAML's generic ``construct_document`` (no bookkeeping for recursive objects,
    which ``_check_expansion`` has already refused). Scalars of any tag other than str go to
    the safe constructor of that tag, which also refuses Python tags."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _STR:
            return node.value
        constructor = loader.yaml_constructors.get(node.tag)
        if constructor is None:
            return loader.construct_object(node, deep=True)  # raises "could not determine a constructor"
        return constructor(loader, node)
    if depth >= MAX_DEPTH:
        raise _TooDeepError(node.start_mark)
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
        return [_construct(loader, item, depth + 1) for item in node.value]
    if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
        seen: dict[Any, yaml.Node] = {}
        merged = False
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                merged = True
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            if key in seen:
                first = seen[key].start_mark.line + 1
                shown = repr(key) if len(repr(key)) <= 40 else repr(str(key)[:37] + "...")
                raise _DuplicateKey(
                    problem=f"key {shown} appears twice in this mapping (first on line {first})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node
        if merged:
            # `<<` merges are legal YAML; keys written here override merged ones.
            loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, depth + 1)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                )
            out[key] = _construct(loader, value_node, depth + 1)
        return out
    return loader.construct_object(node, deep=True)  # other tags (!!set, !!omap, ...): safe constructor


class _FileText:
    """The text of one file, re-composed into YAML nodes only when a line must be found.

    Keeping every document's node graph alive would make the cyclic garbage collector walk
    them all, again and again: validating 3,000 documents took three times as long."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._nodes: list[yaml.Node] = []

    def node(self, index: int) -> yaml.Node:
        # Compose only as far as needed: a later document may be broken (it was reported already).
        if index >= len(self._nodes):
            loader = _StrictLoader(self.text)
            try:
                self._nodes = []
                while len(self._nodes) <= index and loader.check_node():
                    self._nodes.append(_next_node(loader))
            finally:
                loader.dispose()
        return self._nodes[index]


@dataclass
class Document:
    """One YAML document of a spec file: its data, and where each key of it was written."""

    file: str
    index: int
    line: int
    data: Any
    source: _FileText = field(repr=False)

    @property
    def node(self) -> yaml.Node:
        return self.source.node(self.index)

    def locate(self, loc: tuple[str | int, ...]) -> tuple[int, tuple[str | int, ...]]:
        """The line of the deepest part of ``loc`` present in the file, and ``loc`` reduced to the
        components that are keys or indices of the document (pydantic adds union tags to its locs)."""
        node, line, shown = self.node, self.line, []
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                        line, node = key_node.start_mark.line + 1, value_node
                        shown.append(part)
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
                shown.append(part)
        return line, tuple(shown)


def parse_documents(label: str, raw: bytes) -> tuple[list[Document], list[Problem]]:
    """Parse every document of one file. Problems are returned, never raised."""
    nul = raw.find(b"\x00", 0, 8192)
    if nul >= 0:
        return [], [Problem(label, raw[:nul].count(b"\n") + 1, "", "is a binary file, not YAML text",
                            "spec files are UTF-8 YAML")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [
            Problem(
                label,
                line,
                "",
                f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                "save the file as UTF-8",
            )
        ]

    documents: list[Document] = []
    holder = _FileText(text)
    may_alias = "*" in text
    loader = _StrictLoader(text)
    try:
        while loader.check_node():
            node = _next_node(loader)
            if may_alias:
                problem = _check_expansion(label, node)
                if problem:
                    return documents, [problem]
            data = _construct(loader, node)
            documents.append(Document(label, len(documents), node.start_mark.line + 1, data, holder))
    except _TooDeepError as exc:
        return documents, [Problem(label, exc.mark.line + 1, "", f"the document is nested more than {MAX_DEPTH} "
                                   "levels deep", DEPTH_HINT)]
    except yaml.MarkedYAMLError as exc:
        return documents, [_syntax_problem(label, text, exc)]
    except yaml.reader.ReaderError as exc:
        at: int | None = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        character = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return documents, [Problem(label, at, "", f"holds the control character {character}, which YAML refuses",
                                   "spec files are UTF-8 YAML text: remove the character (write it as an escape, "
                                   "e.g. \"\\x07\", inside double quotes)")]
    except yaml.YAMLError as exc:
        return documents, [Problem(label, None, "", f"cannot be parsed as YAML: {exc}",
                                   "spec files are UTF-8 YAML text, without control characters")]
    finally:
        loader.dispose()
    return documents, []


def _syntax_problem(label: str, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    """A YAML error as a Problem at the line to fix, with a hint for each kind of mistake."""
    mark = exc.problem_mark or exc.context_mark
    message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
    lines = text.splitlines()
    row = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    where = mark.line + 1 if mark is not None else None
    opened = exc.context_mark.line + 1 if exc.context_mark is not None else where
    if isinstance(exc, _DuplicateKey):
        hint = "a key appears once per mapping: remove one of the two, or merge their values"
    elif "tag" in message and "constructor" in message:
        hint = "only plain YAML is read: tags that build Python objects are refused"
    elif "\t" in row[: (mark.column + 1) if mark is not None else None] or "tab" in message:
        hint = "YAML indents with spaces, never tabs: replace the tab on this line with spaces"
    elif "quoted scalar" in message:
        where = opened
        hint = f"the quote opened on line {opened} is never closed: end the value with the same quote character"
    elif "nesting depth" in message:
        hint = DEPTH_HINT
    elif "plain value" in message:
        hint = "a key is a plain word or number (name:, 3:), not a list or a mapping"
    elif "undefined alias" in message:
        hint = "define the anchor (&name) before it is used, in the same document: anchors do not cross '---'"
    elif "mapping values are not allowed" in message:
        hint = "quote a value that holds ': ' (description: 'a: b'), or check the indentation of this line"
    elif "flow sequence" in message or "flow mapping" in message:
        hint = f"close the [ or {{ opened on line {opened} (items are separated by commas)"
    elif "block" in message or "expected key" in message or "':'" in message:
        hint = "check the indentation: the keys of one mapping start in the same column, and each key ends with ':'"
    else:
        hint = "check the indentation, colons, quotes and brackets on this line and the one above"
    return Problem(label, where, "", message, hint)


def _check_expansion(label: str, root: yaml.Node) -> Problem | None:
    """Refuse documents whose aliases expand past MAX_EXPANDED_NODES, or into themselves.

    Sizes are memoised per node, so a "billion laughs" document is measured in linear time
    without ever being expanded."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _CycleError
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
        active.discard(key)
        sizes[key] = total
        return total

    try:
        total = size(root)
    except _CycleError:
        return Problem(
            label,
            root.start_mark.line + 1,
            "",
            "an alias refers to the node that contains it",
            "spec documents are trees: remove the recursive alias",
        )
    except RecursionError:
        return Problem(label, root.start_mark.line + 1, "", f"the document is nested more than {MAX_DEPTH} levels deep",
                       DEPTH_HINT)
    if total > MAX_EXPANDED_NODES:
        return Problem(
            label,
            root.start_mark.line + 1,
            "",
            f"aliases expand this document to {total:,} nodes (at most {MAX_EXPANDED_NODES:,} are read)",
            "write the values out instead of nesting aliases",
        )
    return None
