"""Stitching, music and the final video with its manifest."""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.generation import GenerationResult, Generator
from videogen_dagster.media import (
    extract_first_frame,
    mux_soundtrack,
    prepare_soundtrack,
    probe,
    stitch_clips,
)
from videogen_dagster.pipeline.records import (
    ChunkSet,
    FinalVideo,
    Music,
    ReferenceImage,
    StitchedVideo,
    Storyboard,
)
from videogen_dagster.providers.base import MusicRequest
from videogen_dagster.store import layout
from videogen_dagster.store.base import Store

MANIFEST_VERSION = 1


def stitch(store: Store, chunks: ChunkSet) -> StitchedVideo:
    """The chunks joined in order (stream copy when they share codec parameters)."""
    key = layout.stitched(chunks.video_id)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="videogen-stitch-") as tmp:
        paths = [stack.enter_context(store.local_path(c.key)) for c in chunks.chunks]
        out = Path(tmp) / "stitched.mp4"
        result = stitch_clips(paths, out)
        uri = store.write_file(key, out, "video/mp4")
    return StitchedVideo(
        video_id=chunks.video_id,
        key=key,
        uri=uri,
        duration=result.duration,
        frame_count=result.frame_count,
        reencoded=result.reencoded,
    )


def make_music(generator: Generator, spec: ValidatedSpec) -> Music | None:
    """The soundtrack for the whole video (faded, levelled, exactly as long), or ``None`` when
    the spec turns music off. It is made while the clips are, so the final step only muxes."""
    if spec.music is None:
        return None
    request = MusicRequest(prompt=spec.music.prompt, duration=spec.duration, seed=spec.seed)
    result = generator.music(request, label="music")
    key = layout.music(spec.video_id)
    store = generator.store
    with store.local_path(result.key) as music, tempfile.TemporaryDirectory() as tmp:
        soundtrack = Path(tmp) / "music.m4a"
        prepare_soundtrack(music, soundtrack, spec.duration)
        uri = store.write_file(key, soundtrack, "audio/mp4")
    return Music(prompt=request.prompt, key=key, uri=uri, generation=result)


def assemble_final(
    store: Store,
    spec: ValidatedSpec,
    references: list[ReferenceImage],
    storyboard: Storyboard,
    chunks: ChunkSet,
    stitched: StitchedVideo,
    music: Music | None,
    *,
    providers: dict[str, str],
) -> FinalVideo:
    """Lay the music under the stitched video, then write ``final.mp4`` and ``manifest.json``."""
    video_id = spec.video_id
    final_key = layout.final_video(video_id)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="videogen-final-") as tmp:
        video = stack.enter_context(store.local_path(stitched.key))
        out = Path(tmp) / "final.mp4"
        if music is None:
            shutil.copyfile(video, out)
        else:
            mux_soundtrack(video, stack.enter_context(store.local_path(music.key)), out)
        info = probe(out)
        store.write_bytes(layout.poster(video_id), extract_first_frame(out), "image/png")
        final_uri = store.write_file(final_key, out, "video/mp4")

    planning = _planning(store, video_id)
    generations = [planning] if planning else []
    generations += [ref.generation for ref in references if ref.generation]
    generations += [image.generation for image in storyboard.images]
    generations += [chunk.generation for chunk in chunks.chunks]
    generations += [music.generation] if music else []
    total_cost = round(sum(g.cost for g in generations), 6)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "video_id": video_id,
        "status": "complete",
        "created_at": datetime.now(UTC).isoformat(),
        "providers": providers,
        "spec": spec.model_dump(mode="json"),
        "planning": _generation_entry(planning) if planning else None,
        "references": [_reference_entry(ref) for ref in references],
        "beats": [
            {
                "index": image.beat.index,
                "description": image.beat.description,
                "start": image.beat.start,
                "duration": image.beat.duration,
                "image": {"uri": image.uri, **_generation_entry(image.generation)},
            }
            for image in storyboard.images
        ],
        "contact_sheet": storyboard.contact_sheet_uri,
        "chunks": [
            {
                "chunk_num": record.chunk.chunk_num,
                "beat_index": record.chunk.beat_index,
                "kind": record.chunk.kind,
                "start": record.chunk.start,
                "duration": record.chunk.duration,
                "generated_duration": record.chunk.generate_duration,
                "started_from": {"kind": record.started_from, "uri": record.start_frame_uri},
                "uri": record.uri,
                **_generation_entry(record.generation),
            }
            for record in chunks.chunks
        ],
        "stitched": {"uri": stitched.uri, "reencoded": stitched.reencoded},
        "music": (
            {"prompt": music.prompt, "uri": music.uri, **_generation_entry(music.generation)}
            if music
            else None
        ),
        "final": {
            "uri": final_uri,
            "duration": info.duration,
            "frame_count": info.frame_count,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "has_audio": info.has_audio,
        },
        "truncation": spec.truncation.model_dump(mode="json") if spec.truncation else None,
        "adjustments": spec.adjustments,
        "calls": sum(not g.cache_hit for g in generations),
        "cache_hits": sum(g.cache_hit for g in generations),
        "total_cost": total_cost,
        "total_cost_without_cache": round(sum(g.original_cost for g in generations), 6),
    }
    manifest_key = layout.manifest(video_id)
    manifest_uri = store.write_text(
        manifest_key, json.dumps(manifest, indent=2), "application/json"
    )
    return FinalVideo(
        video_id=video_id,
        key=final_key,
        uri=final_uri,
        manifest_key=manifest_key,
        manifest_uri=manifest_uri,
        duration=info.duration,
        frame_count=info.frame_count,
        has_audio=info.has_audio,
        total_cost=total_cost,
    )


def _planning(store: Store, video_id: str) -> GenerationResult | None:
    """The beat planning the spec step recorded, when beats were planned from the prompt."""
    key = layout.planning(video_id)
    if not store.exists(key):
        return None
    return GenerationResult(**json.loads(store.read_text(key)))


def _generation_entry(generation: GenerationResult) -> dict[str, Any]:
    return {
        "cost": generation.cost,
        "original_cost": generation.original_cost,
        "cache_hit": generation.cache_hit,
        "provider": generation.provider,
        "model": generation.model,
        "fingerprint": generation.fingerprint,
        "job_id": generation.job_id,
    }


def _reference_entry(ref: ReferenceImage) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": ref.index, "source": ref.source, "uri": ref.uri}
    if ref.generation:
        entry |= _generation_entry(ref.generation)
    return entry
