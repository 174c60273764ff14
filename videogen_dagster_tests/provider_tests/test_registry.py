"""The registry: each role gets the named backend, and a misconfiguration says what to set."""

from __future__ import annotations

import pytest

from videogen_dagster.providers.base import Size
from videogen_dagster.providers.local import LocalClips, LocalMusic, LocalPlanner, LocalSettings
from videogen_dagster.providers.openai_provider import OpenAIImages, OpenAIPlanner, OpenAISettings
from videogen_dagster.providers.registry import ProviderConfigError, build_provider
from videogen_dagster.providers.runway_provider import RunwayClips, RunwaySettings


def test_default_is_all_local() -> None:
    provider = build_provider(local=LocalSettings(short_side=144))
    assert isinstance(provider.planner, LocalPlanner)
    assert isinstance(provider.clips, LocalClips)
    assert isinstance(provider.music, LocalMusic)
    assert provider.size_for("16:9") == Size(256, 144)


def test_roles_mix_backends() -> None:
    provider = build_provider(
        planner="openai",
        images="openai",
        clips="runway",
        music="local",
        openai=OpenAISettings(api_key="sk-test", base_url="http://127.0.0.1:9/v1"),
        runway=RunwaySettings(api_key="key-test", base_url="http://127.0.0.1:9"),
    )
    assert isinstance(provider.planner, OpenAIPlanner)
    assert isinstance(provider.images, OpenAIImages)
    assert isinstance(provider.clips, RunwayClips)
    assert isinstance(provider.music, LocalMusic)
    assert provider.size_for("9:16") == Size(720, 1280)
    assert provider.clip_lengths == tuple(float(s) for s in range(2, 11))  # gen4_turbo
    assert provider.planner._client is provider.images._client  # one connection pool


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ({"images": "openai"}, "OPENAI_API_KEY"),
        ({"planner": "openai"}, "OPENAI_API_KEY"),
        ({"clips": "runway"}, "RUNWAYML_API_SECRET"),
        ({"clips": "openai"}, "choose one of local, runway"),
        ({"music": "runway"}, "unknown music backend 'runway'"),
        ({"images": "dalle"}, "unknown images backend 'dalle'"),
    ],
)
def test_misconfiguration_names_what_to_fix(roles: dict[str, str], message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        build_provider(**roles)
