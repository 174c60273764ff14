"""The storyboard at a glance: every beat image in a numbered grid."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.images import encode_png, load_image

#: Space around and between thumbnails, in pixels.
SHEET_MARGIN = 8
_BACKGROUND = (24, 24, 28)


def label_height(thumb_width: int) -> int:
    """Height of the caption strip under each thumbnail."""
    return max(16, thumb_width // 10)


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
    font = ImageFont.load_default(size=max(10, strip * 3 // 4))
    for index, thumb in enumerate(thumbs):
        row, column = divmod(index, columns)
        x = SHEET_MARGIN + column * (thumb_width + SHEET_MARGIN)
        y = SHEET_MARGIN + row * (thumb_height + strip + SHEET_MARGIN)
        fitted = ImageOps.fit(thumb, (thumb_width, thumb_height), Image.Resampling.LANCZOS)
        sheet.paste(fitted, (x, y))
        caption = f"{index + 1}" + (f"  {labels[index]}" if labels else "")
        draw.text(
            (x + 2, y + thumb_height + strip // 8),
            _fit(caption, font, thumb_width - 4),
            font=font,
            fill=(240, 240, 240),
        )
    return encode_png(sheet)


def _fit(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """``text`` shortened with an ellipsis until it fits ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"
