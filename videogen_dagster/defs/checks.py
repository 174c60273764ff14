"""Asset checks on the fan-out's results, re-read from what was materialized.

The collect steps already refuse a wrong storyboard or chunk sequence; these checks show the
same facts in the UI for every partition, and catch a file that went missing afterwards. The
play checks decode every clip and the final video to the end, and leave a small animated
preview of each in their metadata: no later step waits for them, so the previews cost the
video no time (see ``docs/architecture.md``).

Every check is partitioned like its asset and names its video in its metadata, so a run that
failed before a check ran marks that check for its own video only.
"""

import dagster as dg

from videogen_dagster.defs.metadata import preview_md, preview_table, video_metadata
from videogen_dagster.defs.partitioned_checks import video_check
from videogen_dagster.defs.resources import StoreResource
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.media import MediaError
from videogen_dagster.media.preview import Preview, animated_preview
from videogen_dagster.pipeline.records import ChunkRecord, ChunkSet, Storyboard
from videogen_dagster.store import layout

STORYBOARD_CHECK = "one_image_per_beat_in_order"
CHUNKS_CHECK = "chunk_numbers_contiguous"
CLIPS_PLAY_CHECK = "every_clip_plays"
FINAL_PLAYS_CHECK = "final_video_plays"


@video_check(
    "storyboard",
    STORYBOARD_CHECK,
    "One storyboard image per beat, in beat order, made for that beat's words, and every "
    "image file still in the store.",
    reads_spec=True,
)
def storyboard_matches_beats(
    storyboard: Storyboard, spec: ValidatedSpec, store: StoreResource
) -> dg.AssetCheckResult:
    """Image count equals beat count, and image i was made for beat i."""
    the_store = store.open()
    pairs = list(zip(storyboard.images, spec.beats, strict=False))
    mismatched = [
        beat.index
        for image, beat in pairs
        if image.beat_index != beat.index or image.beat.description != beat.description
    ]
    missing = [image.key for image in storyboard.images if not the_store.exists(image.key)]
    return dg.AssetCheckResult(
        passed=len(storyboard.images) == len(spec.beats) and not mismatched and not missing,
        metadata={
            **video_metadata(spec.video_id),
            "image_count": len(storyboard.images),
            "beat_count": len(spec.beats),
            "mismatched_beats": str(mismatched),
            "missing_files": str(missing),
        },
    )


@video_check(
    "chunks",
    CHUNKS_CHECK,
    "Chunk numbers run 0..n-1 in order with no gap, and every clip file is still in the store.",
)
def chunks_are_contiguous(chunks: ChunkSet, store: StoreResource) -> dg.AssetCheckResult:
    """Chunk numbers are exactly 0..n-1, in order, and every chunk file exists."""
    the_store = store.open()
    numbers = [record.chunk.chunk_num for record in chunks.chunks]
    missing = [record.key for record in chunks.chunks if not the_store.exists(record.key)]
    return dg.AssetCheckResult(
        passed=numbers == list(range(len(numbers))) and not missing,
        metadata={
            **video_metadata(chunks.video_id),
            "chunk_count": len(numbers),
            "missing_files": str(missing),
        },
    )


@video_check(
    "chunks",
    CLIPS_PLAY_CHECK,
    "Every clip decodes to its last frame with the frames its chunk plans; the metadata holds "
    "an animated preview of each clip to watch in the UI.",
    reads_spec=True,
)
def every_clip_plays(
    chunks: ChunkSet, spec: ValidatedSpec, store: StoreResource
) -> dg.AssetCheckResult:
    """Decode each clip to its end (the preview is made on the way); count its frames."""
    the_store = store.open()
    rows: list[tuple[ChunkRecord, Preview]] = []
    wrong: list[str] = []
    for record in chunks.chunks:
        chunk = record.chunk
        name = f"chunk_{chunk.chunk_num:03d}"
        try:
            with the_store.local_path(record.key) as clip:
                preview = animated_preview(clip)
        except (MediaError, OSError) as exc:
            wrong.append(f"{name}: {exc}")
            continue
        expected = round(chunk.duration * spec.fps)
        if preview.source_frames != expected:
            wrong.append(f"{name}: {preview.source_frames} frames, planned {expected}")
        rows.append((record, preview))
    return dg.AssetCheckResult(
        passed=not wrong,
        metadata={
            **video_metadata(chunks.video_id),
            "clips_played": len(rows),
            "problems": "; ".join(wrong) or "none",
            "previews": preview_table(rows),
        },
    )


@video_check(
    "final_video",
    FINAL_PLAYS_CHECK,
    "The final video decodes from its first frame to its last; the metadata holds an animated "
    "preview of it to watch in the UI.",
    reads_spec=True,
)
def final_video_plays(spec: ValidatedSpec, store: StoreResource) -> dg.AssetCheckResult:
    """Decode the final video to its end, making its preview on the way."""
    try:
        with store.open().local_path(layout.final_video(spec.video_id)) as final:
            preview = animated_preview(final, width=240, frames_per_second=2.0, max_frames=48)
    except (MediaError, OSError) as exc:
        return dg.AssetCheckResult(
            passed=False, metadata={**video_metadata(spec.video_id), "problem": str(exc)}
        )
    expected = round(spec.duration * spec.fps)
    return dg.AssetCheckResult(
        passed=abs(preview.source_frames - expected) <= 1,
        metadata={
            **video_metadata(spec.video_id),
            "frames_decoded": preview.source_frames,
            "frames_expected": expected,
            "preview": preview_md(preview, f"{spec.video_id} final video"),
        },
    )
