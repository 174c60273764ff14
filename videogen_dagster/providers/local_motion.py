"""The local provider's clips: a slow zoom into the start image, rendered in numpy and Pillow.

Words are not zoomed: the caption band is drawn over each frame after the motion, fixed on
screen, so the zoom never cuts a line off.

The zoom is exponential in time around a fixed focal point, so a chunk that starts on the
previous chunk's last frame continues the same motion at the same speed: the seam is
invisible. Frames are built directly as yuv420p planes (half the bytes of RGB, no colour
conversion per frame) and streamed into ffmpeg while the next ones are being rendered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from videogen_dagster.media.encode import encode_yuv420p_frames, rgb_to_yuv420p

#: Frames rendered ahead of the encoder; bounds memory (about 1.4 MB per 720p frame).
_BATCH = 8


@dataclass(frozen=True)
class Motion:
    """A zoom of ``zoom_per_second`` (e.g. 0.02 = 2 %/s) toward ``focus`` (fractions of W, H).

    ``drift`` simulates what real image-to-video models do over a clip: contrast and
    saturation creep up by that fraction from the first frame (untouched) to the last.
    """

    focus: tuple[float, float]
    zoom_per_second: float
    drift: float = 0.0


def render_zoom_clip(
    start_rgb: np.ndarray,
    dst: Path,
    *,
    fps: int,
    frames: int,
    motion: Motion,
    overlay: Image.Image | None = None,
) -> None:
    """Encode ``frames`` frames of ``motion`` over ``start_rgb``; frame 0 is the image itself.

    ``overlay`` (RGBA, opaque from an even row down, transparent above) is drawn over every
    later frame after the zoom, so its text stays where it is while the picture moves.
    """
    height, width, _ = start_rgb.shape
    planes = [Image.fromarray(p) for p in rgb_to_yuv420p(start_rgb)]
    rate = math.log1p(motion.zoom_per_second)
    band = _band_planes(overlay) if overlay is not None else None

    def render(index: int) -> bytes:
        scale = math.exp(rate * index / fps)
        out = [_zoom(plane, scale, motion.focus) for plane in planes]
        if motion.drift:
            out = _creep(out, motion.drift * index / max(frames - 1, 1))
        if band is not None and index:
            out = [_paste_rows(plane, rows) for plane, rows in zip(out, band, strict=True)]
        return b"".join(p.tobytes() for p in out)

    # In the background: it stands for a remote API's servers, which take no core from us.
    encode_yuv420p_frames(
        _rendered(render, frames), dst, width=width, height=height, fps=fps, background=True
    )


def _band_planes(overlay: Image.Image) -> tuple[np.ndarray, ...] | None:
    """The overlay's opaque rows as Y, U, V planes (the rows from its first opaque one down)."""
    alpha = np.asarray(overlay.getchannel("A"))
    opaque = np.flatnonzero(alpha.min(axis=1) == 255)
    if not opaque.size:
        return None
    top = int(opaque[0])
    if top % 2 or not (alpha[top:] == 255).all():
        raise ValueError("a clip overlay must be opaque from an even row to the bottom")
    return rgb_to_yuv420p(np.asarray(overlay.convert("RGB"))[top:])


def _paste_rows(plane: Image.Image, rows: np.ndarray) -> Image.Image:
    """``plane`` with its bottom rows replaced by ``rows``."""
    pixels = np.array(plane)
    pixels[pixels.shape[0] - rows.shape[0] :] = rows
    return Image.fromarray(pixels)


def _rendered(render: Callable[[int], bytes], count: int) -> Iterator[bytes]:
    """Frames in order, rendered two at a time: Pillow releases the GIL while it resamples."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="local-clip") as pool:
        for start in range(0, count, _BATCH):
            yield from pool.map(render, range(start, min(start + _BATCH, count)))


def _zoom(plane: Image.Image, scale: float, focus: tuple[float, float]) -> Image.Image:
    """The plane magnified by ``scale`` around ``focus``; scale 1 returns it pixel for pixel."""
    if scale == 1.0:
        return plane
    width, height = plane.size
    box_w, box_h = width / scale, height / scale
    left, top = focus[0] * (width - box_w), focus[1] * (height - box_h)
    return plane.resize(
        (width, height), Image.Resampling.BILINEAR, box=(left, top, left + box_w, top + box_h)
    )


def _creep(planes: list[Image.Image], amount: float) -> list[Image.Image]:
    """Contrast (luma spread) and saturation (chroma distance from grey) raised by ``amount``."""
    y, u, v = (np.asarray(p, dtype=np.float32) for p in planes)
    gain = 1.0 + amount
    y = y.mean() + (y - y.mean()) * gain
    u, v = 128 + (u - 128) * gain, 128 + (v - 128) * gain
    return [Image.fromarray(np.clip(np.rint(p), 0, 255).astype(np.uint8)) for p in (y, u, v)]
