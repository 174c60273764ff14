"""The error a user sees for a bad spec file: every problem in it, each naming its field.

One ``SpecError`` per file, carrying all of the file's problems at once, so a user fixes a
spec in one round instead of one error per attempt. ``str()`` is the plain-words text the
CLI prints and the sensor reports: one line per problem, ``<file>: <field>: <message>``, the
first ``MAX_SHOWN_PROBLEMS`` of them and then how many more there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Lines one file's error shows at most: a file with thousands of bad entries is summed up
#: after these instead of filling the terminal (or the sensor's log).
MAX_SHOWN_PROBLEMS = 20


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
        lines = [problem.describe(self.path) for problem in self.problems[:MAX_SHOWN_PROBLEMS]]
        if len(self.problems) > MAX_SHOWN_PROBLEMS:
            more = len(self.problems) - MAX_SHOWN_PROBLEMS
            lines.append(f"{self.path}: ... and {more} more problems (fix these first)")
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type[SpecError], tuple[str, list[SpecProblem]]]:
        # Dagster and multiprocessing pickle errors across processes; keep both attributes.
        return (type(self), (self.path, self.problems))
