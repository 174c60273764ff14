"""Under mutmut, the pipeline tests run last and in the order the module defines them.

mutmut hands pytest each mutant's covering tests in no particular order and stops at the first
failure. Run in that order, a test that reads the shared render (the truncation log's two
lines, the ledgers' line count) could follow one that renders into the same store again and
fail on a mutant it does not detect; and a mutant that a domain test kills in milliseconds
would first pay for the renders. Outside mutmut the order is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if "MUTANT_UNDER_TEST" not in os.environ:
        return

    def key(indexed: tuple[int, pytest.Item]) -> tuple[int, int, int]:
        index, item = indexed
        if HERE in item.path.parents:
            return (1, item.location[1] or 0, index)
        return (0, 0, index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
