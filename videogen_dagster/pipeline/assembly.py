"""Stitching, music and the final video with its manifest.

A narrated video's final step also mixes the voices over the music (``media.mix``), draws
burned captions and muxes the subtitle track (``media.captions``); a video without narration
takes the plain path (the music's streams copied under the picture), unchanged.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from videogen_dagster.domain.captions import Cue
from videogen_dagster.domain.validation import ValidatedSpec
from videogen_dagster.generation import GenerationResult, Generator
from videogen_dagster.media import (
    extract_first_frame,
    mux_soundtrack,
    prepare_soundtrack,
    probe,
    stitch_clips,
)
from videogen_dagster.media.audio import decode_audio
from videogen_dagster.media.captions import CaptionLook, burn_captions, mux_final
from videogen_dagster.media.mix import (
    DEFAULT_MIX,
    MixResult,
    MixSettings,
    PlacedSpeech,
    mix_narration,
)
from videogen_dagster.pipeline.records import (
    BeatSpeech,
    Captions,
    ChunkSet,
    FinalVideo,
    Music,
    NarrationTrack,
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
    narration: NarrationTrack | None = None,
    captions: Captions | None = None,
    mix: MixSettings = DEFAULT_MIX,
) -> FinalVideo:
    """Lay the music (and narration, and captions) on the stitched video, then write
    ``final.mp4`` and ``manifest.json``."""
    video_id = spec.video_id
    final_key = layout.final_video(video_id)
    spoken = narration is not None and bool(narration.beats)
    mixed: MixResult | None = None
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="videogen-final-") as tmp:
        video = stack.enter_context(store.local_path(stitched.key))
        out = Path(tmp) / "final.mp4"
        music_file = stack.enter_context(store.local_path(music.key)) if music else None
        if spoken or captions is not None:
            mixed = _narrated_final(
                store, stack, Path(tmp), spec, video, music_file, narration, captions, mix, out
            )
        elif music_file is None:
            shutil.copyfile(video, out)
        else:
            mux_soundtrack(video, music_file, out)
        info = probe(out)
        store.write_bytes(layout.poster(video_id), extract_first_frame(out), "image/png")
        final_uri = store.write_file(final_key, out, "video/mp4")

    planning = _planning(store, video_id)
    generations = [planning] if planning else []
    generations += [ref.generation for ref in references if ref.generation]
    generations += [image.generation for image in storyboard.images]
    generations += [chunk.generation for chunk in chunks.chunks]
    generations += [music.generation] if music else []
    generations += [speech.generation for speech in narration.beats] if narration else []
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
            "has_subtitles": captions is not None,
        },
        "narration": [_speech_entry(speech) for speech in narration.beats] if narration else [],
        "captions": _captions_entry(captions),
        "mix": (
            {**mix.as_dict(), "measured_lufs": mixed.measured_lufs, "gain_db": mixed.gain_db}
            if mixed
            else None
        ),
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
        has_subtitles=captions is not None,
    )


def _narrated_final(
    store: Store,
    stack: ExitStack,
    tmp: Path,
    spec: ValidatedSpec,
    video: Path,
    music: Path | None,
    narration: NarrationTrack | None,
    captions: Captions | None,
    mix: MixSettings,
    out: Path,
) -> MixResult | None:
    """The final file of a narrated video: voices mixed over the ducked music, captions
    burned when asked, the subtitle track muxed."""
    mixed = None
    soundtrack = None
    if narration is not None and narration.beats:
        placed = [
            PlacedSpeech(
                speech.beat.start, decode_audio(stack.enter_context(store.local_path(speech.key)))
            )
            for speech in narration.beats
        ]
        soundtrack = tmp / "soundtrack.m4a"
        mixed = mix_narration(spec.duration, placed, music, soundtrack, mix)
    elif music is not None:
        soundtrack = music
    subtitles = None
    if captions is not None:
        subtitles = stack.enter_context(store.local_path(captions.srt_key))
        if captions.mode == "burned" and spec.captions is not None:
            style = spec.captions.style
            burned = tmp / "burned.mp4"
            cues = [Cue(cue.start, cue.end, cue.text) for cue in captions.cues]
            burn_captions(video, cues, burned, CaptionLook(style.size, style.color, style.box))
            video = burned
    mux_final(
        video,
        out,
        soundtrack=soundtrack,
        subtitles=subtitles,
        language=captions.language if captions else "und",
    )
    return mixed


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


def _speech_entry(speech: BeatSpeech) -> dict[str, Any]:
    return {
        "beat_index": speech.beat.index,
        "text": speech.beat.narration,
        "voice": speech.voice,
        "start": speech.beat.start,
        "duration": speech.duration,
        "speed": speech.speed,
        "tempo": speech.tempo,
        "uri": speech.uri,
        **_generation_entry(speech.generation),
    }


def _captions_entry(captions: Captions | None) -> dict[str, Any] | None:
    if captions is None:
        return None
    return {
        "mode": captions.mode,
        "language": captions.language,
        "cue_count": len(captions.cues),
        "srt": captions.srt_uri,
        "vtt": captions.vtt_uri,
    }


def _reference_entry(ref: ReferenceImage) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": ref.index, "source": ref.source, "uri": ref.uri}
    if ref.generation:
        entry |= _generation_entry(ref.generation)
    return entry
