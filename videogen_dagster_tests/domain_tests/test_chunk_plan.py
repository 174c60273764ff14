# ruff: noqa: E501  (tables of cases read best one case per line)
"""Chunk plans: chains of any length, trimming to exact beat lengths, and the collect check."""

from __future__ import annotations

import json
import random

import pytest

from videogen_dagster.domain.chunk_plan import (
    ChunkPlan,
    ChunkSequenceError,
    OrphanChunkError,
    check_chunk_sequence,
    plan_chunks,
)
from videogen_dagster.domain.spec import BeatSpec, VideoSpec
from videogen_dagster.domain.validation import ValidatedSpec, validate_spec


def _validated(durations: list[float], fps: int = 24) -> ValidatedSpec:
    beats = [BeatSpec(description=f"beat {i}", duration=d) for i, d in enumerate(durations)]
    validated = validate_spec(VideoSpec(duration=sum(durations), beats=beats, fps=fps), "v")
    assert validated.adjustments == []  # these tests plan beats exactly as written
    return validated


# beat durations -> (chains, beat_to_chunk_map), with the default 5 s clips
SHAPES = [
    pytest.param([5], ((0,),), {0: 0}, id="one-chunk"),
    pytest.param([10], ((0, 1),), {0: 0}, id="one-pair"),
    pytest.param([5, 10], ((0,), (1, 2)), {0: 0, 1: 1}, id="single-and-pair"),
    pytest.param([10, 10], ((0, 1), (2, 3)), {0: 0, 2: 1}, id="two-pairs"),
    pytest.param([5, 10, 5], ((0,), (1, 2), (3,)), {0: 0, 1: 1, 3: 2}, id="5-10-5"),
    pytest.param([15], ((0, 1, 2),), {0: 0}, id="chain-of-three"),
    pytest.param([25, 5], ((0, 1, 2, 3, 4), (5,)), {0: 0, 5: 1}, id="chain-of-five"),
]


@pytest.mark.parametrize(("durations", "chains", "beat_map"), SHAPES)
def test_chains_and_beat_map(durations, chains, beat_map):
    plan = plan_chunks(_validated(durations))
    assert plan.chains == chains
    assert plan.beat_to_chunk_map == beat_map
    assert [chunk.chunk_num for chunk in plan.chunks] == list(range(len(plan.chunks)))
    for beat_index, chain in enumerate(chains):
        chunks = plan.chunks_of_beat(beat_index)
        assert [chunk.chunk_num for chunk in chunks] == list(chain)
        assert [chunk.kind for chunk in chunks] == ["reference_image"] + ["continuous"] * (
            len(chain) - 1
        )
        assert [chunk.index_in_beat for chunk in chunks] == list(range(len(chain)))
        assert all(chunk.beat_index == beat_index for chunk in chunks)
    # Chunks are contiguous in the video.
    assert [chunk.start for chunk in plan.chunks] == [5.0 * n for n in range(len(plan.chunks))]
    check_chunk_sequence([(c.chunk_num, c.beat_index) for c in plan.chunks], plan)


# beat durations and clip lengths -> the order the beats' branches start in
LAUNCH_ORDERS = [
    pytest.param([5, 15, 5, 10], (5.0,), (1, 3, 0, 2), id="most-clips-first-ties-in-beat-order"),
    pytest.param([5, 5, 5], (5.0,), (0, 1, 2), id="all-equal-keeps-beat-order"),
    pytest.param([10, 5, 15], (5.0, 10.0), (2, 0, 1), id="one-clip-each-longer-clip-first"),
    pytest.param([12, 15], (5.0,), (0, 1), id="trimmed-last-clip-counts-as-generated"),
]


@pytest.mark.parametrize(("durations", "lengths", "order"), LAUNCH_ORDERS)
def test_beats_longest_chain_first(durations, lengths, order):
    plan = plan_chunks(_validated(durations), lengths)
    assert plan.beats_longest_chain_first() == order


# one beat's duration and the clip lengths -> (kept, generated) seconds of its chunks
SPLITS = [
    pytest.param(12, (5,), [(5, 5), (5, 5), (2, 5)], id="last-clip-trimmed"),
    pytest.param(2.5, (5,), [(2.5, 5)], id="beat-shorter-than-a-clip"),
    pytest.param(15, (5, 10), [(10, 10), (5, 5)], id="longest-first"),
    pytest.param(20, (5, 10), [(10, 10), (10, 10)], id="two-long-clips"),
    pytest.param(12, (5, 10), [(10, 10), (2, 5)], id="trim-shortest"),
    pytest.param(7, (10, 5), [(7, 10)], id="lengths-in-any-order-one-clip-over-two-of-equal-cost"),
    pytest.param(5.5, (5, 10), [(5.5, 10)], id="tiny-rest-absorbed-by-longer-clip"),
    pytest.param(10.5, (5,), [(5, 5), (4.5, 5), (1, 5)], id="tiny-rest-made-one-second"),
    pytest.param(5.5, (5,), [(4.5, 5), (1, 5)], id="tiny-rest-after-one-clip"),
    pytest.param(10.5, (5, 10), [(9.5, 10), (1, 5)], id="tiny-rest-no-longer-length"),
    pytest.param(6, (5,), [(5, 5), (1, 5)], id="one-second-rest-kept"),
    pytest.param(4, (4, 6), [(4, 4)], id="exact-shortest"),
]


@pytest.mark.parametrize(("duration", "lengths", "expected"), SPLITS)
def test_beat_split_into_clips(duration, lengths, expected):
    # A 5 s beat after the one under test keeps short beats inside a valid (>= 5 s) video.
    plan = plan_chunks(_validated([duration, 5]), lengths)
    chunks = plan.chunks_of_beat(0)
    assert [c.duration for c in chunks] == pytest.approx([kept for kept, _ in expected])
    assert [c.generate_duration for c in chunks] == [generated for _, generated in expected]
    assert all(c.generate_duration in lengths for c in plan.chunks)
    assert all(isinstance(c.generate_duration, float) for c in plan.chunks)


def test_chunks_start_where_their_beat_starts():
    validated = _validated([2.5, 10, 2.5])
    plan = plan_chunks(validated)
    assert [(c.beat_index, c.start, c.duration) for c in plan.chunks] == [
        (0, 0.0, 2.5),
        (1, 2.5, 5.0),
        (1, 7.5, 5.0),
        (2, 12.5, 2.5),
    ]
    assert plan.chunks_of_beat(1)[0].start == validated.beats[1].start


@pytest.mark.parametrize("seed", range(40))
def test_every_beat_keeps_its_exact_length_in_whole_frames(seed):
    rng = random.Random(seed)
    fps = rng.choice([12, 24, 25, 30, 60])
    durations = [round(rng.uniform(1, 40), 2) for _ in range(rng.randint(1, 6))]
    lengths = rng.choice([(5.0,), (5.0, 10.0), (4.0, 8.0), (10.0,), (6.0,)])
    validated = validate_spec(
        VideoSpec(
            duration=max(5.0, sum(durations)),
            beats=[BeatSpec(description="b", duration=d) for d in durations],
            fps=fps,
        ),
        "v",
    )
    plan = plan_chunks(validated, lengths)
    cursor = 0
    assert len(plan.chains) == len(validated.beats)
    for beat in validated.beats:
        chunks = plan.chunks_of_beat(beat.index)
        kept = [round(c.duration * fps) for c in chunks]
        assert [c.duration * fps for c in chunks] == pytest.approx(kept, abs=1e-6)
        assert sum(kept) == round(beat.duration * fps)
        assert all(c.duration <= c.generate_duration + 1e-9 for c in chunks)
        # No kept clip under 1 s unless the beat's clips leave no other way.
        if len(chunks) > 1 and max(lengths) >= 2:
            assert all(c.duration >= 1 - 1e-9 for c in chunks)
        for chunk in chunks:
            assert round(chunk.start * fps) == cursor
            cursor += round(chunk.duration * fps)
    assert cursor == round(validated.duration * fps)


def test_plan_is_json_ready():
    plan = plan_chunks(_validated([5, 10]))
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["beat_to_chunk_map"] == {"0": 0, "1": 1}
    assert data["chains"] == [[0], [1, 2]]
    assert data["chunks"][2] == {
        "chunk_num": 2,
        "beat_index": 1,
        "kind": "continuous",
        "index_in_beat": 1,
        "start": 10.0,
        "duration": 5.0,
        "generate_duration": 5.0,
    }


@pytest.mark.parametrize(
    ("lengths", "words"), [((), "no clip lengths"), ((0.01,), "shorter than one frame")]
)
def test_clip_lengths_must_make_sense(lengths, words):
    with pytest.raises(ValueError, match=words):
        plan_chunks(_validated([5]), lengths)


# ------------------------------------------------------------------ the collect step's check


@pytest.fixture
def plan() -> ChunkPlan:
    """Beats of 5, 15 and 10 s: chains (0,), (1, 2, 3), (4, 5)."""
    built = plan_chunks(_validated([5, 15, 10]))
    assert built.chains == ((0,), (1, 2, 3), (4, 5))
    return built


def test_complete_sequence_in_any_order_passes(plan):
    check_chunk_sequence([(5, 2), (0, 0), (3, 1), (1, 1), (4, 2), (2, 1)], plan)


def test_gap_names_the_missing_chunk(plan):
    with pytest.raises(ChunkSequenceError) as caught:
        check_chunk_sequence([(0, 0), (1, 1), (2, 1), (3, 1), (4, 2)], plan)
    assert not isinstance(caught.value, OrphanChunkError)
    assert caught.value.missing == (5,)
    assert "chunk 5 (beat 2) is missing" in str(caught.value)


def test_duplicate_names_the_chunk(plan):
    with pytest.raises(ChunkSequenceError) as caught:
        check_chunk_sequence([(0, 0), (1, 1), (2, 1), (2, 1), (3, 1), (4, 2), (5, 2)], plan)
    assert caught.value.duplicates == (2,)
    assert "chunk 2 was produced 2 times" in str(caught.value)


@pytest.mark.parametrize(
    ("produced", "orphan", "words"),
    [
        pytest.param([(0, 0), (1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2)], 6, "the plan has no chunk 6", id="not-in-plan"),
        pytest.param([(0, 1), (1, 1), (2, 1), (3, 1), (4, 2), (5, 2)], 0, "chunk 0 starts beat 0", id="start-of-other-beat"),
        pytest.param([(0, 0), (1, 1), (2, 1), (3, 2), (4, 2), (5, 2)], 3, "follows chunk 2 of beat 1", id="follows-other-beat"),
        pytest.param([(0, 0), (1, 1), (3, 1), (4, 2), (5, 2)], 3, "chunk 2 is missing", id="follows-nothing"),
    ],
)  # fmt: skip
def test_orphan_is_named(plan, produced, orphan, words):
    with pytest.raises(OrphanChunkError) as caught:
        check_chunk_sequence(produced, plan)
    assert orphan in caught.value.orphans
    assert f"chunk {orphan} (beat " in str(caught.value)
    assert words in str(caught.value)


# ------------------------------------------------- exact lengths: the cheapest plan per beat

# beat seconds -> (generated clip lengths, USD) per model; gen4_turbo takes any whole 2-10 s
# at USD 0.05/s, veo3.1 4, 6 or 8 s at USD 0.20/s, and the old planner's 5/10 s at 0.05/s
EXACT = [
    pytest.param("gen4_turbo", 2.5, [3], 0.15, id="gen4_turbo-2.5s-one-3s-clip"),
    pytest.param("gen4_turbo", 3, [3], 0.15, id="gen4_turbo-3s-exact"),
    pytest.param("gen4_turbo", 7, [7], 0.35, id="gen4_turbo-7s-exact"),
    pytest.param("gen4_turbo", 12, [10, 2], 0.60, id="gen4_turbo-12s-exact-longest-first"),
    pytest.param("veo3.1", 2.5, [4], 0.80, id="veo-2.5s-shortest-clip-trimmed"),
    pytest.param("veo3.1", 3, [4], 0.80, id="veo-3s-shortest-clip-trimmed"),
    pytest.param("veo3.1", 7, [8], 1.60, id="veo-7s-one-8s-clip"),
    pytest.param("veo3.1", 12, [8, 4], 2.40, id="veo-12s-exact-two-clips"),
]


@pytest.mark.parametrize(("model", "seconds", "generated", "usd"), EXACT)
def test_exact_length_plans_pay_for_the_cheapest_cover(model, seconds, generated, usd):
    from videogen_dagster.providers.clip_models import RUNWAY_CLIP_MODELS

    table = RUNWAY_CLIP_MODELS[model]
    plan = plan_chunks(_validated([seconds, 5]), table.clip_lengths)
    beat = plan.chunks_of_beat(0)
    assert [c.generate_duration for c in beat] == generated
    assert sum(c.duration for c in beat) == pytest.approx(seconds)
    assert sum(table.cost(c.generate_duration) for c in beat) == pytest.approx(usd)
    # What the old 5/10 s planner paid for the same beat, at the same price per second.
    old = plan_chunks(_validated([seconds, 5]), (5.0, 10.0)).chunks_of_beat(0)
    assert sum(table.cost(c.generate_duration) for c in beat) <= sum(
        table.cost(c.generate_duration) for c in old
    )


def test_generated_seconds_is_what_is_paid_for():
    plan = plan_chunks(_validated([2.5, 12]), tuple(range(2, 11)))
    assert [c.generate_duration for c in plan.chunks] == [3.0, 10.0, 2.0]
    assert plan.generated_seconds == 15.0


def test_a_clip_price_that_is_not_per_second_changes_the_plan():
    """Priced per clip (10 s for the price of 5 s + 20 %), one long clip beats two short ones."""
    lengths = (5.0, 10.0)
    per_second = plan_chunks(_validated([10, 5]), lengths, clip_cost=None).chunks_of_beat(0)
    assert [c.generate_duration for c in per_second] == [10.0]
    flat = {5.0: 1.0, 10.0: 3.0}  # a 10 s clip costs more than two 5 s clips
    by_clip = plan_chunks(_validated([10, 5]), lengths, clip_cost=flat.__getitem__)
    assert [c.generate_duration for c in by_clip.chunks_of_beat(0)] == [5.0, 5.0]


def _brute_force_cost(frames: int, lengths: list[int], floor: int) -> int:
    """The fewest generated frames of any multiset of clips that covers ``frames``."""
    best = None
    stack: list[tuple[int, ...]] = [()]
    while stack:
        clips = stack.pop()
        reached = sum(clips)
        if reached >= frames:
            if len(clips) == 1 or sum(min(floor, c) for c in clips) <= frames:
                best = reached if best is None else min(best, reached)
            continue
        stack += [(*clips, length) for length in lengths if not clips or length <= clips[-1]]
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(30))
def test_no_cover_is_cheaper_than_the_plan(seed):
    rng = random.Random(seed)
    fps = rng.choice([12, 24, 25])
    lengths = rng.choice([(2, 3, 4, 5, 6, 7, 8, 9, 10), (4, 6, 8), (5, 10), (5,), (3, 7)])
    frames = rng.randint(fps, 25 * fps)
    plan = plan_chunks(_validated([frames / fps, 5], fps), [float(x) for x in lengths])
    generated = sum(round(c.generate_duration * fps) for c in plan.chunks_of_beat(0))
    expected = _brute_force_cost(frames, sorted((x * fps for x in lengths), reverse=True), fps)
    assert generated == expected
