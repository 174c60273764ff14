"""The error a user sees for a bad spec file: every problem in it, each naming its field.

One ``SpecError`` per file, carrying all of the file's problems at once, so a user fixes a
spec in one round instead of one error per attempt. ``str()`` is the plain-words text the
CLI prints and the sensor reports: one line per problem, ``<file>: <field>: <message>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec; ``field`` is ``"beats[2].duration"``, or ``""`` for the file."""

    field: str
    message: str

    def describe(self, path: str) -> str:
        """The one line a user reads: the file, the field (when there is one) and the problem."""
        return f"{path}: {self.field}: {self.message}" if self.field else f"{path}: {self.message}"


class SpecError(ValueError):
    """A spec file (or a spec snapshot in the store) that cannot be turned into a video."""

    def __init__(self, path: str | Path, problems: Sequence[SpecProblem]) -> None:
        if not problems:
            raise ValueError("SpecError needs at least one problem")
        self.path = str(path)
        self.problems = list(problems)
        super().__init__("\n".join(problem.describe(self.path) for problem in self.problems))

    def __reduce__(self) -> tuple[type[SpecError], tuple[str, list[SpecProblem]]]:
        # Dagster and multiprocessing pickle errors across processes; keep both attributes.
        return (type(self), (self.path, self.problems))
