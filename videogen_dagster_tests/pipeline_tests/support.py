"""The pipeline's steps called in order as plain functions, as the assets call them.

Seconds instead of a Dagster run, so the content and manifest tests here are cheap enough to
run once per mutant under mutation testing (see docs/testing.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videogen_dagster.domain.chunk_plan import plan_chunks
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.generation import Budget, Generator
from videogen_dagster.media import ContinuityPolicy
from videogen_dagster.pipeline import assembly, chunks, specs, storyboard
from videogen_dagster.pipeline.records import (
    ChunkSet,
    FinalVideo,
    Music,
    ReferenceImage,
    StitchedVideo,
    Storyboard,
)
from videogen_dagster.providers.local import LocalSettings, local_provider
from videogen_dagster.store import layout
from videogen_dagster.store.local import LocalStore

#: 2 s clips at 144p: several continuous chunks per beat, each a few dozen small frames.
SETTINGS = LocalSettings(
    short_side=144,
    clip_lengths=(2.0,),
    price_per_image=0.04,
    price_per_video_second=0.05,
    price_per_music_second=0.01,
)


@dataclass(frozen=True)
class Rendered:
    """What each step returned, for tests that run a later step again."""

    store: LocalStore
    generator: Generator
    spec: ValidatedSpec
    references: list[ReferenceImage]
    storyboard: Storyboard
    chunks: ChunkSet
    stitched: StitchedVideo
    music: Music | None
    final: FinalVideo


#: What ``render`` reports as the providers of the manifest.
PROVIDERS = {"planner": "local/scene-splitter", "images": "local/seeded-painting-v1"}


DEFAULT_POLICY, NO_BUDGET = ContinuityPolicy(), Budget()


def render(
    store_root: Path,
    spec_path: Path,
    *,
    policy: ContinuityPolicy = DEFAULT_POLICY,
    settings: LocalSettings = SETTINGS,
    budget: Budget = NO_BUDGET,
    generate_reference: bool = False,
) -> Rendered:
    """Register ``spec_path`` and render it step by step, as the job's assets do."""
    store = LocalStore(store_root)
    video_id, _ = specs.register_spec_file(spec_path, store)
    generator = Generator(local_provider(settings), store, video_id, budget=budget)
    spec = specs.build_validated_spec(store, generator)
    size = generator.provider.size_for(spec.aspect_ratio)
    references = storyboard.prepare_references(
        generator, spec, size, generate_when_missing=generate_reference
    )
    plan = plan_chunks(spec, generator.provider.clip_lengths)
    tasks = storyboard.beat_tasks(spec, plan, references, size)
    images = [storyboard.make_storyboard_image(generator, task) for task in tasks]
    board = storyboard.collect_storyboard(generator, spec, images)
    chains = [
        chunks.make_continuous_chunks(
            generator, chunks.make_reference_image_chunk(generator, image), policy
        )
        for image in images
    ]
    chunk_set = chunks.collect_chunks(spec, plan, chains)
    stitched = assembly.stitch(store, chunk_set)
    music = assembly.make_music(generator, spec)
    final = assembly.assemble_final(
        store, spec, references, board, chunk_set, stitched, music, providers=PROVIDERS
    )
    return Rendered(store, generator, spec, references, board, chunk_set, stitched, music, final)


def manifest(store_root: Path, video_id: str) -> dict[str, Any]:
    return json.loads((store_root / layout.manifest(video_id)).read_text())


def write_spec(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path
