"""Chunk planning: which clips to generate for a validated spec, and the check of what came back.

Each beat becomes a chain of chunks. Its first chunk (``reference_image``) starts from the
beat's storyboard image; every later chunk (``continuous``) starts from the last kept frame
of the chunk before it in the same beat. Chains have any length: a 15 s beat at 5 s clips
is a chain of 3.

How a beat is cut into clips, given the clip lengths the model accepts (an API such as Runway's
gen4.5 takes any whole second from 2 to 10, others a few fixed lengths):

- cheapest first: of every set of clips that covers the beat, the one whose generated seconds
  cost least (``clip_cost``; by default the cost is proportional to the seconds, as per-second
  prices are), then the one with fewest clips (fewer calls, fewer seams), then the one that
  trims least, then the one with the longest clips first. With 2-10 s clips a 2.5 s beat is
  one 3 s clip trimmed by 0.5 s, and a 12 s beat is 10 s + 2 s with nothing trimmed; with
  (5, 10) a 12 s beat is 10 s + 5 s trimmed to 2 s, and a 7 s beat one 10 s clip trimmed to 7;
- clips are ordered longest first, and what is trimmed comes off the last clip; no kept clip
  is under 1 s when the beat has several (the clip before gives up frames instead: lengths
  (5,), 10.5 s: 5, 4.5, 1), unless no set of clips allows it;
- all arithmetic is in whole frames at the spec's fps, so every chunk boundary is a frame.

``chunk_num`` counts from 0 across the video in beat order; ``beat_index`` is the
``Beat.index`` of the validated spec; ``start`` is the chunk's start in the video.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from videogen_dagster.domain.timing import MIN_SEGMENT_SECONDS, to_frames, to_seconds
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.settings import DEFAULT_CHUNK_SECONDS

ChunkKind = Literal["reference_image", "continuous"]


@dataclass(frozen=True)
class Chunk:
    """One clip to generate; ``duration`` of it is kept, ``generate_duration`` is asked for."""

    chunk_num: int
    beat_index: int
    kind: ChunkKind
    index_in_beat: int
    start: float
    duration: float
    generate_duration: float


@dataclass(frozen=True)
class ChunkPlan:
    """Every chunk of a video, which ones start a beat, and the chain of chunks of each beat."""

    chunks: tuple[Chunk, ...]
    beat_to_chunk_map: dict[int, int]  # chunk_num -> beat_index, for chunks that start a beat
    chains: tuple[tuple[int, ...], ...]  # per beat, in beat order: its chunk_nums in order

    def chunks_of_beat(self, beat_index: int) -> tuple[Chunk, ...]:
        return tuple(self.chunks[chunk_num] for chunk_num in self.chains[beat_index])

    def beats_longest_chain_first(self) -> tuple[int, ...]:
        """Beat indexes in the order their branches should start: most clips first, then most
        seconds generated, ties in beat order.

        A video is done when its slowest chain is. Branches that become ready together queue
        for a pool's slots: a short chain has slack to wait in, a long one has none.
        """

        def chain_length(beat_index: int) -> tuple[int, float, int]:
            chunks = self.chunks_of_beat(beat_index)
            return (-len(chunks), -sum(c.generate_duration for c in chunks), beat_index)

        return tuple(sorted(range(len(self.chains)), key=chain_length))

    @property
    def generated_seconds(self) -> float:
        """Seconds of clip paid for: every chunk's ``generate_duration``, trimmed or not."""
        return sum(chunk.generate_duration for chunk in self.chunks)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (map keys become strings, as JSON requires)."""
        return {
            "chunks": [asdict(chunk) for chunk in self.chunks],
            "beat_to_chunk_map": {str(num): beat for num, beat in self.beat_to_chunk_map.items()},
            "chains": [list(chain) for chain in self.chains],
        }


#: USD (or any unit) of one generated clip of the given length in seconds.
ClipCost = Callable[[float], float]


def plan_chunks(
    spec: ValidatedSpec,
    clip_lengths: Sequence[float] = (DEFAULT_CHUNK_SECONDS,),
    clip_cost: ClipCost | None = None,
) -> ChunkPlan:
    """The chunks that make ``spec``'s beats from clips of the allowed ``clip_lengths``.

    ``clip_cost`` prices one clip by its generated length; ``None`` means proportional to the
    length (a per-second price), the only thing that matters for choosing between plans then.
    """
    fps = spec.fps
    lengths = _lengths_in_frames(clip_lengths, fps)
    cost = clip_cost or float
    frame_cost = {frames: cost(seconds) for frames, seconds in lengths.items()}
    chunks: list[Chunk] = []
    beat_to_chunk_map: dict[int, int] = {}
    chains: list[tuple[int, ...]] = []
    for beat in spec.beats:
        start = to_frames(beat.start, fps)
        chain = []
        for index_in_beat, (kept, generate) in enumerate(
            _split_beat(to_frames(beat.duration, fps), frame_cost, fps)
        ):
            chunk_num = len(chunks)
            if index_in_beat == 0:
                beat_to_chunk_map[chunk_num] = beat.index
            chunks.append(
                Chunk(
                    chunk_num=chunk_num,
                    beat_index=beat.index,
                    kind="reference_image" if index_in_beat == 0 else "continuous",
                    index_in_beat=index_in_beat,
                    start=to_seconds(start, fps),
                    duration=to_seconds(kept, fps),
                    generate_duration=lengths[generate],
                )
            )
            chain.append(chunk_num)
            start += kept
        chains.append(tuple(chain))
    return ChunkPlan(tuple(chunks), beat_to_chunk_map, tuple(chains))


def _lengths_in_frames(clip_lengths: Sequence[float], fps: int) -> dict[int, float]:
    """Allowed lengths by frame count, keeping the provider's own values to ask for."""
    lengths: dict[int, float] = {}
    for length in clip_lengths:
        frames = to_frames(length, fps)
        if frames < 1:
            raise ValueError(f"clip length {length!r} s is shorter than one frame at {fps} fps")
        lengths.setdefault(frames, float(length))
    if not lengths:
        raise ValueError("no clip lengths given: a provider must make at least one length")
    return lengths


def _split_beat(total: int, frame_cost: dict[int, float], fps: int) -> list[tuple[int, int]]:
    """(kept, generated) frame counts of a beat's clips, by the rules of the module doc."""
    shortest = to_frames(MIN_SEGMENT_SECONDS, fps)
    clips = _cheapest_cover(total, frame_cost, shortest) or _cheapest_cover(total, frame_cost, 1)
    assert clips, "one clip of the longest length repeated always covers a beat"
    if len(clips) == 1:
        return [(total, clips[0])]
    kept = list(clips)
    excess = sum(clips) - total
    for index in reversed(range(len(kept))):  # trim from the last clip backwards
        cut = min(excess, kept[index] - min(shortest, kept[index]))
        kept[index] -= cut
        excess -= cut
    return list(zip(kept, clips, strict=True))


def _cheapest_cover(total: int, frame_cost: dict[int, float], floor: int) -> tuple[int, ...]:
    """The clip lengths (frames, longest first) of the best cover of ``total`` frames.

    Best is the order of the module doc: cost, then clip count, then frames trimmed, then
    longest first. Several clips must each keep ``floor`` frames (or all of a shorter clip).
    Sets are built longest length first, so each is held once, already in launch order; per
    generated total only the best set is kept, as any set is compared on the same terms. A set
    reaching ``total`` plus the longest length has a clip it can drop, so none goes further.
    """
    lengths = sorted(frame_cost, reverse=True)
    limit = total + lengths[0]
    best: dict[int, tuple[float, int, tuple[int, ...]]] = {0: (0.0, 0, ())}

    def rank(entry: tuple[float, int, tuple[int, ...]]) -> tuple[float, int, tuple[int, ...]]:
        cost, count, clips = entry
        return (round(cost, 9), count, tuple(-clip for clip in clips))

    for length in lengths:
        for reached in range(limit - length):
            entry = best.get(reached)
            if entry is None or reached >= total:
                continue
            cost, count, clips = entry
            candidate = (cost + frame_cost[length], count + 1, (*clips, length))
            current = best.get(reached + length)
            if current is None or rank(candidate) < rank(current):
                best[reached + length] = candidate

    def feasible(clips: tuple[int, ...]) -> bool:
        return len(clips) == 1 or sum(min(floor, clip) for clip in clips) <= total

    covers = [
        (rank(entry)[0], entry[1], reached - total, rank(entry)[2], entry[2])
        for reached, entry in best.items()
        if reached >= total and feasible(entry[2])
    ]
    return min(covers)[-1] if covers else ()


class ChunkSequenceError(ValueError):
    """The chunks produced for a video do not match its plan: missing, twice, or orphaned."""

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[int] = (),
        duplicates: Sequence[int] = (),
        orphans: Sequence[int] = (),
    ) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.duplicates = tuple(duplicates)
        self.orphans = tuple(orphans)


class OrphanChunkError(ChunkSequenceError):
    """A chunk that neither starts a beat nor follows a chunk of its own beat."""


def check_chunk_sequence(chunk_nums_and_beats: Sequence[tuple[int, int]], plan: ChunkPlan) -> None:
    """Raise unless the produced ``(chunk_num, beat_index)`` pairs are exactly the plan's chunks.

    Orphans raise ``OrphanChunkError``; gaps and duplicates alone raise ``ChunkSequenceError``.
    The message lists every problem, each naming its chunk.
    """
    planned = {chunk.chunk_num: chunk.beat_index for chunk in plan.chunks}
    counts = Counter(chunk_num for chunk_num, _ in chunk_nums_and_beats)
    beat_of = dict(chunk_nums_and_beats)
    problems: list[str] = []
    missing = sorted(set(planned) - set(beat_of))
    problems += [f"chunk {num} (beat {planned[num]}) is missing" for num in missing]
    duplicates = sorted(num for num, count in counts.items() if count > 1)
    problems += [f"chunk {num} was produced {counts[num]} times" for num in duplicates]
    orphans = []
    for chunk_num, beat_index in sorted(beat_of.items()):
        reason = _orphan_reason(chunk_num, beat_index, beat_of, planned, plan.beat_to_chunk_map)
        if reason:
            orphans.append(chunk_num)
            problems.append(f"chunk {chunk_num} (beat {beat_index}) is an orphan: {reason}")
    if not problems:
        return
    error = OrphanChunkError if orphans else ChunkSequenceError
    raise error(
        "the chunks do not match the chunk plan: " + "; ".join(problems),
        missing=missing,
        duplicates=duplicates,
        orphans=orphans,
    )


def _orphan_reason(
    chunk_num: int,
    beat_index: int,
    beat_of: dict[int, int],
    planned: dict[int, int],
    beat_to_chunk_map: dict[int, int],
) -> str | None:
    if chunk_num not in planned:
        return f"the plan has no chunk {chunk_num}"
    if chunk_num in beat_to_chunk_map:
        starts = beat_to_chunk_map[chunk_num]
        return None if starts == beat_index else f"chunk {chunk_num} starts beat {starts}"
    before = beat_of.get(chunk_num - 1)
    if before is None:
        return f"it follows no chunk: chunk {chunk_num - 1} is missing"
    if before != beat_index:
        return f"it follows chunk {chunk_num - 1} of beat {before}, not a chunk of its own beat"
    if planned[chunk_num] != beat_index:
        return f"the plan puts chunk {chunk_num} in beat {planned[chunk_num]}"
    return None
