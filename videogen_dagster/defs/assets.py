"""The assets outside the per-beat fan-out: spec, references, stitched video, music, final."""

from typing import Any

import dagster as dg

from videogen_dagster.defs.failures import GENERATION_RETRY, fail_without_retry_on_user_errors
from videogen_dagster.defs.metadata import cost_metadata, image_md, uri_value
from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.priorities import CAN_WAIT
from videogen_dagster.defs.resources import GenerationResource, StoreResource
from videogen_dagster.domain.chunk_plan import plan_chunks
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.pipeline import assembly, specs, storyboard
from videogen_dagster.pipeline.records import (
    ChunkSet,
    Music,
    ReferenceImage,
    StitchedVideo,
    Storyboard,
)
from videogen_dagster.store import layout

FINAL_DURATION_CHECK = "duration_matches_spec"
FINAL_AUDIO_CHECK = "has_audio_when_music_on"


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
    return dg.Output(
        validated,
        metadata={
            "beat_count": len(validated.beats),
            "chunk_count": len(plan.chunks),
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
        "reference_count": len(refs),
        **cost_metadata([ref.generation for ref in refs if ref.generation]),
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
        return dg.Output(None, metadata={"music": "off"})
    return dg.Output(
        track,
        metadata={
            "prompt": track.prompt,
            "duration_s": spec.duration,
            "uri": uri_value(track.uri),
            **cost_metadata([track.generation]),
        },
    )


@dg.asset(
    partitions_def=videos,
    group_name="video",
    check_specs=[
        dg.AssetCheckSpec(FINAL_DURATION_CHECK, asset="final_video"),
        dg.AssetCheckSpec(FINAL_AUDIO_CHECK, asset="final_video"),
    ],
)
def final_video(
    context: dg.AssetExecutionContext,
    spec: ValidatedSpec,
    references: list[ReferenceImage],
    storyboard: Storyboard,
    chunks: ChunkSet,
    stitched_video: StitchedVideo,
    music: Music | None,
    store: StoreResource,
    generation: GenerationResource,
) -> dg.MaterializeResult:
    """The finished video with its music, and the manifest of what it was made from."""
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
    )
    frame = 1 / spec.fps
    duration_ok = abs(final.duration - spec.duration) <= frame + 1e-6
    audio_ok = final.has_audio or spec.music is None
    return dg.MaterializeResult(
        metadata={
            "duration_s": final.duration,
            "frame_count": final.frame_count,
            "has_audio": final.has_audio,
            "total_cost_usd": final.total_cost,
            "poster": image_md(the_store.read_bytes(layout.poster(spec.video_id)), "final video"),
            "uri": uri_value(final.uri),
            "manifest": uri_value(final.manifest_uri),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=FINAL_DURATION_CHECK,
                passed=duration_ok,
                metadata={"final_s": final.duration, "spec_s": spec.duration, "tolerance_s": frame},
            ),
            dg.AssetCheckResult(
                check_name=FINAL_AUDIO_CHECK,
                passed=audio_ok,
                metadata={"music_on": spec.music is not None, "has_audio": final.has_audio},
            ),
        ],
    )
