"""The local planner: deterministic 5 s scenes that use the whole prompt in order."""

from __future__ import annotations

import pytest

from videogen_dagster.domain.local_beat_planner import plan_beats_locally
from videogen_dagster.domain.spec import MAX_TEXT_CHARS, VideoSpec
from videogen_dagster.domain.validation import validate_spec

PROMPT = "A city wakes at dawn. Trams start to run. Bakers open their shops. Pigeons take off."


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (5, [5]),
        (6, [5, 1]),
        (7, [5, 2]),
        (12, [5, 5, 2]),
        (15, [5, 5, 5]),
        (15.5, [5, 5, 5.5]),  # a 0.5 s scene would be under 1 s: merged into the one before
        (20, [5, 5, 5, 5]),
    ],
)
def test_scenes_are_five_seconds_up_to_the_duration(duration, expected):
    beats = plan_beats_locally(PROMPT, duration, None)
    assert [beat.duration for beat in beats] == expected


def test_long_video_has_one_scene_per_five_seconds():
    beats = plan_beats_locally(PROMPT, 600, "ink")
    assert len(beats) == 120
    assert sum(beat.duration for beat in beats) == 600


def test_same_prompt_same_plan():
    assert plan_beats_locally(PROMPT, 20, "ink") == plan_beats_locally(PROMPT, 20, "ink")


def test_one_sentence_per_scene_when_they_match():
    beats = plan_beats_locally(PROMPT, 20, None)
    assert [beat.description for beat in beats] == [
        "A city wakes at dawn.",
        "Trams start to run.",
        "Bakers open their shops.",
        "Pigeons take off.",
    ]


def test_more_sentences_than_scenes_share_scenes_in_order():
    beats = plan_beats_locally(PROMPT, 10, None)
    assert [beat.description for beat in beats] == [
        "A city wakes at dawn. Trams start to run.",
        "Bakers open their shops. Pigeons take off.",
    ]


def test_clauses_are_used_when_sentences_are_too_few():
    beats = plan_beats_locally(
        "Fog over a lake, a heron lands, then the sun breaks through", 15, None
    )
    assert [beat.description for beat in beats] == [
        "Fog over a lake",
        "a heron lands",
        "the sun breaks through",
    ]


def test_a_short_prompt_is_reused_with_different_framings():
    beats = plan_beats_locally("A lighthouse in a storm.", 20, None)
    descriptions = [beat.description for beat in beats]
    assert len(set(descriptions)) == 4
    assert descriptions[0] == "A lighthouse in a storm."
    assert all(description.endswith("A lighthouse in a storm.") for description in descriptions)


def test_descriptions_stay_within_the_text_limit():
    beats = plan_beats_locally("x" * MAX_TEXT_CHARS, 15, None)
    assert all(len(beat.description) <= MAX_TEXT_CHARS for beat in beats)


@pytest.mark.parametrize("duration", [5, 5.5, 6, 9.99, 10, 12.34, 15, 33, 600])
def test_plans_need_no_fixing(duration):
    validated = validate_spec(VideoSpec(prompt=PROMPT, duration=duration), "v")
    assert validated.beats_source == "planned"
    # Only frame rounding of a duration that is not whole frames may show up.
    assert all("rounded" in note for note in validated.adjustments)
