"""OpenAI backends: beat planning with structured output, and storyboard/reference images.

Clips do not come from here: OpenAI's video API (Sora) is deprecated in the installed SDK
and shuts down on 2026-09-24, so clips come from an image-to-video provider instead.

Prices are list prices in USD taken from openai.com/api/pricing (checked 2026-12-07); they are
defaults, not facts the code relies on: pass your own ``OpenAISettings.prices`` when your
contract differs. A model missing from the table is refused when the backend is built, so
a render never runs with an unknown (silently zero) cost.

Models go away: the installed SDK (openai 3.63, ``types/shared/chat_model.py``) marks gpt-4.1,
gpt-4.1-mini, gpt-4o and gpt-4o-mini for shutdown on 2027-01-14, so the planner defaults to
gpt-5.4-mini, which it does not mark. ``ANNOUNCED_SHUTDOWNS`` refuses a model past its date
when the settings are built and warns before it; and before the first paid call each
configured model is looked up once (``GET /models/{id}``, free), so a model the key cannot use
fails with one line naming the setting, not with a 404 deep in a run.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, Field, ValidationError

from videogen_dagster import waits
from videogen_dagster.domain.local_beat_planner import WORDS_PER_SECOND, narration_for
from videogen_dagster.domain.spec import BeatSpec
from videogen_dagster.providers.base import (
    Generated,
    ImageGenerator,
    ImageRequest,
    Planner,
    Size,
    SpeechGenerator,
    SpeechRequest,
)
from videogen_dagster.providers.errors import (
    CorruptMediaError,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UnsupportedRequestError,
)
from videogen_dagster.providers.notices import notice
from videogen_dagster.providers.retry import (
    PROMPT_OR_IMAGE,
    RetrySettings,
    openai_error,
    retry_with,
)

if TYPE_CHECKING:
    import openai

PROVIDER_NAME = "openai"

Price = TypeVar("Price")


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
    "gpt-5.4-mini": TokenPrice(0.75, 4.50, 0.075),
    "gpt-5.4": TokenPrice(2.50, 15.00, 0.25),
    # Marked for shutdown on 2027-01-14 (see ANNOUNCED_SHUTDOWNS); kept until then.
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


@dataclass(frozen=True)
class SpeechPrice:
    """USD of one text-to-speech call: per character of input and per second of audio out."""

    per_character: float = 0.0
    per_second: float = 0.0

    def cost(self, characters: int, seconds: float) -> float:
        return characters * self.per_character + seconds * self.per_second


#: TTS models' list prices: tts-1 and tts-1-hd by character ($15 and $30 per 1M);
#: gpt-4o-mini-tts by audio out (about $0.015 a minute; its text input, $0.60 per 1M tokens,
#: is a rounding error next to it).
DEFAULT_SPEECH_PRICES: Mapping[str, SpeechPrice] = {
    "gpt-4o-mini-tts-2025-12-15": SpeechPrice(per_second=0.015 / 60),
    "gpt-4o-mini-tts": SpeechPrice(per_second=0.015 / 60),
    "tts-1": SpeechPrice(per_character=15 / 1_000_000),
    "tts-1-hd": SpeechPrice(per_character=30 / 1_000_000),
}

#: Shutdown dates the installed SDK announces for models in the price tables: a model is
#: refused from its date on, and warned about before it.
ANNOUNCED_SHUTDOWNS: Mapping[str, date] = {
    "gpt-4.1-mini": date(2027, 1, 14),
    "gpt-4.1": date(2027, 1, 14),
    "gpt-4o-mini": date(2027, 1, 14),
    "gpt-image-1": date(2026, 10, 23),
    # Every audio.speech model of openai 3.63 (its successor is the Realtime API).
    "gpt-4o-mini-tts-2025-12-15": date(2027, 1, 6),
    "gpt-4o-mini-tts": date(2027, 1, 6),
    "tts-1": date(2027, 1, 6),
    "tts-1-hd": date(2027, 1, 6),
}

#: The sizes every GPT image model makes; others (16:9, the exact clip size) are cropped.
GPT_IMAGE_SIZES: tuple[Size, ...] = (Size(1024, 1024), Size(1536, 1024), Size(1024, 1536))


@dataclass(frozen=True)
class OpenAISettings:
    """Everything the OpenAI backends need; the key comes from ``OPENAI_API_KEY`` upstream.

    ``image_model`` defaults to gpt-image-1.5: gpt-image-1 was shut down on 2026-10-23.
    ``planner_model`` defaults to gpt-5.4-mini: gpt-4.1-mini, the earlier default, shuts down
    on 2027-01-14. A model past its ``ANNOUNCED_SHUTDOWNS`` date is refused here. GPT-5 models
    reason before they answer and bill those tokens as output, so ``planner_max_tokens``
    leaves room for them.
    """

    api_key: str = field(repr=False)
    base_url: str | None = None
    planner_model: str = "gpt-5.4-mini"
    planner_max_tokens: int = 6000
    image_model: str = "gpt-image-1.5"
    image_quality: str = "medium"
    request_timeout: float = 180.0
    retry: RetrySettings = RetrySettings()
    token_prices: Mapping[str, TokenPrice] = field(default_factory=lambda: DEFAULT_TOKEN_PRICES)
    image_prices: Mapping[str, ImagePrice] = field(default_factory=lambda: DEFAULT_IMAGE_PRICES)
    #: The narration voice's model (``audio.speech``); checked when the speech role uses it.
    speech_model: str = "gpt-4o-mini-tts-2025-12-15"
    speech_prices: Mapping[str, SpeechPrice] = field(default_factory=lambda: DEFAULT_SPEECH_PRICES)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("OpenAISettings.api_key is empty: set OPENAI_API_KEY")
        for setting, model in (
            ("planner_model", self.planner_model),
            ("image_model", self.image_model),
        ):
            _check_shutdown(setting, model, datetime.now(UTC).date())
        _price_of("planner_model", self.planner_model, "token_prices", self.token_prices)
        image_price = _price_of("image_model", self.image_model, "image_prices", self.image_prices)
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


def _price_of(setting: str, model: str, table: str, prices: Mapping[str, Price]) -> Price:
    """``model``'s row of the price table ``table``, or an error naming the setting to fix."""
    price = prices.get(model)
    if price is None:
        raise ValueError(
            f"OpenAISettings.{setting} {model!r} has no entry in "
            f"{table} ({', '.join(sorted(prices))}): add its price"
        )
    return price


def _check_shutdown(setting: str, model: str, today: date) -> None:
    """Refuse a model past its announced shutdown; warn about one that has a date."""
    shutdown = ANNOUNCED_SHUTDOWNS.get(model)
    if shutdown is None:
        return
    if today >= shutdown:
        raise ValueError(
            f"OpenAISettings.{setting} {model!r} was shut down on {shutdown:%Y-%m-%d}: "
            f"choose a current model (the default is {_DEFAULTS[setting]!r})"
        )
    notice(
        f"openai: {setting} {model!r} shuts down on {shutdown:%Y-%m-%d}; "
        f"move to a current model (the default is {_DEFAULTS[setting]!r}) before then"
    )


_DEFAULTS = {
    "planner_model": "gpt-5.4-mini",
    "image_model": "gpt-image-1.5",
    "speech_model": "gpt-4o-mini-tts-2025-12-15",
}

_available: set[tuple[str, str]] = set()
_available_lock = threading.Lock()


def ensure_model_available(client: openai.OpenAI, model: str, setting: str) -> None:
    """Look ``model`` up once per process and endpoint before its first paid call.

    A 404 (retired, or not enabled for this key) is an ``UnsupportedRequestError`` naming
    the setting to change; any other trouble is left for the paid call to report.
    """
    import openai

    key = (str(client.base_url), model)
    with _available_lock:
        if key in _available:
            return
    try:
        client.models.retrieve(model)
    except openai.NotFoundError as error:
        raise UnsupportedRequestError(
            f"openai: model {model!r} (OpenAISettings.{setting}) is not available to this API "
            f"key at {client.base_url}: it was retired or is not enabled; set {setting} to a "
            "current model"
        ) from error
    except openai.OpenAIError:
        return
    with _available_lock:
        _available.add(key)


class _OpenAIRole:
    """One OpenAI role (planner, images, speech): its model, that model's price, and a client
    that never retries by itself (``retry_with`` owns the attempts, with ``_sleep`` between).

    ``model_setting`` and ``prices_setting`` name the ``OpenAISettings`` fields the role reads,
    and so the field an error about its model tells the person to change.
    """

    model_setting: ClassVar[str]
    prices_setting: ClassVar[str]

    def __init__(
        self,
        settings: OpenAISettings,
        *,
        client: openai.OpenAI | None = None,
        sleep: Callable[[float], None] = waits.sleep,
    ) -> None:
        self.settings = settings
        self.model: str = getattr(settings, self.model_setting)
        self._price = _price_of(
            self.model_setting,
            self.model,
            self.prices_setting,
            getattr(settings, self.prices_setting),
        )
        self._client = client or settings.client()
        self._sleep = sleep

    def _ensure_model_available(self) -> None:
        ensure_model_available(self._client, self.model, self.model_setting)


class PlannedBeat(BaseModel):
    """One beat as the model returns it (strict structured output: every field required)."""

    description: str = Field(
        description="What the viewer sees: subject, action, setting and camera, in one or two "
        "sentences that an image model can draw."
    )
    duration: float = Field(description="Length of the beat in seconds.")
    narration: str = Field(
        description="What a narrator says over the beat, at most about 2.5 words per second "
        "of the beat; an empty string for a silent beat."
    )


class StoryPlan(BaseModel):
    beats: list[PlannedBeat]


_PLANNER_INSTRUCTIONS = (
    "You split a short video idea into beats: consecutive shots, each one continuous scene. "
    "Return between {min_beats} and {max_beats} beats whose durations add up to {duration:g} "
    "seconds; no beat shorter than {min_beat:g} seconds. Describe each beat visually and "
    "concretely, keep characters and setting consistent across beats, and do not mention "
    "camera cuts, text overlays or sound. Also write each beat's narration: words spoken over "
    "it that tell the story, about {words_per_second:g} words per second of the beat."
)


class OpenAIPlanner(_OpenAIRole, Planner):
    """Beats from a prompt through ``chat.completions.parse`` with a pydantic response format.

    ``Planner.plan_beats`` returns only beats, so the cost of the last call is kept in
    ``last_cost`` (USD) and its token counts in ``last_usage`` for the caller to record.
    """

    name = PROVIDER_NAME
    min_beat_seconds = 2.0
    model_setting = "planner_model"
    prices_setting = "token_prices"
    _price: TokenPrice
    #: Token counts of the latest call (replaced whole by each call, never changed in place).
    last_usage: Mapping[str, int] = MappingProxyType({})

    def estimate_cost(self, prompt: str, duration: float, style: str | None) -> float:
        """Instructions and prompt reckoned high (2 characters a token), every output token."""
        text = f"{_PLANNER_INSTRUCTIONS} {prompt} {style or ''}"
        return self._price.cost(len(text) // 2 + 1, self.settings.planner_max_tokens)

    def plan_beats(self, prompt: str, duration: float, style: str | None) -> list[BeatSpec]:
        plan = retry_with(
            self.settings.retry, lambda: self._request(prompt, duration, style), sleep=self._sleep
        )
        durations = fit_durations([beat.duration for beat in plan.beats], duration)
        return [
            BeatSpec(
                description=beat.description.strip(),
                duration=seconds,
                narration=narration_for(beat.narration, seconds),
            )
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
            words_per_second=WORDS_PER_SECOND,
        )
        user = prompt if not style else f"{prompt}\n\nVisual style: {style}"
        self._ensure_model_available()
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


class OpenAIImages(_OpenAIRole, ImageGenerator):
    """GPT images at exactly the requested size.

    GPT image models make only three sizes, so the nearest in aspect is generated and then
    cover-cropped and resized (16:9 comes from 1536x1024). With references the request goes to
    ``images.edit`` so the model sees them; without, to ``images.generate``. The models take
    no seed: the same request may draw a different image, which the cache upstream absorbs.
    """

    name = PROVIDER_NAME
    model_setting = "image_model"
    prices_setting = "image_prices"
    _price: ImagePrice

    @property
    def quality(self) -> str:
        return self.settings.image_quality

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
        self._ensure_model_available()
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
            # A refusal whose body names no input is about the prompt, or with references
            # sent, about the prompt or an image: we do not guess which.
            kind = PROMPT_OR_IMAGE if request.references else "prompt"
            raise openai_error(error, input_kind=kind) from error
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


#: Characters a voice speaks per second at the least: bounds a call's cost before it is made.
_SLOWEST_CHARACTERS_PER_SECOND = 8.0


class OpenAISpeech(_OpenAIRole, SpeechGenerator):
    """Narration through ``audio.speech`` (WAV out), priced from ``speech_prices``.

    OpenAI gives no word timings, so captions of this voice are spread over the speech by
    characters. Every model of the installed SDK has an announced shutdown (2027-01-06).
    """

    name = PROVIDER_NAME
    default_voice = "alloy"
    model_setting = "speech_model"
    prices_setting = "speech_prices"
    _price: SpeechPrice

    def __init__(
        self,
        settings: OpenAISettings,
        *,
        client: openai.OpenAI | None = None,
        sleep: Callable[[float], None] = waits.sleep,
    ) -> None:
        # Checked here, not with the settings: only a render that narrates uses this model.
        _check_shutdown("speech_model", settings.speech_model, datetime.now(UTC).date())
        super().__init__(settings, client=client, sleep=sleep)

    def estimate_cost(self, request: SpeechRequest) -> float:
        slowest = len(request.text) / (_SLOWEST_CHARACTERS_PER_SECOND * request.speed)
        return self._price.cost(len(request.text), slowest)

    def generate_speech(self, request: SpeechRequest) -> Generated:
        self._ensure_model_available()
        return retry_with(self.settings.retry, lambda: self._attempt(request), sleep=self._sleep)

    def _attempt(self, request: SpeechRequest) -> Generated:
        import openai

        from videogen_dagster.media import MediaError
        from videogen_dagster.media.audio import MIX_RATE, decode_audio_bytes

        try:
            response = self._client.audio.speech.create(
                model=self.model,
                voice=request.voice,
                input=request.text,
                response_format="wav",
                speed=request.speed,
            )
            data = response.read()
        except openai.OpenAIError as error:
            raise openai_error(error, input_kind="prompt") from error
        try:
            seconds = decode_audio_bytes(data, ".wav").size / MIX_RATE
        except MediaError as error:
            raise CorruptMediaError(
                f"openai speech ({self.model}) returned unreadable audio: {error}"
            ) from error
        return Generated(
            data=data,
            media_type="audio/wav",
            cost=self._price.cost(len(request.text), seconds),
            provider=self.name,
            model=self.model,
            details={"seconds": round(seconds, 3), "characters": len(request.text)},
        )
