"""Chunks: each beat is a chain of clips, the first from its storyboard image, each later one
from the previous clip's last frame.

Long chains drift (colours creep, detail softens); ``media.continuity`` decides each
continuous chunk's start image under a ``ContinuityPolicy``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from videogen_dagster.domain.chunk_plan import Chunk, ChunkPlan, check_chunk_sequence
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.generation import Generator
from videogen_dagster.media import (
    ContinuityPolicy,
    continuous_start_image,
    extract_last_frame,
    probe,
    trim_clip,
)
from videogen_dagster.pipeline.records import (
    BeatChain,
    ChunkRecord,
    ChunkSet,
    StartKind,
    StoryboardImage,
)
from videogen_dagster.providers.base import ClipRequest, Size
from videogen_dagster.store import layout


def make_reference_image_chunk(generator: Generator, image: StoryboardImage) -> BeatChain:
    """The beat's first clip, started from its storyboard image."""
    first = image.task.chunks[0]
    start_png = generator.store.read_bytes(image.key)
    record = _make_chunk(generator, image, first, start_png, "storyboard_image")
    return BeatChain(image=image, chunks=(record,))


def make_continuous_chunks(
    generator: Generator, chain: BeatChain, policy: ContinuityPolicy
) -> BeatChain:
    """The rest of the beat's clips, each from the last frame of the one before."""
    store = generator.store
    anchor = store.read_bytes(chain.image.key)
    records = list(chain.chunks)
    for chunk in chain.image.task.chunks[len(records) :]:
        with store.local_path(records[-1].key) as previous:
            start = continuous_start_image(
                chunk.index_in_beat,
                previous_last_frame=extract_last_frame(previous),
                storyboard_image=anchor,
                colour_reference=anchor,
                policy=policy,
            )
        started_from: StartKind = (
            "storyboard_reanchor" if start.source == "storyboard" else "previous_chunk_last_frame"
        )
        records.append(_make_chunk(generator, chain.image, chunk, start.png, started_from))
    return BeatChain(image=chain.image, chunks=tuple(records))


def _make_chunk(
    generator: Generator,
    image: StoryboardImage,
    chunk: Chunk,
    start_png: bytes,
    started_from: StartKind,
) -> ChunkRecord:
    store, task = generator.store, image.task
    spec = task.spec
    request = ClipRequest(
        start_image=start_png,
        prompt=task.beat.description,
        size=Size(task.width, task.height),
        fps=spec.fps,
        duration=chunk.generate_duration,
        # Not the chunk number: editing another beat must not change this chunk's request.
        seed=spec.seed + chunk.index_in_beat,
        style=spec.style,
    )
    # The start frame is stored first, so a refusal of it names a file the user can look at.
    start_key = layout.chunk_start_frame(spec.video_id, chunk.chunk_num)
    start_uri = store.write_bytes(start_key, start_png, "image/png")
    result = generator.clip(
        request,
        label=f"beat {chunk.beat_index} chunk {chunk.chunk_num} ({chunk.kind})",
        beat_index=chunk.beat_index,
        start_image_uri=start_uri,
    )
    key = layout.chunk(spec.video_id, chunk.chunk_num)
    with store.local_path(result.key) as generated:
        info = probe(generated)
        frames = round(chunk.duration * spec.fps)
        if info.frame_count == frames and abs(info.fps - spec.fps) < 1e-3:
            uri = store.write_file(key, generated, "video/mp4")
        else:
            with tempfile.TemporaryDirectory(prefix="videogen-trim-") as tmp:
                trimmed = Path(tmp) / "chunk.mp4"
                trim_clip(generated, trimmed, chunk.duration, spec.fps)
                uri = store.write_file(key, trimmed, "video/mp4")
    return ChunkRecord(
        chunk=chunk,
        key=key,
        uri=uri,
        started_from=started_from,
        start_frame_key=start_key,
        start_frame_uri=start_uri,
        generation=result,
    )


def collect_chunks(spec: ValidatedSpec, plan: ChunkPlan, chains: Sequence[BeatChain]) -> ChunkSet:
    """All chunks in chunk order; a gap, duplicate or orphan is an error naming the chunk."""
    records = sorted(
        (record for chain in chains for record in chain.chunks),
        key=lambda record: record.chunk.chunk_num,
    )
    check_chunk_sequence([(r.chunk.chunk_num, r.chunk.beat_index) for r in records], plan)
    return ChunkSet(video_id=spec.video_id, chunks=tuple(records))
