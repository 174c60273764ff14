"""Captions in the file: a soft subtitle track, or captions drawn into the picture.

Soft captions are the SRT muxed as a ``mov_text`` track (the subtitle codec MP4 players read),
tagged with its language; the picture is copied untouched. Burned captions are drawn with the
project's shipped font (``media.fonts``) into the *safe area*: the bottom 15 % of the frame,
within the middle 90 % of its width, wrapped to as many lines as that band holds (the text
gets smaller when it would not fit), so they read on 16:9, 9:16 and 1:1 alike. Each cue is
one transparent PNG laid over the video while the cue lasts.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import ffmpeg
from PIL import Image, ImageDraw

from videogen_dagster.domain.captions import Cue
from videogen_dagster.media.encode import BT709_TAGS, H264_OPTIONS
from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.ffmpeg import atomic_output, run
from videogen_dagster.media.fonts import font, missing_glyphs
from videogen_dagster.media.probe import probe

#: The band captions are drawn in: its height as a share of the frame, from the bottom, and
#: the share of the width the text may use.
SAFE_HEIGHT = 0.15
SAFE_WIDTH = 0.90
_SMALLEST_PIXELS = 8


@dataclass(frozen=True)
class CaptionLook:
    """Text size (percent of the frame's short side), colour (#RRGGBB) and a box behind."""

    size: float = 4.5
    color: str = "#FFFFFF"
    box: bool = True


def safe_area(width: int, height: int) -> tuple[int, int, int, int]:
    """The caption band as (left, top, right, bottom) pixels."""
    margin = round(width * (1 - SAFE_WIDTH) / 2)
    return margin, height - round(height * SAFE_HEIGHT), width - margin, height


def render_cue(text: str, width: int, height: int, look: CaptionLook) -> Image.Image:
    """A transparent frame-sized image with ``text`` drawn in the safe area."""
    missing = missing_glyphs(text)
    if missing:
        raise MediaError(f"the caption font cannot draw {''.join(sorted(missing))!r} in {text!r}")
    left, top, right, bottom = safe_area(width, height)
    pixels = max(_SMALLEST_PIXELS, round(min(width, height) * look.size / 100))
    while True:
        face = font(pixels)
        lines = _wrap(text, face, right - left)
        line_height = round(pixels * 1.25)
        if len(lines) * line_height <= bottom - top or pixels <= _SMALLEST_PIXELS:
            break
        pixels -= 1
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    block = len(lines) * line_height
    y = top + (bottom - top - block) // 2
    colour = tuple(int(look.color[i : i + 2], 16) for i in (1, 3, 5))
    for line in lines:
        length = face.getlength(line)
        x = round((width - length) / 2)
        if look.box:
            pad = max(2, pixels // 5)
            draw.rectangle((x - pad, y, x + length + pad, y + line_height - 1), fill=(0, 0, 0, 160))
        draw.text((x, y + (line_height - pixels) // 2), line, font=face, fill=(*colour, 255))
        y += line_height
    return image


def _wrap(text: str, face, room: float) -> list[str]:  # type: ignore[no-untyped-def]
    """``text`` in lines at most ``room`` pixels long, broken between words."""
    lines: list[str] = []
    for word in text.split():
        if lines and face.getlength(f"{lines[-1]} {word}") <= room:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def burn_captions(video: Path, cues: Sequence[Cue], dst: Path, look: CaptionLook) -> None:
    """``video`` with each cue drawn over it while the cue lasts (the picture re-encoded with
    the project's H.264 settings; any audio copied)."""
    info = probe(video)
    source = ffmpeg.input(str(video))
    picture = source.video
    with tempfile.TemporaryDirectory(prefix="videogen-captions-") as tmp:
        for number, cue in enumerate(cues):
            png = Path(tmp) / f"cue-{number:04d}.png"
            render_cue(cue.text, info.width, info.height, look).save(png)
            picture = ffmpeg.overlay(
                picture,
                ffmpeg.input(str(png)),
                enable=f"between(t,{cue.start:.3f},{cue.end - 0.001:.3f})",
                format="auto",
            )
        streams = [picture.filter("format", "yuv420p")]
        options: dict[str, str | int] = {**H264_OPTIONS, **BT709_TAGS, "r": round(info.fps)}
        if info.has_audio:
            streams.append(source.audio)
            options["c:a"] = "copy"
        with atomic_output(dst) as partial:
            stream = ffmpeg.output(*streams, str(partial), **options)
            run(stream, what=f"burn {len(cues)} captions into {video}")


def mux_final(
    video: Path,
    dst: Path,
    *,
    soundtrack: Path | None = None,
    subtitles: Path | None = None,
    language: str = "und",
) -> None:
    """``video``'s picture with ``soundtrack`` (copied) and ``subtitles`` (an SRT file) as a
    ``mov_text`` track tagged ``language``; nothing is re-encoded but the subtitle text."""
    info = probe(video)
    streams = [ffmpeg.input(str(video)).video]
    options: dict[str, str | int | float] = {
        "c:v": "copy",
        "movflags": "+faststart",
        "t": info.duration,
    }
    if soundtrack is not None:
        streams.append(ffmpeg.input(str(soundtrack)).audio)
        options["c:a"] = "copy"
    if subtitles is not None:
        streams.append(ffmpeg.input(str(subtitles), format="srt")["s"])
        options["c:s"] = "mov_text"
        options["metadata:s:s:0"] = f"language={language}"
    with atomic_output(dst) as partial:
        run(ffmpeg.output(*streams, str(partial), **options), what=f"mux the final {dst.name}")


def subtitle_tracks(path: Path) -> list[tuple[str, str]]:
    """The subtitle tracks of ``path`` as (codec, language tag)."""
    try:
        with av.open(str(path)) as container:
            return [
                (stream.codec_context.name, stream.metadata.get("language", "und"))
                for stream in container.streams.subtitles
            ]
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot probe {path}: {exc}") from None
