"""Laying a music bed under a finished video without touching the picture."""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from videogen_dagster.media.encode import AAC_OPTIONS
from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.ffmpeg import atomic_output, run
from videogen_dagster.media.probe import probe


def add_soundtrack(
    video: Path,
    music: Path,
    dst: Path,
    *,
    volume_db: float = -14.0,
    fade_seconds: float = 1.5,
) -> None:
    """Mux ``music`` under ``video`` into ``dst``: looped or cut to the video's length.

    The music fades in and out over ``fade_seconds`` (at most half the video) and is lowered by
    ``volume_db`` so it sits under any narration added later. The video stream is copied
    packet for packet: adding music never re-encodes (or degrades) the picture.
    """
    info = probe(video)
    if not info.has_video:
        raise MediaError(f"cannot add a soundtrack to {video}: it has no video stream")
    length = info.duration
    fade = min(fade_seconds, length / 2)
    audio = (
        ffmpeg.input(str(music), stream_loop=-1)
        .audio.filter("atrim", duration=length)
        .filter("asetpts", "PTS-STARTPTS")
        .filter("afade", t="in", st=0, d=fade)
        .filter("afade", t="out", st=length - fade, d=fade)
        .filter("volume", f"{volume_db}dB")
    )
    picture = ffmpeg.input(str(video)).video
    with atomic_output(dst) as partial:
        stream = ffmpeg.output(
            picture,
            audio,
            str(partial),
            t=length,
            movflags="+faststart",
            **{"c:v": "copy"},
            **AAC_OPTIONS,
        )
        run(stream, what=f"lay {music} under {video}")
