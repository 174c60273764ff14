"""The one place generation backends are registered and combined into a ``Provider``.

Each role (planner, images, clips, music, speech) names its backend separately, so OpenAI
planning and images can feed Runway clips and local music in one render. A backend's module
is imported only when a role uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from videogen_dagster.providers.base import Provider

if TYPE_CHECKING:
    from videogen_dagster.providers.fal_provider import FalSettings
    from videogen_dagster.providers.local import LocalSettings
    from videogen_dagster.providers.openai_provider import OpenAISettings
    from videogen_dagster.providers.runway_provider import RunwaySettings

#: Backends that can fill each role.
BACKENDS: Mapping[str, tuple[str, ...]] = {
    "planner": ("local", "openai"),
    "images": ("local", "openai"),
    "clips": ("local", "runway", "fal"),
    "music": ("local",),
    "speech": ("local", "openai"),
}

#: What a user sets so a backend's settings exist, for the error when they do not.
_SETTINGS_HINT = {
    "openai": "set OPENAI_API_KEY (and optionally OPENAI_BASE_URL)",
    "runway": "set RUNWAYML_API_SECRET",
    "fal": "set FAL_KEY",
}


#: Calls at once a paid backend's entry tier allows, so the pool of the steps that call it
#: starts there rather than at the instance's default (64, sized for the local provider):
#: Runway's tier 1 runs 1-2 tasks at once and queues the rest THROTTLED. Raise it for your
#: tier with ``dagster instance concurrency set video_api N``; a limit set by hand stays.
DEFAULT_POOL_LIMITS: Mapping[str, int] = {"runway": 2}


class ProviderConfigError(ValueError):
    """A role names a backend that cannot fill it, or whose settings are missing."""


def build_provider(
    *,
    planner: str = "local",
    images: str = "local",
    clips: str = "local",
    music: str = "local",
    speech: str = "local",
    local: LocalSettings | None = None,
    openai: OpenAISettings | None = None,
    runway: RunwaySettings | None = None,
    fal: FalSettings | None = None,
) -> Provider:
    """A ``Provider`` with the named backend in each role; settings only for those used."""
    roles = {"planner": planner, "images": images, "clips": clips, "music": music, "speech": speech}
    settings: dict[str, Any] = {"openai": openai, "runway": runway, "fal": fal}
    for role, backend in roles.items():
        if backend not in BACKENDS[role]:
            raise ProviderConfigError(
                f"unknown {role} backend {backend!r}: choose one of {', '.join(BACKENDS[role])}"
            )
        if backend in settings and settings[backend] is None:
            raise ProviderConfigError(
                f"{role} backend {backend!r} has no settings: {_SETTINGS_HINT[backend]}"
            )

    built: dict[str, Any] = {}  # one backend object per name, shared by its roles

    def backend_for(name: str) -> Any:
        if name not in built:
            built[name] = _FACTORIES[name](local=local, openai=openai, runway=runway, fal=fal)
        return built[name]

    return Provider(
        planner=backend_for(planner).planner,
        images=backend_for(images).images,
        clips=backend_for(clips).clips,
        music=backend_for(music).music,
        speech=backend_for(speech).speech,
    )


class _Roles:
    """The role objects one backend offers (``None`` where it has none)."""

    def __init__(
        self,
        planner: Any = None,
        images: Any = None,
        clips: Any = None,
        speech: Callable[[], Any] | None = None,
    ) -> None:
        self.planner, self.images, self.clips, self.music = planner, images, clips, None
        self._speech = speech

    @property
    def speech(self) -> Any:
        """Built when a provider uses it: a speech model warns of its shutdown when built."""
        return self._speech() if self._speech is not None else None


def _local(*, local: LocalSettings | None, **_: Any) -> Provider:
    from videogen_dagster.providers.local import LocalSettings, local_provider

    return local_provider(local or LocalSettings())


def _openai(*, openai: OpenAISettings, **_: Any) -> _Roles:
    from videogen_dagster.providers.openai_provider import (
        OpenAIImages,
        OpenAIPlanner,
        OpenAISpeech,
    )

    client = openai.client()  # one connection pool for planning, images and speech
    return _Roles(
        planner=OpenAIPlanner(openai, client=client),
        images=OpenAIImages(openai, client=client),
        speech=lambda: OpenAISpeech(openai, client=client),
    )


def _runway(*, runway: RunwaySettings, **_: Any) -> _Roles:
    from videogen_dagster.providers.runway_provider import RunwayClips

    return _Roles(clips=RunwayClips(runway))


def _fal(*, fal: FalSettings, **_: Any) -> _Roles:
    from videogen_dagster.providers.fal_provider import FalClips

    return _Roles(clips=FalClips(fal))


_FACTORIES: Mapping[str, Callable[..., Any]] = {
    "local": _local,
    "openai": _openai,
    "runway": _runway,
    "fal": _fal,
}
