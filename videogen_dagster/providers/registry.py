"""The one place generation backends are registered and combined into a ``Provider``.

Each role (planner, images, clips, music) names its backend separately, so OpenAI planning
and images can feed Runway clips and local music in one render. A backend's module is
imported only when a role uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from videogen_dagster.providers.base import Provider

if TYPE_CHECKING:
    from videogen_dagster.providers.local import LocalSettings
    from videogen_dagster.providers.openai_provider import OpenAISettings
    from videogen_dagster.providers.runway_provider import RunwaySettings

#: Backends that can fill each role.
BACKENDS: Mapping[str, tuple[str, ...]] = {
    "planner": ("local", "openai"),
    "images": ("local", "openai"),
    "clips": ("local", "runway"),
    "music": ("local",),
}

#: What a user sets so a backend's settings exist, for the error when they do not.
_SETTINGS_HINT = {
    "openai": "set OPENAI_API_KEY (and optionally OPENAI_BASE_URL)",
    "runway": "set RUNWAYML_API_SECRET",
}


class ProviderConfigError(ValueError):
    """A role names a backend that cannot fill it, or whose settings are missing."""


def build_provider(
    *,
    planner: str = "local",
    images: str = "local",
    clips: str = "local",
    music: str = "local",
    local: LocalSettings | None = None,
    openai: OpenAISettings | None = None,
    runway: RunwaySettings | None = None,
) -> Provider:
    """A ``Provider`` with the named backend in each role; settings only for those used."""
    roles = {"planner": planner, "images": images, "clips": clips, "music": music}
    settings: dict[str, Any] = {"openai": openai, "runway": runway}
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
            built[name] = _FACTORIES[name](local=local, openai=openai, runway=runway)
        return built[name]

    return Provider(
        planner=backend_for(planner).planner,
        images=backend_for(images).images,
        clips=backend_for(clips).clips,
        music=backend_for(music).music,
    )


class _Roles:
    """The role objects one backend offers (``None`` where it has none)."""

    def __init__(self, planner: Any = None, images: Any = None, clips: Any = None) -> None:
        self.planner, self.images, self.clips, self.music = planner, images, clips, None


def _local(*, local: LocalSettings | None, **_: Any) -> Provider:
    from videogen_dagster.providers.local import LocalSettings, local_provider

    return local_provider(local or LocalSettings())


def _openai(*, openai: OpenAISettings, **_: Any) -> _Roles:
    from videogen_dagster.providers.openai_provider import OpenAIImages, OpenAIPlanner

    client = openai.client()  # one connection pool for planning and images
    return _Roles(
        planner=OpenAIPlanner(openai, client=client), images=OpenAIImages(openai, client=client)
    )


def _runway(*, runway: RunwaySettings, **_: Any) -> _Roles:
    from videogen_dagster.providers.runway_provider import RunwayClips

    return _Roles(clips=RunwayClips(runway))


_FACTORIES: Mapping[str, Callable[..., Any]] = {
    "local": _local,
    "openai": _openai,
    "runway": _runway,
}
