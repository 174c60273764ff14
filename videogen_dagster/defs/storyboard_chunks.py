"""The storyboard and chunks assets: one graph that fans out per beat.

Each beat is its own branch: storyboard image -> reference image chunk -> continuous chunks. A
branch starts its clips as soon as its own image exists (no barrier across beats), and a failed
branch keeps every other branch's results. Dagster allows no nested fan-out, so a beat's
continuous chunks are made in order inside one step; each is cached as soon as it is made, so a
retried step pays only for what is missing.

The two assets can be materialized apart (``can_subset=True``): Dagster keeps the ops whose
outputs lead to a selected asset, so ``storyboard`` alone runs split → image → storyboard
(review the images before paying for clips, ``videogen render --storyboard-only``), and
``chunks`` alone runs the image steps too, which the cache answers for free.
"""

import dagster as dg

from videogen_dagster.defs.failures import GENERATION_RETRY, fail_without_retry_on_user_errors
from videogen_dagster.defs.metadata import (
    chunk_table,
    cost_metadata,
    image_md,
    spend_metadata,
    uri_value,
    video_metadata,
)
from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.priorities import CAN_WAIT
from videogen_dagster.defs.resources import GenerationResource, StoreResource
from videogen_dagster.domain.chunk_plan import plan_chunks
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.pipeline import chunks as chunk_steps
from videogen_dagster.pipeline import storyboard as storyboard_steps
from videogen_dagster.pipeline.records import (
    BeatChain,
    BeatTask,
    ChunkSet,
    ReferenceImage,
    Storyboard,
    StoryboardImage,
)
from videogen_dagster.providers.notices import notices_to

IMAGE_POOL = "image_api"
VIDEO_POOL = "video_api"

# Step keys read `<graph>.<op>[<beat>]`, and the UI's run sidebar and timeline cut them off
# after about 30 characters: short names keep the beat in sight (`beats.first_clip[beat_001]`).
GRAPH_NAME = "beats"
IMAGE_OP = "image"
FIRST_CLIP_OP = "first_clip"
NEXT_CLIPS_OP = "next_clips"


@dg.op(name="split", out=dg.DynamicOut(BeatTask))
def split_beats(
    context: dg.OpExecutionContext,
    spec: ValidatedSpec,
    references: list[ReferenceImage],
    generation: GenerationResource,
):
    """One branch per beat, each carrying its chunks of the plan; the longest chains first, so
    they start first (Dagster launches branches in the order they were yielded) and claim a
    pool's slots first."""
    provider = generation.provider()
    with fail_without_retry_on_user_errors():
        size = provider.size_for(spec.aspect_ratio)
    plan = plan_chunks(spec, provider.clip_lengths)
    for task in storyboard_steps.beat_tasks(spec, plan, references, size):
        yield dg.DynamicOutput(task, mapping_key=f"beat_{task.beat.index:03d}")


@dg.op(name=IMAGE_OP, retry_policy=GENERATION_RETRY, pool=IMAGE_POOL)
def storyboard_image(
    context: dg.OpExecutionContext,
    task: BeatTask,
    store: StoreResource,
    generation: GenerationResource,
) -> StoryboardImage:
    """The beat's storyboard image."""
    generator = generation.generator(store.open(), task.spec.video_id)
    with fail_without_retry_on_user_errors(), notices_to(context.log.info):
        image = storyboard_steps.make_storyboard_image(generator, task)
    context.log.info(f"beat {task.beat.index}: {image.uri} (${image.generation.cost:.4f})")
    return image


@dg.op(name=FIRST_CLIP_OP, retry_policy=GENERATION_RETRY, pool=VIDEO_POOL)
def reference_image_chunk(
    context: dg.OpExecutionContext,
    image: StoryboardImage,
    store: StoreResource,
    generation: GenerationResource,
) -> BeatChain:
    """The beat's first clip, from its storyboard image."""
    generator = generation.generator(store.open(), image.task.spec.video_id)
    with fail_without_retry_on_user_errors(), notices_to(context.log.info):
        return chunk_steps.make_reference_image_chunk(generator, image)


@dg.op(name=NEXT_CLIPS_OP, retry_policy=GENERATION_RETRY, pool=VIDEO_POOL)
def continuous_chunks(
    context: dg.OpExecutionContext,
    chain: BeatChain,
    store: StoreResource,
    generation: GenerationResource,
) -> BeatChain:
    """The beat's later clips, each from the previous clip's last frame."""
    generator = generation.generator(store.open(), chain.image.task.spec.video_id)
    with fail_without_retry_on_user_errors(), notices_to(context.log.info):
        return chunk_steps.make_continuous_chunks(generator, chain, generation.continuity())


@dg.op(name="storyboard", tags=CAN_WAIT)
def collect_storyboard(
    spec: ValidatedSpec,
    images: list[StoryboardImage],
    store: StoreResource,
    generation: GenerationResource,
) -> dg.Output[Storyboard]:
    """Exactly one image per beat, in beat order, with a contact sheet."""
    generator = generation.generator(store.open(), spec.video_id)
    storyboard = storyboard_steps.collect_storyboard(generator, spec, images)
    sheet = generator.store.read_bytes(storyboard.contact_sheet_key)
    return dg.Output(
        storyboard,
        metadata={
            **video_metadata(spec.video_id),
            "beat_count": len(storyboard.images),
            "contact_sheet": image_md(sheet, "storyboard", width=480),
            "contact_sheet_uri": uri_value(storyboard.contact_sheet_uri),
            **cost_metadata([image.generation for image in storyboard.images]),
            **spend_metadata(generator.store, spec.video_id),
        },
    )


@dg.op(name="chunks")
def collect_chunks(
    spec: ValidatedSpec,
    chains: list[BeatChain],
    store: StoreResource,
    generation: GenerationResource,
) -> dg.Output[ChunkSet]:
    """All chunks in chunk order; gaps and orphans are errors; costs summed."""
    plan = plan_chunks(spec, generation.provider().clip_lengths)
    chunk_set = chunk_steps.collect_chunks(spec, plan, chains)
    kinds = [record.chunk.kind for record in chunk_set.chunks]
    return dg.Output(
        chunk_set,
        metadata={
            **video_metadata(spec.video_id),
            "chunk_count": len(chunk_set.chunks),
            "reference_image_chunks": kinds.count("reference_image"),
            "continuous_chunks": kinds.count("continuous"),
            "seconds": round(sum(r.chunk.duration for r in chunk_set.chunks), 3),
            "chunks": chunk_table(chunk_set),
            "first_chunk_uri": uri_value(chunk_set.chunks[0].uri),
            **cost_metadata([record.generation for record in chunk_set.chunks]),
            **spend_metadata(store.open(), spec.video_id),
        },
    )


@dg.graph(name=GRAPH_NAME, out={"storyboard": dg.GraphOut(), "chunks": dg.GraphOut()})
def storyboard_and_chunks_graph(spec: ValidatedSpec, references: list[ReferenceImage]):
    tasks = split_beats(spec, references)
    images = tasks.map(storyboard_image)
    chains = images.map(reference_image_chunk).map(continuous_chunks)
    return {
        "storyboard": collect_storyboard(spec, images.collect()),
        "chunks": collect_chunks(spec, chains.collect()),
    }


storyboard_and_chunks = dg.AssetsDefinition.from_graph(
    storyboard_and_chunks_graph,
    keys_by_input_name={"spec": dg.AssetKey("spec"), "references": dg.AssetKey("references")},
    keys_by_output_name={"storyboard": dg.AssetKey("storyboard"), "chunks": dg.AssetKey("chunks")},
    internal_asset_deps={
        "storyboard": {dg.AssetKey("spec"), dg.AssetKey("references")},
        "chunks": {dg.AssetKey("storyboard"), dg.AssetKey("spec")},
    },
    partitions_def=videos,
    group_name="video",
    # Either asset can be materialized alone: `storyboard` runs only the image steps (review
    # it before paying for clips); `chunks` alone re-runs them too, served from the cache.
    can_subset=True,
    descriptions_by_output_name={
        "storyboard": "One storyboard image per beat, in beat order.",
        "chunks": "The video clips of every beat, in chunk order.",
    },
)
