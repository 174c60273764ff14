"""What a media file holds, read with PyAV (the pip ffmpeg ships no ffprobe)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import av

from videogen_dagster.media.errors import MediaError


@dataclass(frozen=True)
class MediaInfo:
    """Streams, size and timing of a media file.

    ``frame_count`` is counted from the video packets, not estimated from duration × fps, so
    checks like "the stitched file has exactly the frames of its parts" can be exact.
    ``duration`` is the video stream's when there is one (the music may be longer or shorter),
    else the container's.
    """

    duration: float
    width: int
    height: int
    fps: float
    frame_count: int
    video_codec: str | None
    has_video: bool
    has_audio: bool
    audio_duration: float | None


def probe(path: Path) -> MediaInfo:
    """Probe ``path``; a missing or unreadable file raises :class:`MediaError` naming it."""
    try:
        with av.open(str(path)) as container:
            return _inspect(container)
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot probe {path}: {exc}") from None


def probe_bytes(data: bytes, suffix: str) -> MediaInfo:
    """Probe media held in memory; ``suffix`` (".mp4", ".m4a") guides the format detection."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        return probe(Path(handle.name))


def _inspect(container: av.container.InputContainer) -> MediaInfo:
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    container_duration = (container.duration or 0) / av.time_base
    audio_duration = _stream_duration(audio) if audio is not None else None
    if video is None:
        return MediaInfo(
            duration=audio_duration if audio_duration is not None else container_duration,
            width=0,
            height=0,
            fps=0.0,
            frame_count=0,
            video_codec=None,
            has_video=False,
            has_audio=audio is not None,
            audio_duration=audio_duration,
        )
    rate = video.average_rate or video.guessed_rate or video.base_rate
    frame_count = sum(1 for packet in container.demux(video) if packet.size)
    duration = _stream_duration(video)
    return MediaInfo(
        duration=duration if duration is not None else container_duration,
        width=video.codec_context.width,
        height=video.codec_context.height,
        fps=float(rate) if rate else 0.0,
        frame_count=frame_count,
        video_codec=video.codec_context.name,
        has_video=True,
        has_audio=audio is not None,
        audio_duration=audio_duration,
    )


def _stream_duration(stream: av.stream.Stream) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)
