"""Every label the contact sheet can draw has a glyph for each character.

Pillow's built-in font draws the en dash of ``0–2.5 s`` as a missing-character box; the sheet
now draws with the shipped font. A character is checked two ways: the font's character map
(``missing_glyphs``) and its rendering, which must differ from the box the font draws for a
character it lacks.
"""

from __future__ import annotations

import itertools

import pytest
from PIL import ImageFont

from videogen_dagster.media.contact_sheet import caption, label_font, time_range_label
from videogen_dagster.media.fonts import missing_glyphs

#: Starts and durations with every shape ``:g`` gives: whole, fractional, frame-exact (1/24,
#: 1/30 s), long videos, and numbers large enough for an exponent (``1e+06``).
_SECONDS = [0, 0.5, 2.5, 1 / 24, 1 / 30, 4.958333, 10, 59.99, 180, 3599.5, 1e6, 12345678.9]
#: Thumbnail widths the pipeline and the tests use; narrow ones cut labels with an ellipsis.
_WIDTHS = [80, 160, 320]


def _labels() -> list[tuple[str, ImageFont.FreeTypeFont]]:
    """Every caption the sheet draws for these beats, numbers and widths."""
    drawn = []
    for width in _WIDTHS:
        font = label_font(width)
        for number, (start, duration) in enumerate(itertools.product(_SECONDS, repeat=2), 1):
            label = time_range_label(start, duration)
            drawn.append((caption(number, label, font, width - 4), font))
        drawn.append((caption(7, None, font, width - 4), font))
    return drawn


def _draws_the_missing_box(font: ImageFont.FreeTypeFont, character: str) -> bool:
    box = font.getmask("\ue000")  # a private-use code point no font here has
    return bytes(font.getmask(character)) == bytes(box)


def test_every_contact_sheet_label_has_a_glyph_for_each_character():
    labels = _labels()
    assert any("–" in text for text, _ in labels) and any("…" in text for text, _ in labels)
    assert any("e+" in text for text, _ in labels)  # the exponent form is covered too

    for text, font in labels:
        assert missing_glyphs(text) == set(), text
        drawn = [ch for ch in set(text) if not ch.isspace() and _draws_the_missing_box(font, ch)]
        assert drawn == [], f"{text!r}: {drawn} drawn as a missing-character box"


def test_the_check_catches_pillows_default_font():
    """The rendering check is not vacuous: Pillow's default font fails it on the en dash."""
    default = ImageFont.load_default(size=24)

    assert _draws_the_missing_box(default, "–")
    assert not _draws_the_missing_box(default, "5")


@pytest.mark.parametrize(("start", "duration", "text"), [(0, 2.5, "0–2.5 s"), (5, 5, "5–10 s")])
def test_time_range_label(start: float, duration: float, text: str):
    assert time_range_label(start, duration) == text
