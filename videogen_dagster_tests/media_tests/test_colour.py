"""Colour matching and drift measurement on real storyboard frames."""

from __future__ import annotations

import numpy as np
import pytest

from videogen_dagster.media import colour_drift, colour_match
from videogen_dagster.media.images import encode_png, load_rgb
from videogen_dagster_tests.media_tests.support import storyboard


def _graded(png: bytes, *, contrast: float, saturation: float, lift: float = 0.0) -> bytes:
    """A crude grade like a model's drift: more contrast and saturation, a brightness lift."""
    rgb = load_rgb(png).astype(np.float64)
    grey = rgb.mean(axis=2, keepdims=True)
    rgb = grey + (rgb - grey) * saturation
    rgb = rgb.mean() + (rgb - rgb.mean()) * contrast + lift
    return encode_png(np.clip(rgb, 0, 255).astype(np.uint8))


def test_colour_match_gives_the_frame_the_references_statistics():
    frame, reference = storyboard("a red dawn"), storyboard("a green valley")

    matched = load_rgb(colour_match(frame, reference)).astype(np.float64)

    target = load_rgb(reference).astype(np.float64)
    assert matched.mean(axis=(0, 1)) == pytest.approx(target.mean(axis=(0, 1)), abs=1.5)
    assert matched.std(axis=(0, 1)) == pytest.approx(target.std(axis=(0, 1)), abs=2.0)


def test_colour_match_undoes_a_grade():
    original = storyboard("a harbour at noon")
    drifted = _graded(original, contrast=1.3, saturation=1.4, lift=12)

    before = colour_drift(original, drifted)
    after = colour_drift(original, colour_match(drifted, original))

    assert before["saturation"] > 0.05 and before["contrast"] > 5 and before["mean_colour"] > 8
    for key in ("saturation", "contrast", "mean_colour"):
        assert abs(after[key]) < abs(before[key]) / 3


def test_drift_is_zero_for_the_same_frame_and_signed_for_a_grade():
    frame = storyboard("a quiet street")

    assert colour_drift(frame, frame) == {"mean_colour": 0.0, "contrast": 0.0, "saturation": 0.0}
    flatter = colour_drift(frame, _graded(frame, contrast=0.7, saturation=0.6))
    assert flatter["contrast"] < 0 and flatter["saturation"] < 0


def test_a_flat_frame_is_shifted_not_stretched():
    grey = encode_png(np.full((16, 16, 3), 100, dtype=np.uint8))
    reference = storyboard("colourful")

    matched = load_rgb(colour_match(grey, reference))

    assert matched.std(axis=(0, 1)) == pytest.approx([0, 0, 0])
    assert matched[0, 0] == pytest.approx(load_rgb(reference).mean(axis=(0, 1)), abs=1)
