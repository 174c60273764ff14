"""References and storyboard: one image per beat, checked for count and order."""

from __future__ import annotations

from collections.abc import Sequence

from videogen_dagster.domain.chunk_plan import ChunkPlan
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.generation import Generator
from videogen_dagster.media import contact_sheet, resize_exact
from videogen_dagster.media.contact_sheet import time_range_label
from videogen_dagster.pipeline.records import (
    BeatTask,
    ReferenceImage,
    Storyboard,
    StoryboardImage,
)
from videogen_dagster.providers.base import ImageRequest, Size
from videogen_dagster.store import layout


class StoryboardError(ValueError):
    """The storyboard does not have exactly one image per beat, in beat order."""


def prepare_references(
    generator: Generator, spec: ValidatedSpec, size: Size, *, generate_when_missing: bool
) -> list[ReferenceImage]:
    """The spec's reference images at clip size, or one generated style frame when asked to."""
    store, video_id = generator.store, spec.video_id
    references = []
    for index, source in enumerate(spec.references):
        png = resize_exact(store.read_bytes(layout.input_reference(video_id, index, source)), size)
        key = layout.reference_image(video_id, index)
        uri = store.write_bytes(key, png, "image/png")
        references.append(ReferenceImage(index=index, source=source, key=key, uri=uri))
    if not references and generate_when_missing and spec.prompt:
        request = ImageRequest(prompt=spec.prompt, size=size, seed=spec.seed, style=spec.style)
        result = generator.image(request, label="style reference image")
        key = layout.reference_image(video_id, 0)
        uri = store.write_bytes(key, store.read_bytes(result.key), "image/png")
        references.append(
            ReferenceImage(index=0, source="generated", key=key, uri=uri, generation=result)
        )
    return references


def beat_tasks(
    spec: ValidatedSpec, plan: ChunkPlan, references: Sequence[ReferenceImage], size: Size
) -> list[BeatTask]:
    """One task per beat, in the order the branches should start (longest chain first)."""
    return [
        BeatTask(
            spec=spec,
            beat=spec.beats[index],
            chunks=plan.chunks_of_beat(index),
            reference_keys=tuple(ref.key for ref in references),
            width=size.width,
            height=size.height,
        )
        for index in plan.beats_longest_chain_first()
    ]


def make_storyboard_image(generator: Generator, task: BeatTask) -> StoryboardImage:
    store, spec, beat = generator.store, task.spec, task.beat
    request = ImageRequest(
        prompt=beat.description,
        size=Size(task.width, task.height),
        seed=spec.seed,
        style=spec.style,
        references=tuple(store.read_bytes(key) for key in task.reference_keys),
    )
    result = generator.image(
        request,
        label=f"beat {beat.index} storyboard image",
        beat_index=beat.index,
        image_inputs=", ".join(store.uri(key) for key in task.reference_keys),
    )
    key = layout.storyboard_image(spec.video_id, beat.index)
    uri = store.write_bytes(key, store.read_bytes(result.key), "image/png")
    return StoryboardImage(task=task, key=key, uri=uri, generation=result)


def collect_storyboard(
    generator: Generator, spec: ValidatedSpec, images: Sequence[StoryboardImage]
) -> Storyboard:
    """The images in beat order, after checking there is exactly one per beat."""
    ordered = sorted(images, key=lambda image: image.beat_index)
    found = [image.beat_index for image in ordered]
    expected = [beat.index for beat in spec.beats]
    if found != expected:
        raise StoryboardError(
            f"video {spec.video_id!r}: storyboard has images for beats {found}, "
            f"expected exactly one for each of {expected}"
        )
    for image, beat in zip(ordered, spec.beats, strict=True):
        if image.beat.description != beat.description:
            raise StoryboardError(
                f"video {spec.video_id!r}: the image for beat {beat.index} was made for "
                f"{image.beat.description!r}, not {beat.description!r}"
            )
    store = generator.store
    sheet = contact_sheet(
        [store.read_bytes(image.key) for image in ordered],
        [time_range_label(image.beat.start, image.beat.duration) for image in ordered],
    )
    sheet_key = layout.contact_sheet(spec.video_id)
    sheet_uri = store.write_bytes(sheet_key, sheet, "image/png")
    return Storyboard(
        video_id=spec.video_id,
        images=tuple(ordered),
        contact_sheet_key=sheet_key,
        contact_sheet_uri=sheet_uri,
    )
