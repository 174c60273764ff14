"""Continuity over long beats: the drift guards must measurably shrink chained drift.

Real image-to-video models nudge contrast and saturation up on every clip; chaining on last
frames compounds it. The local provider simulates that creep (``drift_per_clip``), and a
7-chunk beat (6 hops) is rendered with and without the guards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from videogen_dagster.media import (
    UNGUARDED,
    ContinuityPolicy,
    beat_drift,
    continuous_start_image,
    extract_first_frame,
    extract_last_frame,
    psnr,
)
from videogen_dagster.media.colour import colour_match
from videogen_dagster.providers.local import LocalSettings
from videogen_dagster_tests.media_tests.support import local_clip, storyboard

DRIFTING = LocalSettings(short_side=144, clip_lengths=(1.0,), drift_per_clip=0.08)
HOPS = 6


def _render_beat(folder: Path, policy: ContinuityPolicy) -> list[Path]:
    board = storyboard("a lighthouse on a cliff")
    chunks: list[Path] = []
    start = board
    for position in range(HOPS + 1):
        if position:
            start = continuous_start_image(
                position,
                previous_last_frame=extract_last_frame(chunks[-1]),
                storyboard_image=board,
                colour_reference=board,
                policy=policy,
            ).png
        path = folder / f"chunk{position}.mp4"
        chunks.append(local_clip(path, start, fps=12, settings=DRIFTING))
    return chunks


@pytest.fixture(scope="module")
def unguarded_drift(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    chunks = _render_beat(tmp_path_factory.mktemp("unguarded"), UNGUARDED)
    return beat_drift(chunks[0], chunks[-1])


def test_unguarded_chaining_drifts(unguarded_drift: dict[str, float]):
    assert unguarded_drift["saturation"] > 0.05
    assert unguarded_drift["contrast"] > 5


@pytest.mark.parametrize(
    "policy",
    [
        ContinuityPolicy(colour_match=True, reanchor_after_hops=2),
        ContinuityPolicy(colour_match=True, reanchor_after_hops=0),
        ContinuityPolicy(colour_match=False, reanchor_after_hops=2),
    ],
    ids=["match+reanchor", "match-only", "reanchor-only"],
)
def test_guards_shrink_the_drift(
    tmp_path: Path, unguarded_drift: dict[str, float], policy: ContinuityPolicy
):
    chunks = _render_beat(tmp_path, policy)

    guarded = beat_drift(chunks[0], chunks[-1])

    for key in ("saturation", "contrast", "mean_colour"):
        assert abs(guarded[key]) < abs(unguarded_drift[key]) / 2, key


def test_without_drift_a_chain_is_seamless(tmp_path: Path):
    board = storyboard("a lighthouse on a cliff")
    first = local_clip(tmp_path / "a.mp4", board)
    start = continuous_start_image(
        1,
        previous_last_frame=extract_last_frame(first),
        storyboard_image=board,
        colour_reference=board,
        policy=ContinuityPolicy(colour_match=False),
    )
    second = local_clip(tmp_path / "b.mp4", start.png)

    assert start.source == "last_frame"
    assert psnr(extract_last_frame(first), extract_first_frame(second)) > 35


@pytest.mark.parametrize(
    ("position", "policy", "source"),
    [
        (1, ContinuityPolicy(), "colour_matched_last_frame"),
        (4, ContinuityPolicy(), "colour_matched_last_frame"),
        (5, ContinuityPolicy(reanchor_after_hops=4), "storyboard"),
        (10, ContinuityPolicy(reanchor_after_hops=4), "storyboard"),
        (10, ContinuityPolicy(), "colour_matched_last_frame"),
        (3, ContinuityPolicy(reanchor_after_hops=2), "storyboard"),
        (4, ContinuityPolicy(reanchor_after_hops=2), "colour_matched_last_frame"),
        (6, ContinuityPolicy(reanchor_after_hops=2), "storyboard"),
        (6, ContinuityPolicy(colour_match=False, reanchor_after_hops=0), "last_frame"),
        (2, ContinuityPolicy(reanchor_after_hops=1), "storyboard"),
    ],
)
def test_where_each_start_image_comes_from(position: int, policy: ContinuityPolicy, source: str):
    board, last = storyboard("board"), storyboard("last frame")

    start = continuous_start_image(
        position,
        previous_last_frame=last,
        storyboard_image=board,
        colour_reference=board,
        policy=policy,
    )

    assert start.source == source
    assert policy.reanchors_at(position) == (source == "storyboard")
    expected = {
        "storyboard": board,
        "last_frame": last,
        "colour_matched_last_frame": colour_match(last, board),
    }[source]
    assert start.png == expected
    # The three candidates are different pictures, so the comparison above can tell them apart.
    assert len({board, last, expected}) == (2 if source != "colour_matched_last_frame" else 3)


def test_bad_positions_and_policies_are_refused():
    with pytest.raises(ValueError, match="position 0"):
        continuous_start_image(
            0, previous_last_frame=b"", storyboard_image=b"", colour_reference=b""
        )
    with pytest.raises(ValueError, match="reanchor_after_hops"):
        ContinuityPolicy(reanchor_after_hops=-1)
