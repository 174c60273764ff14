"""A small animated WebP of a video: something a person can watch move in the Dagster UI.

Dagster's UI cannot play a local MP4 (a path only copies to the clipboard), but it renders
markdown images, and browsers play animated WebP. A preview keeps a few frames a second at a
thumbnail's width, so a 5 s clip costs about 15 KB and a whole video stays under
``MAX_PREVIEW_BYTES``: metadata lives in the event log, which must stay small.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image

from videogen_dagster.media.errors import MediaError

#: The most bytes one preview may take (before base64); larger previews are made smaller.
MAX_PREVIEW_BYTES = 200_000


@dataclass(frozen=True)
class Preview:
    """An animated WebP and what it shows."""

    webp: bytes
    frame_count: int
    #: How many of the video's decoded frames there were (what ``decodes`` checks against).
    source_frames: int
    width: int
    height: int


def animated_preview(
    video: Path,
    *,
    width: int = 192,
    frames_per_second: float = 3.0,
    max_frames: int = 36,
    quality: int = 50,
) -> Preview:
    """An animated WebP of ``video``: ``frames_per_second`` samples of it at ``width`` pixels,
    at most ``max_frames`` (a longer video plays faster), looping.

    Decoding every frame is also a check that the file plays to its end; a file that does not
    decode raises :class:`MediaError`.
    """
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise MediaError(f"{video} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or 24)
            expected = stream.frames or round(float(container.duration or 0) / 1e6 * fps)
            step = max(1, round(fps / frames_per_second), -(-expected // max_frames))
            frames: list[Image.Image] = []
            decoded = 0
            for frame in container.decode(stream):
                if decoded % step == 0:
                    height = max(2, round(frame.height * width / frame.width))
                    frames.append(frame.to_image().resize((width, height), Image.Resampling.BOX))
                decoded += 1
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot decode {video} for its preview: {exc}") from None
    if not frames:
        raise MediaError(f"{video} has a video stream but no decodable frame")
    frames = frames[:max_frames]
    shown_ms = round(1000 * step / fps)
    webp = _webp(frames, shown_ms, quality)
    while len(webp) > MAX_PREVIEW_BYTES and len(frames) > 2:
        frames, shown_ms = frames[::2], shown_ms * 2
        webp = _webp(frames, shown_ms, quality)
    return Preview(webp, len(frames), decoded, frames[0].width, frames[0].height)


def _webp(frames: list[Image.Image], duration_ms: int, quality: int) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=duration_ms,
        loop=0,
        quality=quality,
        method=4,
    )
    return buffer.getvalue()
