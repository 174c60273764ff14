"""The assets outside the per-beat fan-out: spec, references, stitched video, music, final."""

from typing import Any

import dagster as dg

from videogen_dagster.defs.failures import GENERATION_RETRY, fail_without_retry_on_user_errors
from videogen_dagster.defs.metadata import (
    cost_metadata,
    image_md,
    spend_metadata,
    uri_value,
    video_metadata,
)
from videogen_dagster.defs.partitioned_checks import video_check_spec
from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.priorities import CAN_WAIT
from videogen_dagster.defs.resources import GenerationResource, StoreResource
from videogen_dagster.domain.chunk_plan import plan_chunks
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.media.captions import subtitle_tracks
from videogen_dagster.pipeline import assembly, estimate, specs, storyboard
from videogen_dagster.pipeline.records import (
    Captions,
    ChunkSet,
    Music,
    NarrationTrack,
    ReferenceImage,
    StitchedVideo,
    Storyboard,
)
from videogen_dagster.store import layout

FINAL_DURATION_CHECK = "duration_matches_spec"
FINAL_AUDIO_CHECK = "has_audio_when_music_on"
FINAL_SUBTITLES_CHECK = "has_subtitle_track_when_captions_on"

FINAL_CHECK_SPECS = [
    video_check_spec(
        FINAL_DURATION_CHECK,
        "final_video",
        "The final video lasts the spec's duration, to within one frame.",
    ),
    video_check_spec(
        FINAL_AUDIO_CHECK,
        "final_video",
        "The final video has an audio track whenever the spec turns music on.",
    ),
    video_check_spec(
        FINAL_SUBTITLES_CHECK,
        "final_video",
        "The final video has a subtitle track whenever captions are on.",
    ),
]


@dg.asset(partitions_def=videos, group_name="video", kinds={"python"})
def spec(
    context: dg.AssetExecutionContext, store: StoreResource, generation: GenerationResource
) -> dg.Output[ValidatedSpec]:
    """The registered spec, with beats planned, counted, fitted to the duration and validated."""
    video_id = context.partition_key
    # `dagster job execute` does not refuse a partition that was never added: stop here,
    # before anything is paid for, rather than fail at the end.
    if not context.instance.has_dynamic_partition(videos.name, video_id):
        raise dg.Failure(
            f"video {video_id!r} is not a partition of {videos.name!r}: register it first "
            "(`videogen register SPEC`, `videogen render SPEC`, or the inbox sensor)",
            allow_retries=False,
        )
    generator = generation.generator(store.open(), video_id)
    with fail_without_retry_on_user_errors():
        validated = specs.build_validated_spec(generator.store, generator)
    if validated.truncation:
        record = validated.truncation
        context.log.warning(
            f"{video_id}: {record.original_count} beats truncated to {record.kept_count} "
            f"for a {record.duration:g} s video"
        )
    for note in validated.adjustments:
        context.log.warning(f"{video_id}: {note}")
    plan = plan_chunks(validated, generator.provider.clip_lengths)
    with fail_without_retry_on_user_errors():  # a ratio the clip model cannot make stops here
        cost = estimate.estimate_validated(
            validated,
            estimate.registered_references(generator.store, validated),
            generator.provider,
            generator.store,
            planning=estimate.planning_call(generator.planning),
            generate_reference=generation.generate_reference,
        )
    return dg.Output(
        validated,
        metadata={
            **video_metadata(video_id),
            # What the whole render costs, priced before any image or clip is paid for.
            "estimated_cost_usd": cost.total,
            "estimate": dg.MetadataValue.md(estimate.metadata_markdown(cost)),
            "beat_count": len(validated.beats),
            "chunk_count": len(plan.chunks),
            # Read by `videogen render`'s progress bar: how many clips each beat's steps make.
            "chunks_per_beat": dg.MetadataValue.json(
                {str(b.index): len(plan.chunks_of_beat(b.index)) for b in validated.beats}
            ),
            "duration_s": validated.duration,
            "beats_source": validated.beats_source,
            "truncated": validated.truncation is not None,
            "beats": dg.MetadataValue.md(
                "\n".join(
                    f"{b.index}. `{b.start:g}–{b.start + b.duration:g} s` {b.description}"
                    for b in validated.beats
                )
            ),
            "uri": uri_value(generator.store.uri(layout.validated_spec(video_id))),
        },
    )


@dg.asset(
    partitions_def=videos, group_name="video", retry_policy=GENERATION_RETRY, pool="image_api"
)
def references(
    context: dg.AssetExecutionContext,
    spec: ValidatedSpec,
    store: StoreResource,
    generation: GenerationResource,
) -> dg.Output[list[ReferenceImage]]:
    """Style/character reference images every generation call uses for consistency."""
    generator = generation.generator(store.open(), spec.video_id)
    with fail_without_retry_on_user_errors():
        size = generator.provider.size_for(spec.aspect_ratio)
        refs = storyboard.prepare_references(
            generator, spec, size, generate_when_missing=generation.generate_reference
        )
    metadata: dict[str, Any] = {
        **video_metadata(spec.video_id),
        "reference_count": len(refs),
        **cost_metadata([ref.generation for ref in refs if ref.generation]),
        **spend_metadata(generator.store, spec.video_id),
    }
    if refs:
        metadata["first_reference"] = image_md(generator.store.read_bytes(refs[0].key), "reference")
    return dg.Output(refs, metadata=metadata)


@dg.asset(partitions_def=videos, group_name="video")
def stitched_video(
    context: dg.AssetExecutionContext, chunks: ChunkSet, store: StoreResource
) -> dg.Output[StitchedVideo]:
    """The chunks joined in order."""
    stitched = assembly.stitch(store.open(), chunks)
    return dg.Output(
        stitched,
        metadata={
            **video_metadata(stitched.video_id),
            "duration_s": stitched.duration,
            "frame_count": stitched.frame_count,
            "reencoded": stitched.reencoded,
            "uri": uri_value(stitched.uri),
        },
    )


@dg.asset(
    partitions_def=videos, group_name="video", retry_policy=GENERATION_RETRY, op_tags=CAN_WAIT
)
def music(
    context: dg.AssetExecutionContext,
    spec: ValidatedSpec,
    store: StoreResource,
    generation: GenerationResource,
) -> dg.Output[Music | None]:
    """The music bed for the whole video (none when the spec turns music off)."""
    generator = generation.generator(store.open(), spec.video_id)
    with fail_without_retry_on_user_errors():
        track = assembly.make_music(generator, spec)
    if track is None:
        return dg.Output(None, metadata={**video_metadata(spec.video_id), "music": "off"})
    return dg.Output(
        track,
        metadata={
            **video_metadata(spec.video_id),
            "prompt": track.prompt,
            "duration_s": spec.duration,
            "uri": uri_value(track.uri),
            **cost_metadata([track.generation]),
            **spend_metadata(generator.store, spec.video_id),
        },
    )


@dg.asset(
    partitions_def=videos,
    group_name="video",
    check_specs=FINAL_CHECK_SPECS,
)
def final_video(
    context: dg.AssetExecutionContext,
    spec: ValidatedSpec,
    references: list[ReferenceImage],
    storyboard: Storyboard,
    chunks: ChunkSet,
    stitched_video: StitchedVideo,
    music: Music | None,
    narration: NarrationTrack,
    captions: Captions | None,
    store: StoreResource,
    generation: GenerationResource,
) -> dg.MaterializeResult:
    """The finished video with its music, narration and captions, and the manifest of what it
    was made from."""
    the_store = store.open()
    final = assembly.assemble_final(
        the_store,
        spec,
        references,
        storyboard,
        chunks,
        stitched_video,
        music,
        providers=generation.describe(),
        narration=narration,
        captions=captions,
    )
    with the_store.local_path(final.key) as final_file:
        tracks = subtitle_tracks(final_file)
    frame = 1 / spec.fps
    duration_ok = abs(final.duration - spec.duration) <= frame + 1e-6
    audio_ok = final.has_audio or spec.music is None
    return dg.MaterializeResult(
        metadata={
            **video_metadata(spec.video_id),
            "duration_s": final.duration,
            "frame_count": final.frame_count,
            "has_audio": final.has_audio,
            "has_subtitles": final.has_subtitles,
            "total_cost_usd": final.total_cost,
            **spend_metadata(the_store, spec.video_id),
            "poster": image_md(the_store.read_bytes(layout.poster(spec.video_id)), "final video"),
            "uri": uri_value(final.uri),
            "manifest": uri_value(final.manifest_uri),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=FINAL_DURATION_CHECK,
                passed=duration_ok,
                metadata={
                    **video_metadata(spec.video_id),
                    "final_s": final.duration,
                    "spec_s": spec.duration,
                    "tolerance_s": frame,
                },
            ),
            dg.AssetCheckResult(
                check_name=FINAL_SUBTITLES_CHECK,
                passed=(captions is None) or bool(tracks),
                metadata={
                    **video_metadata(spec.video_id),
                    "captions": captions.mode if captions else "off",
                    "subtitle_tracks": str(tracks),
                },
            ),
            dg.AssetCheckResult(
                check_name=FINAL_AUDIO_CHECK,
                passed=audio_ok,
                metadata={
                    **video_metadata(spec.video_id),
                    "music_on": spec.music is not None,
                    "has_audio": final.has_audio,
                },
            ),
        ],
    )
