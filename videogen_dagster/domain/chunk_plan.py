"""Chunk planning: which clips to generate for a validated spec, and the check of what came back.

Each beat becomes a chain of chunks. Its first chunk (``reference_image``) starts from the
beat's storyboard image; every later chunk (``continuous``) starts from the last kept frame
of the chunk before it in the same beat. Chains have any length: a 15 s beat at 5 s clips
is a chain of 3.

How a beat is cut into clips, given the clip lengths the provider can make:

- greedy: the longest allowed length that fits in what is left of the beat, again and
  again; the last clip is generated at the shortest allowed length and trimmed, so the beat
  keeps its exact duration (lengths (5,), a 12 s beat: 5, 5, 2 generated as 5; lengths
  (5, 10), a 15 s beat: 10, 5);
- no kept clip under 1 s: a shorter last piece is merged into the clip before it when the
  provider can make a clip that long (lengths (5, 10), 5.5 s: one clip of 5.5 s generated
  as 10), else the clip before it gives up enough frames to make the last one 1 s
  (lengths (5,), 10.5 s: 5, 4.5, 1). Either way no more clips are paid for than greedy;
- all arithmetic is in whole frames at the spec's fps, so every chunk boundary is a frame.

``chunk_num`` counts from 0 across the video in beat order; ``beat_index`` is the
``Beat.index`` of the validated spec; ``start`` is the chunk's start in the video.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
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
        for something (the run's one interpreter, a pool's slots): a short chain has slack
        to wait in, a long one has none.
        """

        def chain_length(beat_index: int) -> tuple[int, float, int]:
            chunks = self.chunks_of_beat(beat_index)
            return (-len(chunks), -sum(c.generate_duration for c in chunks), beat_index)

        return tuple(sorted(range(len(self.chains)), key=chain_length))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (map keys become strings, as JSON requires)."""
        return {
            "chunks": [asdict(chunk) for chunk in self.chunks],
            "beat_to_chunk_map": {str(num): beat for num, beat in self.beat_to_chunk_map.items()},
            "chains": [list(chain) for chain in self.chains],
        }


def plan_chunks(
    spec: ValidatedSpec, clip_lengths: Sequence[float] = (DEFAULT_CHUNK_SECONDS,)
) -> ChunkPlan:
    """The chunks that make ``spec``'s beats from clips of the allowed ``clip_lengths``."""
    fps = spec.fps
    lengths = _lengths_in_frames(clip_lengths, fps)
    chunks: list[Chunk] = []
    beat_to_chunk_map: dict[int, int] = {}
    chains: list[tuple[int, ...]] = []
    for beat in spec.beats:
        start = to_frames(beat.start, fps)
        chain = []
        for index_in_beat, (kept, generate) in enumerate(
            _split_beat(to_frames(beat.duration, fps), sorted(lengths), fps)
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


def _split_beat(total: int, lengths: list[int], fps: int) -> list[tuple[int, int]]:
    """(kept, generated) frame counts of a beat's clips, by the rules of the module doc."""
    pieces: list[tuple[int, int]] = []
    left = total
    while left > 0:
        fitting = [length for length in lengths if length <= left]
        if fitting:
            pieces.append((fitting[-1], fitting[-1]))
            left -= fitting[-1]
        else:
            pieces.append((left, lengths[0]))
            left = 0
    shortest = to_frames(MIN_SEGMENT_SECONDS, fps)
    if len(pieces) < 2 or pieces[-1][0] >= shortest:
        return pieces
    tail, _ = pieces.pop()
    before, before_generated = pieces.pop()
    longer = [length for length in lengths if length >= before + tail]
    if longer:
        pieces.append((before + tail, longer[0]))
    elif before - (shortest - tail) >= shortest:
        pieces += [(before - (shortest - tail), before_generated), (shortest, lengths[0])]
    else:
        pieces += [(before, before_generated), (tail, lengths[0])]
    return pieces


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
