"""The cache key is complete: every input that changes what a provider makes is in it.

A cache key that misses an input serves an old clip for a new request (a changed start image
or reference would silently reuse stale media); one that holds too much pays twice. Each row
changes one input the README lists and expects a new generation; an equal request, built
afresh from equal content, must be a cache hit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from videogen_dagster.generation import Generator
from videogen_dagster.providers.base import ClipRequest, ImageRequest, MusicRequest, Size
from videogen_dagster.providers.local import LocalImages, LocalSettings, local_provider
from videogen_dagster.store.local import LocalStore

SETTINGS = LocalSettings(short_side=64, clip_lengths=(1.0, 2.0))
SIZE = SETTINGS.sizes()["16:9"]
OTHER_SIZE = SETTINGS.sizes()["1:1"]


def _png(prompt: str) -> bytes:
    request = ImageRequest(prompt=prompt, size=SIZE, seed=7)
    return LocalImages(SETTINGS).generate_image(request).data


START, OTHER_START = _png("a harbour at dawn"), _png("a harbour at night")
REF_A, REF_B, REF_C = _png("palette one"), _png("palette two"), _png("palette three")

IMAGE = ImageRequest(
    prompt="A lighthouse", size=SIZE, seed=3, style="watercolour", references=(REF_A, REF_B)
)
CLIP = ClipRequest(
    start_image=START, prompt="A lighthouse", size=SIZE, fps=4, duration=1.0, seed=3, style="ink"
)
MUSIC = MusicRequest(prompt="slow piano", duration=2.0, seed=3)


class RenamedImages(LocalImages):
    """The same painter under another backend name: a different provider."""

    name = "other-backend"


class NewModelImages(LocalImages):
    """The same backend with another model: its results are not interchangeable."""

    model = "seeded-painting-v2"


@pytest.fixture
def generator(tmp_path: Path) -> Generator:
    return Generator(local_provider(SETTINGS), LocalStore(tmp_path / "store"), "harbour")


def _with_images(generator: Generator, images: LocalImages) -> Generator:
    provider = replace(generator.provider, images=images)
    return Generator(provider, generator.store, generator.video_id)


IMAGE_CHANGES: dict[str, Callable[[ImageRequest], ImageRequest]] = {
    "prompt": lambda r: replace(r, prompt="A lighthouse in fog"),
    "style": lambda r: replace(r, style="oil paint"),
    "style removed": lambda r: replace(r, style=None),
    "size": lambda r: replace(r, size=OTHER_SIZE),
    "seed": lambda r: replace(r, seed=4),
    "first reference image": lambda r: replace(r, references=(REF_C, REF_B)),
    "second reference image": lambda r: replace(r, references=(REF_A, REF_C)),
    "references reordered": lambda r: replace(r, references=(REF_B, REF_A)),
    "a reference removed": lambda r: replace(r, references=(REF_A,)),
}


@pytest.mark.parametrize("change", IMAGE_CHANGES.values(), ids=IMAGE_CHANGES.keys())
def test_changing_an_image_input_makes_a_new_image(generator, change) -> None:
    first = generator.image(IMAGE, label="image")
    again = generator.image(change(IMAGE), label="image")
    assert not first.cache_hit and not again.cache_hit
    assert again.fingerprint != first.fingerprint and again.key != first.key


CLIP_CHANGES: dict[str, Callable[[ClipRequest], ClipRequest]] = {
    "start image content": lambda r: replace(r, start_image=OTHER_START),
    "prompt": lambda r: replace(r, prompt="A lighthouse in fog"),
    "style": lambda r: replace(r, style="oil paint"),
    "size": lambda r: replace(r, size=OTHER_SIZE, start_image=_sized(START, OTHER_SIZE)),
    "duration": lambda r: replace(r, duration=2.0),
    "seed": lambda r: replace(r, seed=4),
    "fps": lambda r: replace(r, fps=8),
}


def _sized(png: bytes, size: Size) -> bytes:
    from videogen_dagster.media import resize_exact

    return resize_exact(png, size)


@pytest.mark.parametrize("change", CLIP_CHANGES.values(), ids=CLIP_CHANGES.keys())
def test_changing_a_clip_input_makes_a_new_clip(generator, change) -> None:
    first = generator.clip(CLIP, label="clip")
    again = generator.clip(change(CLIP), label="clip")
    assert not first.cache_hit and not again.cache_hit
    assert again.fingerprint != first.fingerprint and again.key != first.key


MUSIC_CHANGES: dict[str, Callable[[MusicRequest], MusicRequest]] = {
    "prompt": lambda r: replace(r, prompt="fast drums"),
    "duration": lambda r: replace(r, duration=3.0),
    "seed": lambda r: replace(r, seed=4),
}


@pytest.mark.parametrize("change", MUSIC_CHANGES.values(), ids=MUSIC_CHANGES.keys())
def test_changing_a_music_input_makes_new_music(generator, change) -> None:
    first = generator.music(MUSIC, label="music")
    again = generator.music(change(MUSIC), label="music")
    assert not again.cache_hit and again.fingerprint != first.fingerprint


@pytest.mark.parametrize(
    "images", [RenamedImages(SETTINGS), NewModelImages(SETTINGS)], ids=["provider", "model"]
)
def test_another_provider_or_model_makes_a_new_image(generator, images) -> None:
    first = generator.image(IMAGE, label="image")
    again = _with_images(generator, images).image(IMAGE, label="image")
    assert not again.cache_hit
    assert (again.provider, again.model) == (images.name, images.model)
    assert again.fingerprint != first.fingerprint


def test_an_equal_request_is_a_cache_hit_whoever_asks(generator, tmp_path) -> None:
    """Equal content is equal whatever object (or video) it came from; a hit costs nothing."""
    made = [generator.image(IMAGE, label="image"), generator.clip(CLIP, label="clip")]
    made.append(generator.music(MUSIC, label="music"))
    other_video = Generator(generator.provider, generator.store, "another-video")
    rebuilt_image = ImageRequest(
        prompt="A lighthouse",
        size=Size(SIZE.width, SIZE.height),
        seed=3,
        style="watercolour",
        references=(bytes(REF_A), bytes(REF_B)),
    )
    hits = [
        other_video.image(rebuilt_image, label="image"),
        other_video.clip(replace(CLIP, start_image=bytes(START)), label="clip"),
        other_video.music(MusicRequest(prompt="slow piano", duration=2.0, seed=3), label="music"),
    ]
    assert [r.cache_hit for r in made] == [False, False, False]
    assert [r.cache_hit for r in hits] == [True, True, True]
    assert [r.fingerprint for r in hits] == [r.fingerprint for r in made]
    assert [r.key for r in hits] == [r.key for r in made]
    assert all(r.cost == 0.0 for r in hits)


def test_planning_is_cached_by_prompt_duration_style_and_planner(generator) -> None:
    beats = generator.plan_beats("A fox crosses a frozen lake", 15, "ink")
    assert generator.planning is not None and not generator.planning.cache_hit
    first = generator.planning.fingerprint
    assert generator.plan_beats("A fox crosses a frozen lake", 15, "ink") == beats
    assert generator.planning.cache_hit and generator.planning.fingerprint == first
    for prompt, duration, style in [
        ("A fox crosses a frozen river", 15, "ink"),
        ("A fox crosses a frozen lake", 20, "ink"),
        ("A fox crosses a frozen lake", 15, "oil"),
    ]:
        generator.plan_beats(prompt, duration, style)
        assert not generator.planning.cache_hit, (prompt, duration, style)
        assert generator.planning.fingerprint != first
