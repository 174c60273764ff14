"""The storyboard at a glance: every beat image in a numbered grid."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.fonts import fit_text
from videogen_dagster.media.fonts import font as shipped_font
from videogen_dagster.media.images import encode_png, load_image

#: Space around and between thumbnails, in pixels.
SHEET_MARGIN = 8
_BACKGROUND = (24, 24, 28)


def label_height(thumb_width: int) -> int:
    """Height of the caption strip under each thumbnail."""
    return max(16, thumb_width // 10)


def time_range_label(start: float, duration: float) -> str:
    """A beat's place in the video, as its contact-sheet label shows it: ``0–2.5 s``."""
    return f"{start:g}–{start + duration:g} s"


def caption(number: int, label: str | None, font: ImageFont.FreeTypeFont, width: int) -> str:
    """The text under thumbnail ``number``: its number and label, cut to ``width`` pixels."""
    return fit_text(f"{number}" + (f"  {label}" if label else ""), font, width)


def label_font(thumb_width: int) -> ImageFont.FreeTypeFont:
    """The shipped font at the size the labels of ``thumb_width`` thumbnails use."""
    return shipped_font(max(10, label_height(thumb_width) * 3 // 4))


def sheet_columns(count: int) -> int:
    """Columns of the grid: as square as possible (12 images → 4 × 3)."""
    return max(1, math.ceil(math.sqrt(count)))


def contact_sheet(
    images: Sequence[bytes], labels: Sequence[str] | None = None, *, thumb_width: int = 320
) -> bytes:
    """A PNG grid of ``images`` numbered from 1, each with its label if given.

    Thumbnails take the first image's aspect ratio (others are cover-cropped to it).
    The sheet is ``columns × thumb_width + (columns + 1) × SHEET_MARGIN`` wide.
    """
    if not images:
        raise MediaError("cannot make a contact sheet of no images")
    if labels is not None and len(labels) != len(images):
        raise MediaError(f"contact sheet: {len(images)} images but {len(labels)} labels")
    thumbs = [load_image(data, what=f"storyboard image {i + 1}") for i, data in enumerate(images)]
    first = thumbs[0]
    thumb_height = max(1, round(first.height * thumb_width / first.width))
    strip = label_height(thumb_width)
    columns = sheet_columns(len(thumbs))
    rows = math.ceil(len(thumbs) / columns)
    sheet = Image.new(
        "RGB",
        (
            columns * thumb_width + (columns + 1) * SHEET_MARGIN,
            rows * (thumb_height + strip) + (rows + 1) * SHEET_MARGIN,
        ),
        _BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    font = label_font(thumb_width)
    for index, thumb in enumerate(thumbs):
        row, column = divmod(index, columns)
        x = SHEET_MARGIN + column * (thumb_width + SHEET_MARGIN)
        y = SHEET_MARGIN + row * (thumb_height + strip + SHEET_MARGIN)
        fitted = ImageOps.fit(thumb, (thumb_width, thumb_height), Image.Resampling.LANCZOS)
        sheet.paste(fitted, (x, y))
        text = caption(index + 1, labels[index] if labels else None, font, thumb_width - 4)
        draw.text((x + 2, y + thumb_height + strip // 8), text, font=font, fill=(240, 240, 240))
    return encode_png(sheet)
