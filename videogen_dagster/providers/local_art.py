"""The local provider's storyboard images: a seeded painting with the beat's words on it.

The style picks the palette family and the prompt the composition, so the beats of one video
look related yet each is recognisably its own, and a glance at a contact sheet shows which
beat is which. The words sit in an opaque band that the local clips redraw, fixed, over every
frame after their zoom (``caption_band``). Shapes are softened so the image survives 4:2:0
chroma subsampling: a clip's first frame can then match its storyboard image closely.
"""

from __future__ import annotations

import colorsys
import hashlib

import numpy as np
from numpy.random import default_rng
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from videogen_dagster.media.fonts import fit_text, font
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
    band = caption_band(prompt, style, width, height)
    return encode_png(Image.alpha_composite(image.convert("RGBA"), band).convert("RGB"))


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


#: The caption band's colour: opaque, so a band zoomed in an earlier frame never shows through;
#: dark grey, not black, so a colour grade's contrast stretch does not clip it (see media.colour).
BAND_COLOUR = (40, 40, 48, 255)
#: Most prompt lines the band holds; the last is cut with an ellipsis.
MAX_LINES = 3
#: The band stays below this fraction of the height: the zoom's focus is never lower (see
#: ``local.LocalClips._motion``), so the painting a zoom pushes down stays under the band.
BAND_TOP_MIN = 0.72


def caption_band(prompt: str, style: str | None, width: int, height: int) -> Image.Image:
    """The words of a frame: an opaque band at the bottom with the style, then the prompt.

    RGBA of ``width``×``height``, transparent above the band, whose top row is even (whole
    4:2:0 chroma rows, so a clip can paste it over each frame exactly). Sized from the short
    side and wrapped by measured width, so the text fits a 9:16 frame as well as a 16:9 one.
    The local clips draw the same band over every frame after the zoom: the text stays fixed.
    """
    size = max(9, min(width, height) // 24)
    margin = size
    text_font, small = font(size), font(max(8, size * 2 // 3))
    line_height, small_height = round(size * 1.25), round(size * 2 // 3 * 1.3)
    room = width - 2 * margin
    most = MAX_LINES
    lines = _wrap(prompt, text_font, room, most)
    while lines and _band_height(len(lines), style, margin, line_height, small_height) > (
        height * (1 - BAND_TOP_MIN)
    ):
        most -= 1
        lines = _wrap(prompt, text_font, room, most)
    band = _band_height(len(lines), style, margin, line_height, small_height)
    top = min(height, height - band) // 2 * 2
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    if not lines and not style:
        return overlay
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((0, top, width, height), fill=BAND_COLOUR)
    y = top + margin // 2
    if style:
        draw.text((margin, y), fit_text(style, small, room), font=small, fill=(200, 200, 210, 255))
        y += small_height
    for line in lines:
        draw.text((margin, y), line, font=text_font, fill=(255, 255, 255, 255))
        y += line_height
    return overlay


def _band_height(lines: int, style: str | None, margin: int, line: int, small: int) -> int:
    if not lines and not style:
        return 0
    return margin + (small if style else 0) + lines * line


def _wrap(text: str, text_font: ImageFont.FreeTypeFont, room: int, max_lines: int) -> list[str]:
    """``text`` in lines of at most ``room`` pixels; the last kept line ends in … if cut."""
    if max_lines < 1:
        return []
    lines: list[str] = []
    for word in text.split():
        if lines and text_font.getlength(f"{lines[-1]} {word}") <= room:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = [
            *lines[: max_lines - 1],
            fit_text(" ".join(lines[max_lines - 1 :]) + " …", text_font, room),
        ]
    return [fit_text(line, text_font, room) for line in lines]


def carries_band(rgb: np.ndarray, band: Image.Image) -> bool:
    """Whether the image ``rgb`` already shows ``band`` (it was made by ``render_storyboard``
    for the same words, or is a later frame of such a clip): only then may a clip draw it
    fixed over every frame without changing the start image's look."""
    alpha = np.asarray(band.getchannel("A"))
    rows = np.flatnonzero(alpha.min(axis=1) == 255)
    if not rows.size:
        return False
    expected = np.asarray(band.convert("RGB"), dtype=np.int16)[rows[0] :]
    found = rgb[rows[0] :].astype(np.int16)
    # Codec noise moves a few pixels a little; other words, or a picture, move many a lot.
    return float((np.abs(found - expected).max(axis=2) > 64).mean()) < 0.02
