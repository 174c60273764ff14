"""Still-image helpers: contact sheets, thumbnails, exact resizing and PSNR."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from videogen_dagster.media import MediaError, contact_sheet, psnr, resize_exact, thumbnail_png
from videogen_dagster.media.contact_sheet import SHEET_MARGIN, label_height
from videogen_dagster.media.images import encode_png, load_image, load_rgb
from videogen_dagster.providers.base import Size
from videogen_dagster_tests.media_tests.support import storyboard


def _solid(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    return encode_png(Image.new("RGB", (width, height), colour))


@pytest.mark.parametrize(
    ("count", "columns", "rows"), [(1, 1, 1), (2, 2, 1), (5, 3, 2), (12, 4, 3)]
)
def test_contact_sheet_is_a_grid_of_numbered_thumbnails(count: int, columns: int, rows: int):
    images = [_solid(256, 144, (20 * i, 100, 200)) for i in range(count)]

    sheet = load_image(contact_sheet(images, thumb_width=160))

    thumb_height, strip = 90, label_height(160)
    assert sheet.size == (
        columns * 160 + (columns + 1) * SHEET_MARGIN,
        rows * (thumb_height + strip) + (rows + 1) * SHEET_MARGIN,
    )
    # The last image sits in its cell: its colour at the cell's centre.
    row, column = divmod(count - 1, columns)
    x = SHEET_MARGIN + column * (160 + SHEET_MARGIN) + 80
    y = SHEET_MARGIN + row * (thumb_height + strip + SHEET_MARGIN) + 45
    assert sheet.getpixel((x, y)) == (20 * (count - 1), 100, 200)


def test_contact_sheet_draws_the_labels():
    images = [storyboard("one"), storyboard("two")]

    plain = load_rgb(contact_sheet(images))
    labelled = load_rgb(contact_sheet(images, ["The storm rises", "Dawn"]))

    assert plain.shape == labelled.shape
    assert not np.array_equal(plain, labelled)
    with pytest.raises(MediaError, match="2 images but 1 labels"):
        contact_sheet(images, ["only one"])
    with pytest.raises(MediaError, match="no images"):
        contact_sheet([])


def test_thumbnail_keeps_the_aspect_ratio():
    assert load_image(thumbnail_png(_solid(1280, 720, (1, 2, 3)), 240)).size == (240, 135)


@pytest.mark.parametrize(("width", "height"), [(1536, 1024), (1024, 1536), (1280, 720), (7, 5)])
def test_resize_exact_gives_exactly_the_asked_size(width: int, height: int):
    out = resize_exact(_solid(width, height, (10, 20, 30)), Size(1280, 720))

    image = load_image(out)
    assert image.size == (1280, 720)
    assert image.getpixel((640, 360)) == (10, 20, 30)


def test_resize_exact_returns_the_same_bytes_when_the_size_already_fits():
    png = storyboard("fits")
    assert resize_exact(png, Size(256, 144)) is png


def test_psnr_is_infinite_for_identical_images_and_finite_otherwise():
    a = storyboard("same")
    assert psnr(a, a) == math.inf
    assert psnr(a, storyboard("other")) < 20
    with pytest.raises(MediaError, match="different sizes"):
        psnr(a, _solid(10, 10, (0, 0, 0)))


def test_undecodable_image_names_the_input():
    with pytest.raises(MediaError, match="start image"):
        resize_exact(b"not a png", Size(16, 16))
