"""From a spec file's bytes to plain data (dicts, lists, numbers, text), refusing non-specs.

Kept apart from the models so that the hostile-input handling (binary files, wrong
encodings, FIFOs, huge or deeply nested files, YAML tags) is in one place. Every refusal is
a ``SpecError`` with field ``""``: the problem is the file itself, not one of its fields.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from videogen_dagster.domain.errors import SpecError, SpecProblem

#: A spec is a short text file; anything bigger is refused before it is parsed.
MAX_SPEC_BYTES = 1024 * 1024
SPEC_SUFFIXES = (".yaml", ".yml", ".json")

_EMPTY_MESSAGE = "is empty: a spec needs at least 'duration' and either 'prompt' or 'beats'"


def suffix_problem(suffix: str) -> SpecProblem | None:
    """Why a file with this suffix cannot be a spec, or None when it can."""
    if suffix.lower() in SPEC_SUFFIXES:
        return None
    shown = repr(suffix) if suffix else "no extension"
    return SpecProblem("", f"has {shown}; a spec file must end in .yaml, .yml or .json")


def read_spec_bytes(path: Path) -> bytes:
    """The content of the spec file at ``path``: a regular file of at most ``MAX_SPEC_BYTES``."""
    source = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError(source, [SpecProblem("", "does not exist")]) from None
    except OSError as exc:
        raise SpecError(source, [SpecProblem("", f"cannot be read: {os_reason(exc)}")]) from None
    # A FIFO or device named *.yaml would block or never end: read regular files only.
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(source, [SpecProblem("", "is not a regular file")])
    if info.st_size > MAX_SPEC_BYTES:
        raise SpecError(source, [_too_large_problem(info.st_size)])
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(source, [SpecProblem("", f"cannot be read: {os_reason(exc)}")]) from None
    if len(data) > MAX_SPEC_BYTES:  # the file grew after stat
        raise SpecError(source, [_too_large_problem(len(data))])
    return data


def parse_spec_data(text_or_bytes: str | bytes, source: str) -> dict[str, Any]:
    """The mapping written in ``text_or_bytes``; ``source``'s suffix picks YAML or JSON."""
    problem = suffix_problem(Path(source).suffix)
    if problem is not None:
        raise SpecError(source, [problem])
    text = _decode(text_or_bytes, source)
    if not text.strip():
        raise SpecError(source, [SpecProblem("", _EMPTY_MESSAGE)])
    is_json = Path(source).suffix.lower() == ".json"
    data = _parse_json(text, source) if is_json else _parse_yaml(text, source)
    if data is None:  # a YAML file of comments only
        raise SpecError(source, [SpecProblem("", _EMPTY_MESSAGE)])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({data!r:.40})"
        message = f"must be a mapping of fields (prompt: ..., duration: ...), not {kind}"
        raise SpecError(source, [SpecProblem("", message)])
    return data


def os_reason(exc: OSError) -> str:
    """The operating system's reason in lower case, as the end of a sentence."""
    return (exc.strerror or str(exc)).lower()


def _too_large_problem(size: int) -> SpecProblem:
    return SpecProblem("", f"is {size} bytes; a spec file must be at most {MAX_SPEC_BYTES} bytes")


def _decode(text_or_bytes: str | bytes, source: str) -> str:
    if isinstance(text_or_bytes, str):
        text = text_or_bytes
    else:
        if len(text_or_bytes) > MAX_SPEC_BYTES:
            raise SpecError(source, [_too_large_problem(len(text_or_bytes))])
        if b"\x00" in text_or_bytes:
            raise SpecError(
                source, [SpecProblem("", "is a binary file (it holds NUL bytes), not a text spec")]
            )
        try:
            text = text_or_bytes.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            bad = text_or_bytes[exc.start]
            raise SpecError(
                source,
                [
                    SpecProblem(
                        "",
                        f"is not UTF-8 text: byte 0x{bad:02x} at offset {exc.start} is not "
                        "valid UTF-8 (save the file as UTF-8)",
                    )
                ],
            ) from None
    if "\x00" in text:
        raise SpecError(source, [SpecProblem("", "holds NUL characters, not a text spec")])
    return text


# YAML 1.1 reads 16:9 as the base-60 number 969 and 1:30 as 90; a spec means neither, so
# these resolvers are PyYAML's own without the base-60 forms.
_YAML_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_YAML_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"


#: A spec is four levels deep (spec, beats, beat, value); this leaves room and stops the
#: quadratic time PyYAML's scanner spends on thousands of nested brackets.
MAX_NESTING = 20


class _TooDeep(Exception):
    pass


class _SpecYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without base-60 numbers, refusing a key written twice in a mapping
    and nesting deeper than ``MAX_NESTING``.

    The pure-Python loader on purpose: its limits can be set here, where the C parser's
    recursion could not be bounded.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _TooDeep
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key_node.value!r} is written twice", key_node.start_mark
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_SpecYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecYamlLoader.add_implicit_resolver(_INT_TAG, _YAML_INT, list("-+0123456789"))
_SpecYamlLoader.add_implicit_resolver(_FLOAT_TAG, _YAML_FLOAT, list("-+0123456789."))


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_SpecYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.reader.ReaderError as exc:
        message = (
            f"is not valid YAML: the character {exc.character!r} at position {exc.position} "
            "is not allowed"
        )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        # The context is worth saying when it is a sentence of its own ("expected a single
        # document"), not when it is the parser's position ("while parsing a block mapping").
        parts = [exc.context] if exc.context and not exc.context.startswith("while") else []
        parts.append(exc.problem or "cannot be parsed")
        what = " ".join(", ".join(parts).split())
        message = f"is not valid YAML: {what}{where}"
    except yaml.YAMLError as exc:
        message = f"is not valid YAML: {' '.join(str(exc).split())}"
    except (_TooDeep, RecursionError):
        message = _TOO_DEEP_MESSAGE
    raise SpecError(source, [SpecProblem("", message)])


_TOO_DEEP_MESSAGE = f"is nested too deeply to be a spec (more than {MAX_NESTING} levels)"


class _DuplicateJsonKey(Exception):
    pass


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateJsonKey(key)
        result[key] = value
    return result


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        message = f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except _DuplicateJsonKey as exc:
        message = f"is not valid JSON: the key {exc.args[0]!r} is written twice"
    except RecursionError:
        message = _TOO_DEEP_MESSAGE
    raise SpecError(source, [SpecProblem("", message)])
