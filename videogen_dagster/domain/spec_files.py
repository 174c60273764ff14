"""From a spec file's bytes to plain data (dicts, lists, numbers, text), refusing non-specs.

Kept apart from the models so that the hostile-input handling (binary files, wrong
encodings, FIFOs, huge or deeply nested files, YAML tags) is in one place. Every refusal is
a ``SpecError`` with field ``""``: the problem is the file itself, not one of its fields.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from videogen_dagster.domain.errors import SpecError, SpecProblem
from videogen_dagster.domain.spec_messages import field_path

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


def read_spec_bytes(path: Path, *, follow_symlinks: bool = True) -> bytes:
    """The content of the spec file at ``path``: a regular file of at most ``MAX_SPEC_BYTES``.

    Read once, through one descriptor (see ``read_regular_file``): what is parsed is what is
    stored, however the file changes meanwhile. A file a user names may be a link; one found
    in a watched folder may not (``follow_symlinks=False``), or whoever can write there could
    have the sensor read, and quote in its errors, a file they cannot read themselves.
    """
    try:
        return read_regular_file(path, limit=MAX_SPEC_BYTES, follow_symlinks=follow_symlinks)
    except UnreadableFile as exc:
        if exc.kind == "too-large":
            raise SpecError(str(path), [_too_large_problem(exc.size)]) from None
        raise SpecError(str(path), [SpecProblem("", exc.reason)]) from None


class UnreadableFile(Exception):
    """A file ``read_regular_file`` refused; ``reason`` ends a sentence about it ("is a FIFO,
    not a file") and ``kind`` says which refusal it was, for callers that word their own."""

    def __init__(self, kind: str, reason: str, size: int = 0) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.size = kind, reason, size


_FILE_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def read_regular_file(
    name: str | Path, *, limit: int, dir_fd: int | None = None, follow_symlinks: bool = True
) -> bytes:
    """The whole content of one regular file of at most ``limit`` bytes, read once.

    The checks are made on the opened descriptor, never on the path, so a file swapped
    between a check and the read cannot get past them. ``O_NONBLOCK`` makes opening a FIFO
    or a device return at once (then refused) instead of waiting for a writer for ever;
    without ``follow_symlinks`` a symbolic link as the last component is refused
    (``O_NOFOLLOW``). ``name`` is relative to ``dir_fd`` when that is given.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise UnreadableFile("missing", "does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            if follow_symlinks:
                raise UnreadableFile("symlink", "is a symbolic link loop") from None
            raise UnreadableFile("symlink", "is a symbolic link") from None
        raise UnreadableFile("os", f"cannot be read: {os_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            kind_name = "folder" if kind == "a folder" else "not-regular"
            raise UnreadableFile(kind_name, f"is not a regular file: it is {kind}")
        if info.st_size > limit:
            raise UnreadableFile("too-large", f"is {info.st_size} bytes", info.st_size)
        chunks, size = [], 0
        while size <= limit:  # the file may grow after fstat: read at most limit + 1 bytes
            chunk = os.read(fd, min(limit + 1 - size, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise UnreadableFile("os", f"cannot be read: {os_reason(exc)}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise UnreadableFile("too-large", f"is more than {limit} bytes", size)
    return b"".join(chunks)


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
    too_long = list(_too_long_numbers(data, ()))
    if too_long:
        raise SpecError(source, too_long)
    if data is None:  # a YAML file of comments only
        raise SpecError(source, [SpecProblem("", _EMPTY_MESSAGE)])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({data!r:.40})"
        message = f"must be a mapping of fields (prompt: ..., duration: ...), not {kind}"
        raise SpecError(source, [SpecProblem("", message)])
    return data


#: The most characters a whole number in a spec may have: no field needs more than 10, and
#: Python refuses to convert a number of more than 4300 digits (it raises ``ValueError``).
MAX_NUMBER_CHARS = 100


@dataclass(frozen=True)
class TooLongNumber:
    """A whole number written with more than ``MAX_NUMBER_CHARS`` characters, kept as text so
    it can be reported by field instead of failing the conversion."""

    text: str

    def __repr__(self) -> str:
        return f"a number {len(self.text)} characters long"


def _too_long_numbers(value: Any, loc: tuple[str | int, ...]) -> Iterator[SpecProblem]:
    if isinstance(value, TooLongNumber):
        yield SpecProblem(
            field_path(loc),
            f"is a number {len(value.text)} characters long; a number in a spec has at most "
            f"{MAX_NUMBER_CHARS}",
        )
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _too_long_numbers(item, (*loc, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _too_long_numbers(item, (*loc, index))


def _int_or_too_long(text: str) -> int | TooLongNumber:
    return TooLongNumber(text) if len(text) > MAX_NUMBER_CHARS else int(text)


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
_STR_TAG = "tag:yaml.org,2002:str"


#: A spec is four levels deep (spec, beats, beat, value); this leaves room and stops the
#: quadratic time PyYAML's scanner spends on thousands of nested brackets.
MAX_NESTING = 20


#: Keys and values a YAML spec may hold: a spec of the most beats kept (1000 beats of three
#: fields) has under 8000. The pure-Python parser takes about 15 s per 350,000 values on a
#: small machine, so a file of a megabyte of tiny values is refused after this many.
MAX_YAML_VALUES = 20_000


class _TooDeep(Exception):
    pass


class _TooMany(Exception):
    pass


class _SpecYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without base-60 numbers, refusing a key written twice in a mapping,
    nesting deeper than ``MAX_NESTING`` and more than ``MAX_YAML_VALUES`` values; keys are read
    as the text written and over-long whole numbers are kept as ``TooLongNumber``.

    The pure-Python loader on purpose: its limits can be set here, where the C parser's
    recursion could not be bounded.
    """

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_NESTING:
                raise _TooDeep
            if self._nodes > MAX_YAML_VALUES:
                raise _TooMany
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
        # Every key of a spec is a field name: read ``null:``, ``yes:`` or ``1:`` as the text
        # written, so a message names the key the user wrote, not None, True or 1.
        node.value = [(_key_as_written(key), value) for key, value in node.value]
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int | TooLongNumber:
        text = str(self.construct_scalar(node))
        if len(text) > MAX_NUMBER_CHARS:
            return TooLongNumber(text)
        return super().construct_yaml_int(node)


def _key_as_written(node: yaml.Node) -> yaml.Node:
    if isinstance(node, yaml.ScalarNode) and node.tag not in (_STR_TAG, _MERGE_TAG):
        return yaml.ScalarNode(_STR_TAG, node.value, node.start_mark, node.end_mark, node.style)
    return node


_SpecYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecYamlLoader.add_implicit_resolver(_INT_TAG, _YAML_INT, list("-+0123456789"))
_SpecYamlLoader.add_implicit_resolver(_FLOAT_TAG, _YAML_FLOAT, list("-+0123456789."))
_SpecYamlLoader.add_constructor(_INT_TAG, _SpecYamlLoader.construct_yaml_int)


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
    except _TooMany:
        message = f"holds more than {MAX_YAML_VALUES} keys and values; a spec has far fewer"
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
        return json.loads(text, object_pairs_hook=_json_object, parse_int=_int_or_too_long)
    except json.JSONDecodeError as exc:
        message = f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except _DuplicateJsonKey as exc:
        message = f"is not valid JSON: the key {exc.args[0]!r} is written twice"
    except RecursionError:
        message = _TOO_DEEP_MESSAGE
    raise SpecError(source, [SpecProblem("", message)])
