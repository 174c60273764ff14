"""What each image-to-video model can make and what it costs: one table, read before paying.

The chunk planner, the budget, ``videogen estimate`` and the provider itself all read this table,
so a model's clip lengths and price live in one place. Nothing here imports a vendor SDK or
Dagster: an estimate needs no API key.

Runway's models (``runwayml`` 5.24, ``types/image_to_video_create_params.py``): durations and
ratios are the SDK's literals and docstrings; where the SDK types ``duration`` as a bare ``int``
the range is Runway's documented one (gen4_turbo 2-10 s like gen4.5; Kling 3.0 3-15 s, the
total its multishot docstring allows; Seedance 2 4-15 s). Models whose output size the request
cannot fix are left out, since every clip is checked against the size asked for:
``kling2.5_turbo_pro`` (no ``ratio``: the size follows the input image) and ``hailuo3`` (a
ratio plus a resolution tier, no exact size).

Prices (``PRICES_CHECKED``): Runway bills credits at USD 0.01. gen4_turbo 5 credits/s, gen4.5
12, veo3.1 20 and veo3.1_fast 10 without audio (40 and 15 with; we ask for none, the music is
ours) are Runway's published rates as known on that date. The Kling and Seedance rates are
estimates from third-party resellers' list prices, rounded up so a budget errs safe: check
docs.dev.runwayml.com/guides/pricing before relying on them. Runway's own ``estimatedCost``
(credits) is recorded beside our figure for every task, so a wrong row shows in the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from videogen_dagster.providers.base import Size
from videogen_dagster.providers.errors import UnsupportedRequestError

#: The date the price rows below were last checked against the vendors' pages.
PRICES_CHECKED = "2026-12-07"

#: USD per Runway credit.
USD_PER_RUNWAY_CREDIT = 0.01

#: The largest seed Runway accepts (``seed`` is an unsigned 32-bit integer).
RUNWAY_MAX_SEED = 4_294_967_295


class UnknownClipModelError(ValueError):
    """A clips backend or model that the table does not hold; the message lists the choices."""


@dataclass(frozen=True)
class ClipModelSpec:
    """One image-to-video model: the clip lengths it accepts, its sizes, its price, its limits.

    ``sizes`` maps the spec's ``aspect_ratio`` to the exact clip size (for Runway the ``ratio``
    sent is ``"<width>:<height>"``); an aspect ratio missing here cannot be made, and is refused
    before anything is paid. ``prompt_limit`` counts UTF-16 code units, as Runway's API does.
    ``request_extras`` are fixed fields sent with every create call (``audio: false``).
    """

    provider: str
    model: str
    durations: tuple[int, ...]
    sizes: Mapping[str, Size]
    usd_per_second: float
    prompt_limit: int
    accepts_seed: bool = True
    request_extras: Mapping[str, Any] = field(default_factory=dict)
    #: Whether ``usd_per_second`` is a published rate (True) or an estimate to be checked.
    price_published: bool = True

    def __post_init__(self) -> None:
        if not self.durations or list(self.durations) != sorted(set(self.durations)):
            raise ValueError(f"{self.model}: durations must be ascending and unique")

    @property
    def clip_lengths(self) -> tuple[float, ...]:
        """The durations as ``ClipGenerator.clip_lengths`` (seconds, ascending)."""
        return tuple(float(d) for d in self.durations)

    def cost(self, seconds: float) -> float:
        """USD of one clip of ``seconds`` generated seconds."""
        return round(self.usd_per_second * seconds, 6)

    def size_for(self, aspect_ratio: str) -> Size:
        """The clip size for ``aspect_ratio``, or a clear error before anything is paid."""
        try:
            return self.sizes[aspect_ratio]
        except KeyError:
            raise UnsupportedRequestError(
                f"{self.provider} ({self.model}) cannot make aspect_ratio {aspect_ratio!r}; "
                f"it makes {', '.join(self.sizes)}: choose another aspect_ratio or clips model"
            ) from None

    def check_size(self, size: Size) -> str:
        """The aspect ratio the model makes ``size`` at, or a clear error if it cannot."""
        for aspect, made in self.sizes.items():
            if made == size:
                return aspect
        sizes = ", ".join(f"{made} ({aspect})" for aspect, made in self.sizes.items())
        raise UnsupportedRequestError(
            f"{self.provider} ({self.model}) cannot make a {size} clip; it makes {sizes}"
        )

    def check_duration(self, seconds: float) -> int:
        """``seconds`` as the integer the API takes, or a clear error if the model cannot."""
        if seconds != int(seconds) or int(seconds) not in self.durations:
            raise UnsupportedRequestError(
                f"{self.provider} ({self.model}) makes clips of "
                f"{_durations_text(self.durations)} s, not {seconds:g} s"
            )
        return int(seconds)


def _durations_text(durations: tuple[int, ...]) -> str:
    contiguous = list(durations) == list(range(durations[0], durations[-1] + 1))
    if contiguous and len(durations) > 2:
        return f"{durations[0]} to {durations[-1]}"
    return ", ".join(str(d) for d in durations)


def _runway(
    model: str,
    durations: tuple[int, ...],
    sizes: Mapping[str, Size],
    credits_per_second: float,
    prompt_limit: int,
    **extra: Any,
) -> ClipModelSpec:
    return ClipModelSpec(
        provider="runway",
        model=model,
        durations=durations,
        sizes=sizes,
        usd_per_second=round(credits_per_second * USD_PER_RUNWAY_CREDIT, 6),
        prompt_limit=prompt_limit,
        **extra,
    )


_720P = {"16:9": Size(1280, 720), "9:16": Size(720, 1280), "1:1": Size(960, 960)}
_VEO = {"16:9": Size(1280, 720), "9:16": Size(720, 1280)}  # Veo makes no square clip
_1080P = {"16:9": Size(1920, 1080), "9:16": Size(1080, 1920), "1:1": Size(1440, 1440)}

#: Runway's image-to-video models we can plan for, by the ``model`` name the API takes.
RUNWAY_CLIP_MODELS: Mapping[str, ClipModelSpec] = {
    spec.model: spec
    for spec in (
        _runway("gen4_turbo", tuple(range(2, 11)), _720P, 5, 1000),
        _runway("gen4.5", tuple(range(2, 11)), _720P, 12, 1000),
        _runway("veo3.1", (4, 6, 8), _VEO, 20, 1000, request_extras={"audio": False}),
        _runway("veo3.1_fast", (4, 6, 8), _VEO, 10, 1000, request_extras={"audio": False}),
        _runway(
            "kling3.0_standard",
            tuple(range(3, 16)),
            _720P,
            9,
            2500,
            accepts_seed=False,
            request_extras={"audio": False},
            price_published=False,
        ),
        _runway(
            "kling3.0_pro",
            tuple(range(3, 16)),
            _1080P,
            12,
            2500,
            accepts_seed=False,
            request_extras={"audio": False},
            price_published=False,
        ),
        _runway(
            "seedance2",
            tuple(range(4, 16)),
            _720P,
            15,
            3500,
            request_extras={"audio": False},
            price_published=False,
        ),
    )
}

#: The model a backend uses when none is configured.
DEFAULT_CLIP_MODELS: dict[str, str] = {"runway": "gen4_turbo"}

_TABLES: dict[str, Mapping[str, ClipModelSpec]] = {"runway": RUNWAY_CLIP_MODELS}


def register_clip_models(
    provider: str, models: Mapping[str, ClipModelSpec], default: str | None = None
) -> None:
    """Add a backend's table (another vendor's module calls this when it is imported)."""
    _TABLES[provider] = models
    if default is not None:
        DEFAULT_CLIP_MODELS[provider] = default


def default_clip_model(provider: str) -> str:
    """The model ``provider`` uses when the configuration names none."""
    try:
        return DEFAULT_CLIP_MODELS[provider]
    except KeyError:
        raise UnknownClipModelError(
            f"no clip model table for clips backend {provider!r}; "
            f"known: {', '.join(sorted(_TABLES))}"
        ) from None


def clip_model(provider: str, model: str | None = None) -> ClipModelSpec:
    """The table row of ``model`` (the backend's default when ``None``), or a clear error."""
    name = model or default_clip_model(provider)
    table = _TABLES.get(provider, {})
    try:
        return table[name]
    except KeyError:
        raise UnknownClipModelError(
            f"clips_model {name!r} is not a {provider} model we can plan for; "
            f"use one of {', '.join(sorted(table)) or '(none)'}"
        ) from None


def utf16_length(text: str) -> int:
    """``text``'s length in UTF-16 code units: how Runway counts a prompt's characters."""
    return len(text.encode("utf-16-le")) // 2


def truncate_utf16(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-16 code units (no split pair)."""
    if utf16_length(text) <= limit:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text
