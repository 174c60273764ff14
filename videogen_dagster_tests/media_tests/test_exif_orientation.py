"""A camera JPEG whose EXIF tag says "rotate to view" is used upright: by the decoder every
image goes through, and in the reference image the pipeline hands to the providers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from videogen_dagster.domain.validation import validate_spec
from videogen_dagster.generation import Generator
from videogen_dagster.media.images import load_rgb
from videogen_dagster.pipeline.specs import register_spec_file
from videogen_dagster.pipeline.storyboard import prepare_references
from videogen_dagster.providers.base import Size
from videogen_dagster.providers.registry import build_provider
from videogen_dagster.store.local import LocalStore

RED, BLUE = (220, 30, 30), (30, 30, 220)
#: EXIF Orientation 6: the stored pixels must be turned 90 degrees clockwise to be seen upright.
ROTATE_CLOCKWISE = 6


def sideways_jpeg() -> bytes:
    """Stored 80x40, red left and blue right; upright (as a viewer shows it) 40x80, red above
    blue."""
    pixels = np.zeros((40, 80, 3), dtype=np.uint8)
    pixels[:, :40], pixels[:, 40:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = ROTATE_CLOCKWISE
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def _near(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - colour).max() < 40)


def test_the_stored_jpeg_really_is_sideways():
    """The fixture, decoded without the tag: what the pipeline used to see."""
    with Image.open(io.BytesIO(sideways_jpeg())) as raw:
        assert raw.size == (80, 40)
        assert raw.getexif()[0x0112] == ROTATE_CLOCKWISE


def test_decoding_applies_the_orientation():
    pixels = load_rgb(sideways_jpeg(), what="reference")
    assert pixels.shape == (80, 40, 3)  # 40 wide, 80 tall
    assert _near(pixels[10, 20], RED) and _near(pixels[70, 20], BLUE)


def test_the_reference_a_provider_gets_is_upright(tmp_path: Path):
    (tmp_path / "photo.jpg").write_bytes(sideways_jpeg())
    spec_path = tmp_path / "kite.yaml"
    spec_path.write_text(
        "prompt: A kite\nduration: 5\nfps: 8\nmusic: false\nreferences: [photo.jpg]\n"
    )
    store = LocalStore(tmp_path / "store")
    video_id, spec = register_spec_file(spec_path, store)
    generator = Generator(build_provider(), store, video_id)
    # A 2:3 frame, cover-cropped from the upright 1:2 photo: red above blue.
    [reference] = prepare_references(
        generator, validate_spec(spec, video_id), Size(40, 60), generate_when_missing=False
    )
    used = load_rgb(store.read_bytes(reference.key))
    assert used.shape == (60, 40, 3)
    assert _near(used[5, 20], RED) and _near(used[55, 20], BLUE)
    # Sideways it would be red on the left and blue on the right.
    assert _near(used[10, 2], RED) and _near(used[10, 37], RED)
