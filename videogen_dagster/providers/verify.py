"""Checks that a provider's answer is the media that was asked for, before anything uses it.

A failed check raises ``CorruptMediaError``, a transient error: the attempt counts as failed
and is retried. The generation layer checks every provider's answers; a clip provider may call
``verify_clip`` itself where it must decide whether to re-download or pay for a new job.
"""

from __future__ import annotations

import io

from PIL import Image

from videogen_dagster.media import MediaError, MediaInfo, probe_bytes
from videogen_dagster.providers.base import Size
from videogen_dagster.providers.errors import CorruptMediaError

#: How far a clip or music track may miss the asked length, in seconds.
DURATION_TOLERANCE = 0.25


def verify_image(data: bytes, size: Size, *, source: str) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            got = image.size
    except Exception as exc:  # Pillow raises many types for broken files
        raise CorruptMediaError(f"{source} returned an unreadable image: {exc}") from exc
    if got != (size.width, size.height):
        raise CorruptMediaError(f"{source} returned a {got[0]}x{got[1]} image, asked {size}")


def verify_clip(
    data: bytes, size: Size, duration: float, *, source: str, tolerance: float = DURATION_TOLERANCE
) -> MediaInfo:
    """The clip's probe if it has the asked size and length and all its frames."""
    try:
        info = probe_bytes(data, ".mp4")
    except MediaError as exc:
        raise CorruptMediaError(
            f"{source} returned an unreadable clip ({len(data)} bytes): {exc}"
        ) from exc
    if not info.has_video or (info.width, info.height) != (size.width, size.height):
        raise CorruptMediaError(
            f"{source} returned a {info.width}x{info.height} clip, asked {size}"
        )
    if abs(info.duration - duration) > tolerance:
        raise CorruptMediaError(
            f"{source} returned a {info.duration:.2f} s clip, asked {duration:g} s"
        )
    # A file cut short behind an index at its start still claims the full duration.
    promised = info.duration * info.fps
    if info.frame_count < promised - max(1.0, tolerance * info.fps):
        raise CorruptMediaError(
            f"{source} returned a clip holding {info.frame_count} frames where its index "
            f"promises {promised:.0f} (truncated)"
        )
    return info


def verify_music(
    data: bytes, duration: float, *, source: str, tolerance: float = DURATION_TOLERANCE
) -> None:
    try:
        info = probe_bytes(data, ".m4a")
    except MediaError as exc:
        raise CorruptMediaError(f"{source} returned unreadable music: {exc}") from exc
    # The header's duration survives a cut-off file; the audio packets present do not.
    length = min(info.audio_duration or 0.0, _audio_packet_seconds(data))
    if not info.has_audio or length < duration - tolerance:
        raise CorruptMediaError(f"{source} returned {length:.2f} s of music, asked {duration} s")


def _audio_packet_seconds(data: bytes) -> float:
    """Seconds of audio actually present in ``data``, summed over its packets."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                return 0.0
            stream = container.streams.audio[0]
            ticks = sum(packet.duration or 0 for packet in container.demux(stream) if packet.size)
            return float(ticks * stream.time_base)
    except av.FFmpegError as exc:
        raise CorruptMediaError(f"music does not decode: {exc}") from exc


def verify_speech(data: bytes, *, source: str) -> float:
    """The speech's length in seconds, if it decodes to some audible sound."""
    from videogen_dagster.media.audio import MIX_RATE, decode_audio_bytes

    try:
        samples = decode_audio_bytes(data, ".wav")
    except MediaError as exc:
        raise CorruptMediaError(f"{source} returned unreadable speech: {exc}") from exc
    if samples.size < MIX_RATE // 20 or float(abs(samples).max(initial=0.0)) < 1e-3:
        raise CorruptMediaError(
            f"{source} returned {samples.size / MIX_RATE:.2f} s of speech with no sound in it"
        )
    return samples.size / MIX_RATE
