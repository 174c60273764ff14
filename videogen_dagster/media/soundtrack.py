"""Laying a music bed under a finished video without touching the picture."""

from __future__ import annotations

import tempfile
from pathlib import Path

import ffmpeg

from videogen_dagster.media.encode import AAC_OPTIONS
from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.ffmpeg import atomic_output, run
from videogen_dagster.media.probe import probe


def prepare_soundtrack(
    music: Path,
    dst: Path,
    duration: float,
    *,
    volume_db: float = -14.0,
    fade_seconds: float = 1.5,
) -> None:
    """Write ``music`` as the soundtrack of a ``duration``-second video: looped or cut to length,
    faded in and out over ``fade_seconds`` (at most half the video) and lowered by ``volume_db``
    so it sits under any narration added later.

    This is the slow part (the AAC encoder); it needs only the video's length, so the pipeline
    does it while the clips are still being made and ``mux_soundtrack`` just copies streams.
    Meanwhile it runs in the background (``media.ffmpeg``): the clips' steps come first.
    """
    fade = min(fade_seconds, duration / 2)
    audio = (
        ffmpeg.input(str(music), stream_loop=-1)
        .audio.filter("atrim", duration=duration)
        .filter("asetpts", "PTS-STARTPTS")
        .filter("afade", t="in", st=0, d=fade)
        .filter("afade", t="out", st=duration - fade, d=fade)
        .filter("volume", f"{volume_db}dB")
    )
    with atomic_output(dst) as partial:
        stream = ffmpeg.output(audio, str(partial), t=duration, f="mp4", **AAC_OPTIONS)
        run(stream, what=f"prepare the soundtrack from {music}", background=True)


def mux_soundtrack(video: Path, soundtrack: Path, dst: Path) -> None:
    """``video`` with ``soundtrack`` (from ``prepare_soundtrack``) under it; both streams copied,
    so adding music never re-encodes (or degrades) the picture."""
    info = probe(video)
    if not info.has_video:
        raise MediaError(f"cannot add a soundtrack to {video}: it has no video stream")
    with atomic_output(dst) as partial:
        stream = ffmpeg.output(
            ffmpeg.input(str(video)).video,
            ffmpeg.input(str(soundtrack)).audio,
            str(partial),
            t=info.duration,
            movflags="+faststart",
            c="copy",
        )
        run(stream, what=f"lay {soundtrack} under {video}")


def add_soundtrack(
    video: Path,
    music: Path,
    dst: Path,
    *,
    volume_db: float = -14.0,
    fade_seconds: float = 1.5,
) -> None:
    """Mux ``music`` under ``video`` into ``dst`` in one call: ``prepare_soundtrack`` for the
    video's length, then ``mux_soundtrack``."""
    duration = probe(video).duration  # mux_soundtrack refuses a file with no video
    with tempfile.TemporaryDirectory(prefix="videogen-soundtrack-") as tmp:
        soundtrack = Path(tmp) / "soundtrack.m4a"
        prepare_soundtrack(
            music, soundtrack, duration, volume_db=volume_db, fade_seconds=fade_seconds
        )
        mux_soundtrack(video, soundtrack, dst)
