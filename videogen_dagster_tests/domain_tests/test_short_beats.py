"""A beat under 1 s is merged into its neighbour: the previous beat, or the next one when it is
the first. The next one, not any other: with three or more beats a wrong neighbour shows."""

from __future__ import annotations

from videogen_dagster.domain.spec import parse_spec
from videogen_dagster.domain.validation import validate_spec


def _validated(beats: str, duration: float):
    text = f"prompt: p\nduration: {duration}\nbeats:\n{beats}"
    return validate_spec(parse_spec(text.encode(), source="x.yaml", base_dir=None), "x")


def test_a_short_first_beat_is_merged_into_the_next_one() -> None:
    spec = _validated(
        "  - {description: a, duration: 0.5}\n"
        "  - {description: b, duration: 5}\n"
        "  - {description: c, duration: 9.5}\n",
        15,
    )
    assert [(b.index, b.description, b.start, b.duration) for b in spec.beats] == [
        (0, "b", 0.0, 5.5),
        (1, "c", 5.5, 9.5),
    ]
    assert spec.adjustments == ["beats[0] (0.5 s) is shorter than 1 s; merged into beats[1]"]


def test_a_short_middle_beat_is_merged_into_the_previous_one() -> None:
    spec = _validated(
        "  - {description: a, duration: 5}\n"
        "  - {description: b, duration: 0.5}\n"
        "  - {description: c, duration: 9.5}\n",
        15,
    )
    assert [(b.index, b.description, b.start, b.duration) for b in spec.beats] == [
        (0, "a", 0.0, 5.5),
        (1, "c", 5.5, 9.5),
    ]
    assert spec.adjustments == ["beats[1] (0.5 s) is shorter than 1 s; merged into beats[0]"]
