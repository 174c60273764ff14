"""OpenAI backends: beat planning with structured output, and storyboard/reference images.

Clips do not come from here: OpenAI's video API (Sora) is deprecated in the installed SDK
and shuts down on 2026-09-24, so clips come from an image-to-video provider instead.

Prices are list prices in USD taken from openai.com/api/pricing (checked 2026-11); they are
defaults, not facts the code relies on: pass your own ``OpenAISettings.prices`` when your
contract differs. A model missing from the table is refused when the backend is built, so
a render never runs with an unknown (silently zero) cost.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from videogen_dagster.domain.spec import BeatSpec
from videogen_dagster.providers.base import (
    Generated,
    ImageGenerator,
    ImageRequest,
    Planner,
    Size,
)
from videogen_dagster.providers.errors import (
    CorruptMediaError,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from videogen_dagster.providers.retry import RetrySettings, openai_error, retry_with

if TYPE_CHECKING:
    import openai

PROVIDER_NAME = "openai"


@dataclass(frozen=True)
class TokenPrice:
    """USD per million tokens of a chat model."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        fresh = max(prompt_tokens - cached_tokens, 0)
        return (
            fresh * self.input_per_mtok
            + cached_tokens * self.cached_input_per_mtok
            + completion_tokens * self.output_per_mtok
        ) / 1_000_000


@dataclass(frozen=True)
class ImagePrice:
    """USD of one GPT image: a price per output image by quality and size, plus input tokens.

    Input tokens matter for ``images.edit``: every reference image is billed as image tokens.
    """

    per_image: Mapping[str, Mapping[str, float]]
    text_input_per_mtok: float
    image_input_per_mtok: float

    def cost(self, quality: str, size: str, text_tokens: int = 0, image_tokens: int = 0) -> float:
        return (
            self.per_image[quality][size]
            + (text_tokens * self.text_input_per_mtok + image_tokens * self.image_input_per_mtok)
            / 1_000_000
        )


def _per_size(square: float, landscape_or_portrait: float) -> dict[str, float]:
    return {
        "1024x1024": square,
        "1536x1024": landscape_or_portrait,
        "1024x1536": landscape_or_portrait,
    }


#: Input tokens one reference image is billed as at most (a 1536x1024 image is about 1,300).
ESTIMATED_TOKENS_PER_REFERENCE = 2_000

#: Chat models' list prices (USD per 1M tokens: input, output, cached input).
DEFAULT_TOKEN_PRICES: Mapping[str, TokenPrice] = {
    "gpt-4.1-mini": TokenPrice(0.40, 1.60, 0.10),
    "gpt-4.1": TokenPrice(2.00, 8.00, 0.50),
    "gpt-4o-mini": TokenPrice(0.15, 0.60, 0.075),
}

#: GPT image models' list prices (USD per image by quality and size; USD per 1M input tokens).
DEFAULT_IMAGE_PRICES: Mapping[str, ImagePrice] = {
    "gpt-image-1.5": ImagePrice(
        {
            "low": _per_size(0.009, 0.013),
            "medium": _per_size(0.034, 0.05),
            "high": _per_size(0.133, 0.20),
        },
        text_input_per_mtok=5.00,
        image_input_per_mtok=8.00,
    ),
    "gpt-image-1-mini": ImagePrice(
        {
            "low": _per_size(0.005, 0.006),
            "medium": _per_size(0.011, 0.015),
            "high": _per_size(0.036, 0.052),
        },
        text_input_per_mtok=2.00,
        image_input_per_mtok=2.50,
    ),
}

#: The sizes every GPT image model makes; others (16:9, the exact clip size) are cropped.
GPT_IMAGE_SIZES: tuple[Size, ...] = (Size(1024, 1024), Size(1536, 1024), Size(1024, 1536))


@dataclass(frozen=True)
class OpenAISettings:
    """Everything the OpenAI backends need; the key comes from ``OPENAI_API_KEY`` upstream.

    ``image_model`` defaults to gpt-image-1.5: gpt-image-1 was shut down on 2026-10-23.
    ``planner_model`` gpt-4.1-mini has an announced shutdown of 2027-01-14; switch it (and add
    its price to ``token_prices``) before then.
    """

    api_key: str = field(repr=False)
    base_url: str | None = None
    planner_model: str = "gpt-4.1-mini"
    planner_max_tokens: int = 2000
    image_model: str = "gpt-image-1.5"
    image_quality: str = "medium"
    request_timeout: float = 180.0
    retry: RetrySettings = RetrySettings()
    token_prices: Mapping[str, TokenPrice] = field(default_factory=lambda: DEFAULT_TOKEN_PRICES)
    image_prices: Mapping[str, ImagePrice] = field(default_factory=lambda: DEFAULT_IMAGE_PRICES)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("OpenAISettings.api_key is empty: set OPENAI_API_KEY")
        if self.planner_model not in self.token_prices:
            raise ValueError(
                f"OpenAISettings.planner_model {self.planner_model!r} has no entry in "
                f"token_prices ({', '.join(sorted(self.token_prices))}): add its price"
            )
        image_price = self.image_prices.get(self.image_model)
        if image_price is None:
            raise ValueError(
                f"OpenAISettings.image_model {self.image_model!r} has no entry in "
                f"image_prices ({', '.join(sorted(self.image_prices))}): add its price"
            )
        missing = [
            str(size)
            for size in GPT_IMAGE_SIZES
            if str(size) not in image_price.per_image.get(self.image_quality, {})
        ]
        if missing:
            raise ValueError(
                f"OpenAISettings.image_quality {self.image_quality!r} has no price for "
                f"{self.image_model} at {', '.join(missing)}"
            )

    def client(self) -> openai.OpenAI:
        """A client that never retries by itself: ``retry_with`` owns the attempts."""
        import openai

        return openai.OpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=self.request_timeout,
        )


class PlannedBeat(BaseModel):
    """One beat as the model returns it (strict structured output: every field required)."""

    description: str = Field(
        description="What the viewer sees: subject, action, setting and camera, in one or two "
        "sentences that an image model can draw."
    )
    duration: float = Field(description="Length of the beat in seconds.")


class StoryPlan(BaseModel):
    beats: list[PlannedBeat]


_PLANNER_INSTRUCTIONS = (
    "You split a short video idea into beats: consecutive shots, each one continuous scene. "
    "Return between {min_beats} and {max_beats} beats whose durations add up to {duration:g} "
    "seconds; no beat shorter than {min_beat:g} seconds. Describe each beat visually and "
    "concretely, keep characters and setting consistent across beats, and do not mention "
    "camera cuts, text overlays or sound."
)


class OpenAIPlanner(Planner):
    """Beats from a prompt through ``chat.completions.parse`` with a pydantic response format.

    ``Planner.plan_beats`` returns only beats, so the cost of the last call is kept in
    ``last_cost`` (USD) and its token counts in ``last_usage`` for the caller to record.
    """

    name = PROVIDER_NAME
    min_beat_seconds = 2.0

    def __init__(
        self,
        settings: OpenAISettings,
        *,
        client: openai.OpenAI | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.model = settings.planner_model
        self._price = settings.token_prices[settings.planner_model]
        self._client = client or settings.client()
        self._sleep = sleep
        self.last_cost = 0.0
        self.last_usage: dict[str, int] = {}

    def plan_beats(self, prompt: str, duration: float, style: str | None) -> list[BeatSpec]:
        plan = retry_with(
            self.settings.retry, lambda: self._request(prompt, duration, style), sleep=self._sleep
        )
        durations = fit_durations([beat.duration for beat in plan.beats], duration)
        return [
            BeatSpec(description=beat.description.strip(), duration=seconds)
            for beat, seconds in zip(plan.beats, durations, strict=True)
        ]

    def _request(self, prompt: str, duration: float, style: str | None) -> StoryPlan:
        import openai

        max_beats = max(1, int(duration // self.min_beat_seconds))
        system = _PLANNER_INSTRUCTIONS.format(
            min_beats=min(max(1, round(duration / 10)), max_beats),
            max_beats=min(max(1, round(duration / 3)), max_beats),
            duration=duration,
            min_beat=self.min_beat_seconds,
        )
        user = prompt if not style else f"{prompt}\n\nVisual style: {style}"
        try:
            completion = self._client.chat.completions.parse(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                response_format=StoryPlan,
                max_completion_tokens=self.settings.planner_max_tokens,
            )
        except openai.LengthFinishReasonError as error:
            self._charge(error.completion.usage)
            raise ProviderError(
                f"openai planner ({self.model}): the plan was cut off at "
                f"planner_max_tokens={self.settings.planner_max_tokens}; raise it or shorten "
                "the prompt"
            ) from error
        except openai.ContentFilterFinishReasonError as error:
            raise PermanentProviderError(
                f"openai planner ({self.model}): the content filter stopped the plan for this "
                "prompt",
                input_kind="prompt",
            ) from error
        except ValidationError as error:
            raise TransientProviderError(
                f"openai planner ({self.model}): the reply does not match the plan schema: {error}"
            ) from error
        except openai.OpenAIError as error:
            raise openai_error(error, input_kind="prompt") from error
        self._charge(completion.usage)
        message = completion.choices[0].message
        if message.refusal:
            raise PermanentProviderError(
                f"openai planner ({self.model}) refused the prompt: {message.refusal}",
                input_kind="prompt",
            )
        if message.parsed is None or not message.parsed.beats:
            raise TransientProviderError(f"openai planner ({self.model}) returned no beats")
        return message.parsed

    def _charge(self, usage: Any) -> None:
        if usage is None:
            self.last_cost, self.last_usage = 0.0, {}
            return
        details = usage.prompt_tokens_details
        cached = (details.cached_tokens or 0) if details is not None else 0
        self.last_usage = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": cached,
        }
        self.last_cost = self._price.cost(usage.prompt_tokens, usage.completion_tokens, cached)


def fit_durations(durations: list[float], total: float) -> list[float]:
    """``durations`` scaled to add up to exactly ``total`` (to the centisecond).

    A model's arithmetic is approximate; the spec's total is not. The rounding remainder
    goes to the last beat.
    """
    if not durations or any(d <= 0 for d in durations):
        raise ProviderError(f"openai planner returned unusable beat durations {durations}")
    scale = total / sum(durations)
    fitted = [round(d * scale, 2) for d in durations[:-1]]
    fitted.append(round(total - sum(fitted), 2))
    if fitted[-1] <= 0:
        raise ProviderError(f"openai planner durations {durations} cannot fit {total:g} s")
    return fitted


class OpenAIImages(ImageGenerator):
    """GPT images at exactly the requested size.

    GPT image models make only three sizes, so the nearest in aspect is generated and then
    cover-cropped and resized (16:9 comes from 1536x1024). With references the request goes to
    ``images.edit`` so the model sees them; without, to ``images.generate``. The models take
    no seed: the same request may draw a different image, which the cache upstream absorbs.
    """

    name = PROVIDER_NAME

    def __init__(
        self,
        settings: OpenAISettings,
        *,
        client: openai.OpenAI | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.model = settings.image_model
        self.quality = settings.image_quality
        self._price = settings.image_prices[settings.image_model]
        self._client = client or settings.client()
        self._sleep = sleep

    def estimate_cost(self, request: ImageRequest) -> float:
        """The image's price plus its input tokens, reckoned high so the budget errs safe."""
        api_size = nearest_gpt_image_size(request.size)
        text_tokens = len(f"{request.prompt} {request.style or ''}") // 2 + 1
        image_tokens = ESTIMATED_TOKENS_PER_REFERENCE * len(request.references)
        return self._price.cost(self.quality, str(api_size), text_tokens, image_tokens)

    def generate_image(self, request: ImageRequest) -> Generated:
        api_size = nearest_gpt_image_size(request.size)
        return retry_with(
            self.settings.retry, lambda: self._attempt(request, api_size), sleep=self._sleep
        )

    def _attempt(self, request: ImageRequest, api_size: Size) -> Generated:
        import openai

        from videogen_dagster.media import MediaError, resize_exact

        prompt = request.prompt
        if request.style:
            prompt = f"{prompt}\n\nStyle: {request.style}"
        try:
            if request.references:
                references = [
                    (f"reference-{i}.png", data, "image/png")
                    for i, data in enumerate(request.references)
                ]
                response = self._client.images.edit(
                    model=self.model,
                    image=references,
                    prompt=prompt,
                    size=str(api_size),
                    quality=self.quality,
                    output_format="png",
                    n=1,
                )
            else:
                response = self._client.images.generate(
                    model=self.model,
                    prompt=prompt,
                    size=str(api_size),
                    quality=self.quality,
                    output_format="png",
                    n=1,
                )
        except openai.OpenAIError as error:
            raise openai_error(error, input_kind="prompt") from error
        if not response.data or not response.data[0].b64_json:
            raise CorruptMediaError(f"openai images ({self.model}) returned no image data")
        raw = base64.b64decode(response.data[0].b64_json)
        try:
            png = resize_exact(raw, request.size)
        except MediaError as error:
            raise CorruptMediaError(
                f"openai images ({self.model}) returned an unreadable image ({len(raw)} bytes): "
                f"{error}"
            ) from error
        text_tokens = image_tokens = 0
        if response.usage is not None:
            text_tokens = response.usage.input_tokens_details.text_tokens
            image_tokens = response.usage.input_tokens_details.image_tokens
        return Generated(
            data=png,
            media_type="image/png",
            cost=self._price.cost(self.quality, str(api_size), text_tokens, image_tokens),
            provider=self.name,
            model=self.model,
            details={
                "api_size": str(api_size),
                "quality": self.quality,
                "references": len(request.references),
                "input_text_tokens": text_tokens,
                "input_image_tokens": image_tokens,
            },
        )


def nearest_gpt_image_size(size: Size) -> Size:
    """The GPT image size closest in aspect to ``size`` (ties go to the larger area)."""
    aspect = size.width / size.height
    return min(
        GPT_IMAGE_SIZES,
        key=lambda s: (abs(s.width / s.height - aspect), -(s.width * s.height)),
    )
