"""Still images as PNG bytes: decoding, encoding, resizing and comparing them.

Frames travel between steps as PNG because it is lossless: a last frame handed to the next
chunk must be the decoded pixels exactly, or every hop of a long beat would add its own loss.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from videogen_dagster.media.errors import MediaError

# Pillow loads its common format plugins on the first open; load them with this module
# instead, not inside a run's first image step while other steps wait on the import lock.
Image.preinit()

if TYPE_CHECKING:
    from videogen_dagster.providers.base import Size

#: zlib level for every PNG we write: 4 is several times faster than 9 on 720p frames and
#: only a few percent larger. Fixed so the same pixels always give the same bytes.
PNG_COMPRESS_LEVEL = 4


def load_image(png: bytes, *, what: str = "image") -> Image.Image:
    """Decode image bytes to an RGB Pillow image, upright; ``what`` names the input in errors.

    A camera JPEG stores its pixels as the sensor saw them plus an EXIF orientation tag that
    viewers apply; ignoring the tag would hand a provider the reference lying on its side.
    """
    try:
        with Image.open(io.BytesIO(png)) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaError(f"cannot decode {what} ({len(png)} bytes) as an image: {exc}") from None


def load_rgb(png: bytes, *, what: str = "image") -> np.ndarray:
    """Decode image bytes to an ``(height, width, 3)`` uint8 array."""
    return np.asarray(load_image(png, what=what))


def encode_png(image: Image.Image | np.ndarray) -> bytes:
    """PNG bytes of an RGB image or uint8 array, without metadata (same pixels, same bytes)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def resize_exact(png: bytes, size: Size) -> bytes:
    """Cover-crop (centred) and resize to exactly ``size``; unchanged bytes if already that size.

    Image-to-video APIs reject or silently letterbox a start image of another size, so every
    start image is brought to the clip size before upload.
    """
    image = load_image(png, what="start image")
    if image.size == (size.width, size.height):
        return png
    fitted = ImageOps.fit(image, (size.width, size.height), method=Image.Resampling.LANCZOS)
    return encode_png(fitted)


def thumbnail_png(png: bytes, width: int = 240) -> bytes:
    """A small PNG of ``width`` pixels (aspect kept) for UI metadata, where space is scarce."""
    image = load_image(png, what="thumbnail source")
    height = max(1, round(image.height * width / image.width))
    return encode_png(image.resize((width, height), Image.Resampling.LANCZOS))


def psnr(a_png: bytes, b_png: bytes) -> float:
    """Peak signal-to-noise ratio in dB between two same-sized images; ``inf`` when identical."""
    a = load_rgb(a_png, what="first image").astype(np.float64)
    b = load_rgb(b_png, what="second image").astype(np.float64)
    if a.shape != b.shape:
        raise MediaError(f"cannot compare images of different sizes: {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
