"""The local provider's storyboard images: a seeded painting with the beat's words on it.

The style picks the palette family and the prompt the composition, so the beats of one video
look related yet each is recognisably its own, and a glance at a contact sheet shows which
beat is which. Shapes are softened so the image survives 4:2:0 chroma subsampling: a clip's
first frame can then match its storyboard image closely.
"""

from __future__ import annotations

import colorsys
import hashlib
import textwrap

import numpy as np
from numpy.random import default_rng
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from videogen_dagster.media.images import encode_png, load_image


def seed_from(*parts: object) -> int:
    """A 64-bit seed from the given values; the same values always give the same seed."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def render_storyboard(
    prompt: str,
    *,
    style: str | None,
    width: int,
    height: int,
    seed: int,
    references: tuple[bytes, ...] = (),
) -> bytes:
    """PNG bytes of a ``width``×``height`` storyboard image for ``prompt``."""
    reference_digests = tuple(hashlib.sha256(r).hexdigest() for r in references)
    rng = default_rng(seed_from(prompt, style, seed, reference_digests))
    palette = (
        _palette_from_references(references) if references else _palette_for(style, prompt, seed)
    )
    image = _background(rng, palette, width, height)
    image = _scene(rng, image, palette)
    return encode_png(_caption(image, prompt, style))


def _palette_for(style: str | None, prompt: str, seed: int) -> list[tuple[int, int, int]]:
    """Five colours around a hue set by the style, shifted a little per prompt."""
    style_rng = default_rng(seed_from("style", style, seed))
    base_hue = style_rng.random()
    saturation = 0.35 + 0.4 * style_rng.random()
    shift = (default_rng(seed_from("prompt", prompt)).random() - 0.5) * 0.25
    offsets = (0.0, 0.08, 0.5, 0.42, 0.92)
    values = (0.35, 0.85, 0.75, 0.95, 0.55)
    return [
        _rgb((base_hue + shift + offset) % 1.0, saturation, value)
        for offset, value in zip(offsets, values, strict=True)
    ]


def _palette_from_references(references: tuple[bytes, ...]) -> list[tuple[int, int, int]]:
    """The five most common colours of the references, so the image borrows their look."""
    strip = Image.new("RGB", (64 * len(references), 64))
    for index, data in enumerate(references):
        thumb = load_image(data, what=f"reference image {index}").resize((64, 64))
        strip.paste(thumb, (64 * index, 0))
    quantized = strip.quantize(colors=5, method=Image.Quantize.MEDIANCUT)
    flat = quantized.getpalette() or []
    counts = sorted(quantized.getcolors() or [], reverse=True)
    colours = [tuple(flat[3 * i : 3 * i + 3]) for _, i in counts]
    while len(colours) < 5:
        colours.append(colours[len(colours) % max(len(colours), 1)] if colours else (128,) * 3)
    return [(int(r), int(g), int(b)) for r, g, b in colours[:5]]


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def _background(
    rng: np.random.Generator, palette: list[tuple[int, int, int]], width: int, height: int
) -> Image.Image:
    """A linear gradient between the first two colours at a seeded angle."""
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (xs / width - 0.5) * np.cos(angle) + (ys / height - 0.5) * np.sin(angle)
    t = ((t - t.min()) / max(float(np.ptp(t)), 1e-6))[..., None]
    a, b = (np.array(c, dtype=np.float32) for c in palette[:2])
    return Image.fromarray((a * (1 - t) + b * t).astype(np.uint8))


def _scene(
    rng: np.random.Generator, image: Image.Image, palette: list[tuple[int, int, int]]
) -> Image.Image:
    """Hills, a sun and a few translucent shapes, softened for clean chroma at the edges."""
    width, height = image.size
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    radius = height * rng.uniform(0.08, 0.16)
    cx, cy = width * rng.uniform(0.15, 0.85), height * rng.uniform(0.15, 0.45)
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(*palette[3], 235))
    xs = np.linspace(0, width, 65)
    phase, waves = rng.uniform(0, 2 * np.pi, 2), rng.uniform(1.0, 3.5, 2)
    horizon = height * (0.62 + 0.08 * np.sin(waves[0] * xs / width * 2 * np.pi + phase[0]))
    horizon += height * 0.04 * np.sin(waves[1] * xs / width * 2 * np.pi + phase[1])
    draw.polygon(
        [(0, height), *zip(xs.tolist(), horizon.tolist(), strict=True), (width, height)],
        fill=(*palette[2], 255),
    )
    for _ in range(int(rng.integers(4, 9))):
        colour = palette[int(rng.integers(1, 5))]
        alpha = int(rng.integers(120, 220))
        x, y = width * rng.random(), height * rng.random()
        w, h = width * rng.uniform(0.05, 0.22), height * rng.uniform(0.05, 0.3)
        box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse(box, fill=(*colour, alpha))
        elif kind == 1:
            draw.rounded_rectangle(box, radius=min(w, h) / 4, fill=(*colour, alpha))
        else:
            draw.polygon([(x, box[1]), (box[2], box[3]), (box[0], box[3])], fill=(*colour, alpha))
    scene = Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")
    return scene.filter(ImageFilter.GaussianBlur(radius=max(1.0, height / 240)))


def _caption(image: Image.Image, prompt: str, style: str | None) -> Image.Image:
    """The prompt in a dark band at the bottom (legible on any palette), the style above it."""
    width, height = image.size
    size = max(10, height // 18)
    font = ImageFont.load_default(size=size)
    small = ImageFont.load_default(size=max(8, size * 2 // 3))
    average_char = font.getlength("the quick brown fox jumps over a lazy dog") / 41
    chars_per_line = max(12, int((width - 2 * size) / average_char))
    lines = textwrap.wrap(prompt, chars_per_line, max_lines=3, placeholder=" …") or [""]
    line_height = round(size * 1.25)
    band_height = line_height * len(lines) + size
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((0, height - band_height, width, height), fill=(10, 10, 14, 170))
    y = height - band_height + size // 2
    for line in lines:
        draw.text((size, y), line, font=font, fill=(255, 255, 255, 255))
        y += line_height
    if style:
        draw.text((size, size // 2), style, font=small, fill=(255, 255, 255, 220))
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
