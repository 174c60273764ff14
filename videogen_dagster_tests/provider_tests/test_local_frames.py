"""The local provider's words stay readable: inside the frame and fixed while the picture zooms.

The caption used to be painted into the image before the zoom, so the zoom pushed it off the
bottom edge, and the style label ran off a 9:16 frame.
"""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from videogen_dagster.media.images import load_rgb
from videogen_dagster.providers.base import ClipRequest, ImageRequest, Size
from videogen_dagster.providers.local import LocalClips, LocalImages
from videogen_dagster.providers.local_art import caption_band
from videogen_dagster_tests.media_tests.support import SMALL

PROMPT = (
    "The keeper climbs the spiral stairs of the old lighthouse while the storm rises over "
    "the bay and the gulls wheel and cry above the breaking waves"
)
STYLE = "moody watercolour with ink outlines, muted teal and amber, heavy paper grain, 35 mm"
SIZES = {"16:9": Size(256, 144), "9:16": Size(144, 256)}


def _band_top(band) -> int:
    alpha = np.asarray(band.getchannel("A"))
    return int(np.flatnonzero(alpha.min(axis=1) == 255)[0])


def _text_mask(rgb: np.ndarray, top: int) -> np.ndarray:
    """Text pixels of the band: much brighter than its near-black background."""
    return rgb[top:].min(axis=2) > 120


@pytest.mark.parametrize("size", [*SIZES.values(), Size(1280, 720), Size(720, 1280)], ids=str)
def test_caption_and_style_text_lie_inside_the_frame(size: Size):
    band = caption_band(PROMPT, STYLE, size.width, size.height)
    rgb = np.asarray(band.convert("RGB"))
    top = _band_top(band)

    ys, xs = np.nonzero(_text_mask(rgb, top))
    assert xs.size > 0
    assert xs.min() >= 2 and xs.max() <= size.width - 3  # neither edge touched
    assert ys.max() + top <= size.height - 2
    assert top % 2 == 0 and top >= 0.72 * size.height - 1  # below every zoom focus
    # The two words at the ends of the style and the prompt run past any line: both are cut
    # with an ellipsis rather than off the frame.
    assert (rgb[top:, size.width - 2] == rgb[top, 0]).all()


@pytest.mark.parametrize("aspect", SIZES)
def test_text_stays_put_while_the_picture_zooms(aspect: str):
    size = SIZES[aspect]
    image = LocalImages(SMALL).generate_image(
        ImageRequest(prompt=PROMPT, size=size, seed=1, style=STYLE)
    )
    clip = LocalClips(SMALL).generate_clip(
        ClipRequest(
            start_image=image.data,
            prompt=PROMPT,
            size=size,
            fps=24,
            duration=5.0,
            seed=1,
            style=STYLE,
        )
    )
    with av.open(io.BytesIO(clip.data)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    first, last = frames[0], frames[-1]
    top = _band_top(caption_band(PROMPT, STYLE, size.width, size.height))

    # The picture moved ...
    assert np.abs(first[:top] - last[:top]).mean() > 3
    # ... the words did not: the same text pixels, and the band within codec noise.
    text_first, text_last = _text_mask(first, top), _text_mask(last, top)
    overlap = (text_first & text_last).sum() / (text_first | text_last).sum()
    assert text_first.sum() > 50 and overlap > 0.9
    assert np.abs(first[top:] - last[top:]).mean() < 2
    # Frame 0 is still the storyboard image itself.
    assert np.abs(first - load_rgb(image.data).astype(np.int16)).mean() < 2


def test_a_start_image_without_the_band_is_zoomed_whole():
    """A start image made elsewhere (no band of these words) gets no band drawn over it."""
    size = SIZES["16:9"]
    image = LocalImages(SMALL).generate_image(
        ImageRequest(prompt="other words", size=size, seed=1, style=None)
    )
    clip = LocalClips(SMALL).generate_clip(
        ClipRequest(image.data, PROMPT, size, fps=24, duration=5.0, seed=1, style=STYLE)
    )
    with av.open(io.BytesIO(clip.data)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    top = _band_top(caption_band(PROMPT, STYLE, size.width, size.height))

    assert np.abs(frames[0][top:] - frames[-1][top:]).mean() > 3
