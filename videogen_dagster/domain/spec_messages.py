"""pydantic's validation errors in the words a spec's author uses.

pydantic locates an error as a tuple (``("beats", 2, "duration")``) and words it for
programmers (``Input should be greater than 0``, with a documentation URL). Users read
``beats[2].duration: must be greater than 0, got -1``; this module does that translation and
nothing else, so the models stay free of message plumbing.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Sequence
from typing import Any

from pydantic import ValidationError

from videogen_dagster.domain.errors import SpecProblem

#: Given an error location, the names of the fields allowed at that place.
KnownFields = Callable[[tuple[str | int, ...]], Sequence[str]]

_BOUNDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def problems_from_validation_error(
    exc: ValidationError, *, known_fields: KnownFields, union_tags: Collection[str] = ()
) -> list[SpecProblem]:
    """One ``SpecProblem`` per pydantic error.

    ``known_fields(loc)`` names the fields allowed where ``loc`` points (for "did you mean"
    on an unknown field); ``union_tags`` are the union branch names pydantic inserts in
    locations, which mean nothing to a user and are left out of the field path.
    """
    problems = []
    for index, error in enumerate(exc.errors(include_url=False)):
        loc = tuple(part for part in error["loc"] if part not in union_tags)
        # Past the first few, which are all a person reads, pydantic's own words are enough:
        # a file with thousands of errors must not spend seconds on "did you mean".
        message = plain_message(error, loc, known_fields) if index < _WORDED else error["msg"]
        problems.append(SpecProblem(field_path(loc), message))
    return problems


#: Errors worded in full; the rest are counted (see ``errors.MAX_SHOWN_PROBLEMS``).
_WORDED = 100


def field_path(loc: tuple[str | int, ...]) -> str:
    """``("beats", 2, "duration")`` -> ``beats[2].duration``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def plain_message(error: Any, loc: tuple[str | int, ...], known_fields: KnownFields) -> str:
    """The message of one pydantic error, in plain words, with the value the user wrote."""
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    got = f", got {describe_value(value)}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return _unknown_field_message(loc, known_fields)
    if kind == "string_type":
        return f"must be text{got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long: {len(value)} characters, at most {ctx['max_length']}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number{got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number{got}"
    if kind == "finite_number":
        return f"must be a finite number{got}"
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return f"must be {words} {_number(ctx[key])}{got}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}{got}"
    if kind == "list_type":
        return f"must be a list{got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        fields = ", ".join(known_fields((*loc, "")))
        return f"must be a mapping with the fields {fields}{got}"
    if kind == "too_long":
        return f"has {ctx['actual_length']} items, at most {ctx['max_length']} are allowed"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("value_error", "assertion_error"):
        return str(ctx["error"])
    if kind.endswith("_type"):  # a custom type error (a union that fits nothing): say what came
        return f"{error['msg']}{got}"
    return str(error["msg"])


def describe_value(value: Any) -> str:
    """A short, safe description of a value a user wrote, for "got ..." in messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else f"{value[:37]}..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _unknown_field_message(loc: tuple[str | int, ...], known_fields: KnownFields) -> str:
    known = list(known_fields(loc))
    message = "is not a known field"
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return f"{message} (known fields: {', '.join(known)})"


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
