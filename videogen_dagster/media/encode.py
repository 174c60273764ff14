"""Encoding frames to H.264: the one place that fixes our encoder settings.

Every clip we encode ourselves (local chunks, trims, re-encoded stitches) uses these
settings, so their codec parameters match and stitching can stream-copy them, and so the same
frames always give the same bytes (one encoder thread, bit-exact muxing, no metadata).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import ffmpeg
import numpy as np

from videogen_dagster.media.ffmpeg import pipe_into

#: libx264 options for every clip we encode. ``ultrafast`` keeps a 5 s 720p chunk near one
#: second on two cores; crf 18 is visually lossless, which matters because a chunk's last
#: frame seeds the next chunk. One thread makes the bitstream reproducible.
H264_OPTIONS: dict[str, str | int] = {
    "c:v": "libx264",
    "preset": "ultrafast",
    "crf": 18,
    "pix_fmt": "yuv420p",
    "threads": 1,
    "flags": "+bitexact",
    "fflags": "+bitexact",
    "map_metadata": -1,
    "movflags": "+faststart",
}

#: Frames we convert from RGB ourselves are BT.709 limited range, and tagged so, so that
#: players and our own decoder convert them back with the same matrix.
BT709_TAGS: dict[str, str] = {
    "colorspace": "bt709",
    "color_primaries": "bt709",
    "color_trc": "bt709",
    "color_range": "tv",
}

_BT709_KR, _BT709_KB = 0.2126, 0.0722


def rgb_to_yuv420p(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.709 limited-range Y, U, V planes (U and V at half size, 2×2 averaged) of an RGB image.

    Raises ``ValueError`` for odd sizes: yuv420p needs even width and height.
    """
    height, width, _ = rgb.shape
    if width % 2 or height % 2:
        raise ValueError(f"yuv420p needs an even size, got {width}x{height}")
    r, g, b = (rgb[..., i].astype(np.float32) / 255.0 for i in range(3))
    luma = _BT709_KR * r + (1 - _BT709_KR - _BT709_KB) * g + _BT709_KB * b
    cb = (b - luma) / (2 * (1 - _BT709_KB))
    cr = (r - luma) / (2 * (1 - _BT709_KR))
    y = 16 + 219 * luma
    u = _half(128 + 224 * cb)
    v = _half(128 + 224 * cr)
    y8, u8, v8 = (np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v))
    return y8, u8, v8


def _half(plane: np.ndarray) -> np.ndarray:
    h, w = plane.shape
    return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def encode_yuv420p_frames(
    frames: Iterable[bytes],
    dst: Path,
    *,
    width: int,
    height: int,
    fps: int,
    background: bool = False,
) -> None:
    """Encode raw yuv420p frames (BT.709, as from :func:`rgb_to_yuv420p`) to an H.264 MP4;
    ``background``: at a lower priority (``media.ffmpeg``)."""
    source = ffmpeg.input(
        "pipe:", format="rawvideo", pix_fmt="yuv420p", s=f"{width}x{height}", framerate=fps
    )
    # Tag the raw frames as what they are: untagged input would be taken for BT.601 and
    # silently converted to the BT.709 the output is tagged with.
    tagged = source.filter(
        "setparams",
        colorspace="bt709",
        color_primaries="bt709",
        color_trc="bt709",
        range="tv",
    )
    output = tagged.output(str(dst), r=fps, **H264_OPTIONS, **BT709_TAGS)
    what = f"encode {width}x{height} frames at {fps} fps into {dst}"
    pipe_into(output, frames, what=what, background=background)


#: AAC options for every audio track we write (music beds and soundtracks).
AAC_OPTIONS: dict[str, str | int] = {
    "c:a": "aac",
    "b:a": "160k",
    "flags": "+bitexact",
    "fflags": "+bitexact",
    "map_metadata": -1,
}


#: Lossless audio in an MP4 (.m4a): a tenth of the AAC encoder's CPU, for tracks that are
#: re-encoded anyway (a music bed becomes an AAC soundtrack when it is laid under a video).
FLAC_OPTIONS: dict[str, str | int] = {
    "c:a": "flac",
    "flags": "+bitexact",
    "fflags": "+bitexact",
    "map_metadata": -1,
}


def encode_pcm_to_m4a(
    samples: np.ndarray,
    dst: Path,
    *,
    sample_rate: int,
    lossless: bool = False,
    background: bool = False,
) -> None:
    """Encode float samples in [-1, 1], shape ``(n, channels)``, into an MP4 (.m4a) file: AAC,
    or FLAC when ``lossless``; ``background``: at a lower priority (``media.ffmpeg``)."""
    channels = samples.shape[1]
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    source = ffmpeg.input("pipe:", format="s16le", ac=channels, ar=sample_rate)
    options = FLAC_OPTIONS if lossless else AAC_OPTIONS
    output = source.output(str(dst), format="mp4", movflags="+faststart", **options)
    step = sample_rate * channels  # one second of samples per write
    flat = pcm.reshape(-1)
    chunks = (flat[i : i + step].tobytes() for i in range(0, flat.size, step))
    what = f"encode {len(pcm) / sample_rate:.2f} s of audio into {dst}"
    pipe_into(output, chunks, what=what, background=background)
