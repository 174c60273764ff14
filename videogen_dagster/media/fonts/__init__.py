"""The one font the project draws text with, and a way to ask which characters it lacks.

Pillow's built-in font has no en dash, curly quotes or most accented capitals, so labels drawn
with it showed a missing-character box. Every label, caption and burned subtitle is drawn with
the shipped DejaVu Sans subset instead (see ``LICENSE-DejaVu.txt`` for what it covers), and text
that must be drawn can be checked first with :func:`missing_glyphs`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import ImageFont

FONT_FILE = "DejaVuSans.ttf"


def font_path() -> Path:
    """The shipped font file, inside the installed package."""
    return Path(str(resources.files(__name__).joinpath(FONT_FILE)))


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """The shipped font at ``size`` pixels (cached: labels ask for the same few sizes)."""
    return ImageFont.truetype(str(font_path()), size=size)


@cache
def _code_points() -> frozenset[int]:
    with TTFont(str(font_path()), lazy=True) as ttf:
        return frozenset(ttf.getBestCmap())


def missing_glyphs(text: str) -> set[str]:
    """The characters of ``text`` the font has no glyph for."""
    return {ch for ch in text if ord(ch) not in _code_points()}


def fit_text(text: str, text_font: ImageFont.FreeTypeFont, room: float) -> str:
    """``text`` shortened with an ellipsis until it is at most ``room`` pixels long."""
    if text_font.getlength(text) <= room:
        return text
    while text and text_font.getlength(text.rstrip() + "…") > room:
        text = text[:-1]
    return text.rstrip() + "…"
