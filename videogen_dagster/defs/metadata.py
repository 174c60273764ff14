"""Metadata helpers: what a person sees for each asset in the Dagster UI."""

import base64
from typing import Any

import dagster as dg

from videogen_dagster.generation import GenerationResult, video_spend
from videogen_dagster.media import thumbnail_png
from videogen_dagster.media.preview import Preview
from videogen_dagster.pipeline.records import ChunkRecord, ChunkSet
from videogen_dagster.store.base import Store


def image_md(png: bytes, alt: str, width: int = 320) -> dg.MetadataValue:
    """A small inline thumbnail: Dagster has no image metadata type, and the event log must
    stay small."""
    encoded = base64.b64encode(thumbnail_png(png, width)).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def preview_md(preview: Preview, alt: str) -> dg.MetadataValue:
    """An animated WebP a browser plays inline (``[Show Markdown]`` in the UI opens it)."""
    return dg.MetadataValue.md(_webp_image(preview, alt))


def preview_table(rows: list[tuple[ChunkRecord, Preview]]) -> dg.MetadataValue:
    """Every clip's preview in one table, beside its chunk number, beat, kind and seconds:
    one ``[Show Markdown]`` shows the whole video clip by clip."""
    lines = ["| chunk | beat | kind | seconds | clip |", "|---:|---:|---|---:|---|"]
    for record, preview in rows:
        chunk = record.chunk
        image = _webp_image(preview, f"chunk {chunk.chunk_num}")
        lines.append(
            f"| {chunk.chunk_num} | {chunk.beat_index} | {chunk.kind} | {chunk.duration:g} "
            f"| {image} |"
        )
    return dg.MetadataValue.md("\n".join(lines))


def _webp_image(preview: Preview, alt: str) -> str:
    encoded = base64.b64encode(preview.webp).decode("ascii")
    return f"![{alt}](data:image/webp;base64,{encoded})"


def video_metadata(video_id: str) -> dict[str, Any]:
    """Which video (partition of ``videos``) an asset or check result belongs to."""
    return {"video": dg.MetadataValue.text(video_id)}


def spend_metadata(store: Store, video_id: str) -> dict[str, Any]:
    """What the video has been charged over all its runs, failed ones included (its ledger),
    to read beside this run's ``cost_usd``."""
    return {"video_spent_usd": dg.MetadataValue.float(round(video_spend(store, video_id), 6))}


def chunk_table(chunks: ChunkSet) -> dg.MetadataValue:
    """Every chunk in order: its beat, kind, seconds, this run's cost and its start image."""
    rows = [
        "| chunk | beat | kind | seconds | cost (USD) | cache | start image |",
        "|---:|---:|---|---:|---:|---|---|",
    ]
    for record in chunks.chunks:
        chunk, generation = record.chunk, record.generation
        rows.append(
            f"| {chunk.chunk_num} | {chunk.beat_index} | {chunk.kind} | {chunk.duration:g} "
            f"| {generation.cost:.4f} | {'hit' if generation.cache_hit else 'new'} "
            f"| {record.started_from.replace('_', ' ')}: `{_in_video(record.start_frame_key)}` |"
        )
    return dg.MetadataValue.md("\n".join(rows))


def _in_video(key: str) -> str:
    """The file name of a store key (``chunk-000-start.png``, in the video's ``frames/``): the
    table is narrow in the UI, and already that video's."""
    return key.rsplit("/", 1)[-1]


def uri_value(uri: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(uri) if "://" in uri else dg.MetadataValue.path(uri)


def cost_metadata(generations: list[GenerationResult]) -> dict[str, Any]:
    return {
        "cost_usd": dg.MetadataValue.float(float(round(sum(g.cost for g in generations), 6))),
        "calls": dg.MetadataValue.int(sum(not g.cache_hit for g in generations)),
        "cache_hits": dg.MetadataValue.int(sum(g.cache_hit for g in generations)),
    }
