"""Asset checks on the fan-out's results, re-read from what was materialized.

The collect steps already refuse a wrong storyboard or chunk sequence; these checks show the
same facts in the UI for every partition, and catch a file that went missing afterwards.
"""

import warnings

import dagster as dg

from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.priorities import CAN_WAIT
from videogen_dagster.defs.resources import StoreResource
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.pipeline.records import ChunkSet, Storyboard

STORYBOARD_CHECK = "one_image_per_beat_in_order"
CHUNKS_CHECK = "chunk_numbers_contiguous"


# A check on a partitioned asset needs its own partitions_def, or it loads every partition and
# breaks as soon as there are two; Dagster 1.13 warns that this parameter is a preview.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)

    @dg.asset_check(
        asset="storyboard",
        name=STORYBOARD_CHECK,
        partitions_def=videos,
        op_tags=CAN_WAIT,
        additional_ins={"spec": dg.AssetIn("spec")},
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
                "image_count": len(storyboard.images),
                "beat_count": len(spec.beats),
                "mismatched_beats": str(mismatched),
                "missing_files": str(missing),
            },
        )

    @dg.asset_check(asset="chunks", name=CHUNKS_CHECK, partitions_def=videos, op_tags=CAN_WAIT)
    def chunks_are_contiguous(chunks: ChunkSet, store: StoreResource) -> dg.AssetCheckResult:
        """Chunk numbers are exactly 0..n-1, in order, and every chunk file exists."""
        the_store = store.open()
        numbers = [record.chunk.chunk_num for record in chunks.chunks]
        missing = [record.key for record in chunks.chunks if not the_store.exists(record.key)]
        return dg.AssetCheckResult(
            passed=numbers == list(range(len(numbers))) and not missing,
            metadata={"chunk_count": len(numbers), "missing_files": str(missing)},
        )
