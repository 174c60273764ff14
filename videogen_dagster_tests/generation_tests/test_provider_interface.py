"""The provider interface's shared behaviour: stable cache keys, default prices, sizes.

The cache key's formula is part of every store: if it changes, each cached image and clip is
unreachable and the next render pays for all of it again. The pinned values below change only
when someone means to change the formula (then say so in the release notes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from videogen_dagster.generation import Budget, Generator
from videogen_dagster.providers.base import (
    ClipRequest,
    Generated,
    ImageGenerator,
    ImageRequest,
    MusicRequest,
    Size,
    request_fingerprint,
)
from videogen_dagster.providers.errors import UnsupportedRequestError
from videogen_dagster.providers.local import (
    LocalClips,
    LocalImages,
    LocalMusic,
    LocalSettings,
    local_provider,
)
from videogen_dagster.store.local import LocalStore

SETTINGS = LocalSettings(short_side=64)

PINNED = [
    (
        LocalImages(SETTINGS),
        ImageRequest(
            prompt="A lighthouse", size=Size(114, 64), seed=3, style="ink", references=(b"ref",)
        ),
        "31065a90971d88ff8d2ecf5ee57f2ea58b45af593faf27a65c144430ad63eb14",
    ),
    (
        LocalClips(SETTINGS),
        ClipRequest(
            start_image=b"png",
            prompt="A lighthouse",
            size=Size(114, 64),
            fps=8,
            duration=5.0,
            seed=3,
            style=None,
        ),
        "fb717b593cf9b5128852ec5a9cb652b5aa8c28c4c2f6053f8048240a93247d5c",
    ),
    (
        LocalMusic(SETTINGS),
        MusicRequest(prompt="A lighthouse", duration=5.0, seed=3),
        "f3edfc78dace24a733f02f0a98218c95414d3e2665341d603f19920642eb4dfb",
    ),
]


@pytest.mark.parametrize(
    ("generator", "request_", "pinned"), PINNED, ids=["image", "clip", "music"]
)
def test_the_cache_key_formula_is_stable_across_releases(generator, request_, pinned) -> None:
    assert request_fingerprint(generator, request_) == pinned, (
        "the cache key formula changed: every store's cached generations would be paid for "
        "again; if that is intended, update the pinned keys and say so in the release notes"
    )


class UnpricedImages(ImageGenerator):
    """A backend with no price table: the interface's default estimate applies."""

    name = "unpriced"
    model = "m1"

    def generate_image(self, request: ImageRequest) -> Generated:
        data = LocalImages(SETTINGS).generate_image(request).data
        return Generated(
            data=data, media_type="image/png", cost=0.0, provider="unpriced", model="m1"
        )


def test_a_backend_without_prices_is_estimated_free_and_passes_a_zero_cap(tmp_path: Path) -> None:
    images = UnpricedImages()
    request = ImageRequest(prompt="p", size=Size(64, 64), seed=1)
    assert images.estimate_cost(request) == 0.0
    provider = local_provider(SETTINGS)
    assert provider.planner.estimate_cost("p", 5.0, None) == 0.0
    generator = Generator(
        type(provider)(**{**vars(provider), "images": images}),
        LocalStore(tmp_path / "store"),
        "free",
        budget=Budget(per_video=0.0, total=0.0),
    )
    assert not generator.image(request, label="image").cache_hit


def test_a_clip_size_the_backend_cannot_make_is_refused_naming_what_it_can(tmp_path) -> None:
    clips = LocalClips(SETTINGS)
    provider = local_provider(SETTINGS)
    assert provider.size_for("9:16") == clips.size_for("9:16") == Size(64, 114)
    clips.sizes = {"16:9": Size(114, 64), "1:1": Size(64, 64)}
    with pytest.raises(UnsupportedRequestError) as refused:
        clips.size_for("9:16")
    assert str(refused.value) == (
        "local (zoom-v1) cannot make aspect_ratio '9:16'; it supports 16:9, 1:1"
    )
