"""OpenAI planning and images through the real ``openai`` client against the fake on loopback.

What matters to a user: plans come back as our beats with the exact total, a refusal says so
and names the prompt, images have exactly the asked size, references reach ``images.edit``,
costs follow the price table, and failures are retried only when a retry can help.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from videogen_dagster.domain.spec import BeatSpec
from videogen_dagster.providers.base import ImageRequest, Size
from videogen_dagster.providers.errors import (
    CorruptMediaError,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from videogen_dagster.providers.openai_provider import (
    DEFAULT_IMAGE_PRICES,
    DEFAULT_TOKEN_PRICES,
    OpenAIImages,
    OpenAIPlanner,
    OpenAISettings,
    fit_durations,
)
from videogen_dagster.providers.retry import RetrySettings
from videogen_dagster_tests.fakes.openai_server import (
    CHAT,
    IMAGES_EDIT,
    IMAGES_GENERATE,
    TOKENS_PER_REFERENCE,
    fake_png,
)
from videogen_dagster_tests.fakes.server import Fault, http_fault, timeout_fault


def _png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every pixel: a truncated PNG fails here
        assert image.format == "PNG"
        return image.size


@pytest.fixture
def settings(openai_settings: OpenAISettings) -> OpenAISettings:
    """The fake's settings with the production retry policy (the fake clock makes it instant)."""
    return dataclasses.replace(openai_settings, retry=RetrySettings())


@pytest.fixture
def planner(settings: OpenAISettings, fake_clock) -> OpenAIPlanner:
    return OpenAIPlanner(settings, sleep=fake_clock.sleep)


@pytest.fixture
def images(settings: OpenAISettings, fake_clock) -> OpenAIImages:
    return OpenAIImages(settings, sleep=fake_clock.sleep)


# -- planning ------------------------------------------------------------------------------


def test_plan_is_parsed_into_beats_that_fill_the_duration(openai_server, planner) -> None:
    beats = planner.plan_beats("A red fox crosses a snowy forest", 20.0, "watercolour")

    assert all(isinstance(beat, BeatSpec) for beat in beats)
    assert len(beats) == openai_server.array_length
    assert sum(beat.duration for beat in beats) == pytest.approx(20.0, abs=1e-9)
    # The model's proportions (4 : 6.5 : 9) survive the fit to the exact total.
    assert [b.duration for b in beats] == sorted(b.duration for b in beats)
    assert all("red fox" in beat.description for beat in beats)

    request = openai_server.requests[-1].json()
    schema = request["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["strict"] is True
    assert request["model"] == "gpt-5.4-mini"  # the SDK marks no shutdown for it
    assert "watercolour" in request["messages"][-1]["content"]


def test_plan_cost_comes_from_usage_and_price_table(openai_server, planner) -> None:
    planner.plan_beats("A lighthouse at dusk", 12.0, None)
    usage = openai_server.last_chat_usage
    price = DEFAULT_TOKEN_PRICES["gpt-5.4-mini"]
    expected = (
        usage["prompt_tokens"] * price.input_per_mtok
        + usage["completion_tokens"] * price.output_per_mtok
    ) / 1e6
    assert planner.last_cost == pytest.approx(expected)
    assert planner.last_cost > 0
    assert planner.last_usage["prompt_tokens"] == usage["prompt_tokens"]


def test_refusal_is_a_permanent_error_naming_the_prompt(openai_server, planner) -> None:
    openai_server.inject(CHAT, Fault(kind="refusal", detail="I can't depict that."))
    with pytest.raises(PermanentProviderError, match="I can't depict that") as caught:
        planner.plan_beats("something refused", 10.0, None)
    assert caught.value.input_kind == "prompt"
    assert openai_server.count("POST", "/v1/chat/completions") == 1


def test_content_filter_is_permanent_and_length_is_a_config_error(openai_server, planner) -> None:
    openai_server.inject(CHAT, Fault(kind="content_filter"), Fault(kind="length"))
    with pytest.raises(PermanentProviderError, match="content filter"):
        planner.plan_beats("filtered", 10.0, None)
    with pytest.raises(ProviderError, match="planner_max_tokens") as caught:
        planner.plan_beats("long", 10.0, None)
    assert not isinstance(caught.value, TransientProviderError | PermanentProviderError)
    assert openai_server.count("POST", "/v1/chat/completions") == 2


def test_planner_retries_a_rate_limit_honouring_retry_after(
    openai_server, planner, fake_clock
) -> None:
    openai_server.inject(CHAT, http_fault(429, "Rate limit reached", retry_after=3))
    beats = planner.plan_beats("A quiet harbour", 10.0, None)
    assert len(beats) == 3
    assert fake_clock.sleeps == [3.0]
    assert openai_server.count("POST", "/v1/chat/completions") == 2


def test_fit_durations_keeps_proportions_and_exact_total() -> None:
    assert fit_durations([4.0, 6.0], 20.0) == [8.0, 12.0]
    fitted = fit_durations([1.0, 1.0, 1.0], 10.0)
    assert sum(fitted) == pytest.approx(10.0) and fitted[:2] == [3.33, 3.33]
    with pytest.raises(ProviderError):
        fit_durations([3.0, 0.0], 10.0)


# -- images --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "api_size"),
    [
        (Size(256, 144), "1536x1024"),  # 16:9 storyboard, as small as tests make them
        (Size(144, 256), "1024x1536"),  # 9:16
        (Size(256, 256), "1024x1024"),  # 1:1
        (Size(1280, 720), "1536x1024"),  # 16:9 at Runway's clip size
    ],
)
def test_images_have_exactly_the_asked_size(openai_server, images, size, api_size) -> None:
    result = images.generate_image(ImageRequest(prompt="a red fox", size=size, seed=1))

    assert _png_size(result.data) == (size.width, size.height)
    assert result.media_type == "image/png"
    sent = openai_server.requests[-1].json()
    assert sent["size"] == api_size
    assert sent["model"] == "gpt-image-1.5" and sent["quality"] == "medium"
    price = DEFAULT_IMAGE_PRICES["gpt-image-1.5"]
    text_tokens = result.details["input_text_tokens"]
    assert result.cost == pytest.approx(
        price.per_image["medium"][api_size] + text_tokens * price.text_input_per_mtok / 1e6
    )
    assert openai_server.count("POST", "/v1/images/edits") == 0


def test_16_9_is_a_centre_crop_of_the_landscape_image(openai_server, images) -> None:
    result = images.generate_image(ImageRequest(prompt="gradient", size=Size(384, 216), seed=1))
    full = Image.open(io.BytesIO(fake_png(1536, 1024, "gradient"))).convert("RGB")
    expected = full.crop((0, 80, 1536, 944)).resize((384, 216))  # 1536x864 centre band
    got = Image.open(io.BytesIO(result.data)).convert("RGB")
    diff = max(
        abs(a - b)
        for pa, pb in zip(got.getdata(), expected.getdata(), strict=True)
        for a, b in zip(pa, pb, strict=True)
    )
    assert diff <= 8


def test_references_go_to_images_edit(openai_server, images) -> None:
    references = (fake_png(64, 64, "hero"), fake_png(64, 48, "castle"))
    result = images.generate_image(
        ImageRequest(
            prompt="the hero at the castle",
            size=Size(256, 144),
            seed=3,
            style="ink",
            references=references,
        )
    )
    assert _png_size(result.data) == (256, 144)
    assert openai_server.count("POST", "/v1/images/edits") == 1
    assert openai_server.count("POST", "/v1/images/generations") == 0
    assert openai_server.last_edit_references == list(references)
    price = DEFAULT_IMAGE_PRICES["gpt-image-1.5"]
    image_tokens = 2 * TOKENS_PER_REFERENCE
    assert result.details["input_image_tokens"] == image_tokens
    assert result.cost == pytest.approx(
        price.per_image["medium"]["1536x1024"]
        + (
            result.details["input_text_tokens"] * price.text_input_per_mtok
            + image_tokens * price.image_input_per_mtok
        )
        / 1e6
    )


def test_rate_limit_waits_exactly_retry_after(openai_server, images, fake_clock) -> None:
    openai_server.inject(
        IMAGES_GENERATE, http_fault(429, retry_after=2), http_fault(429, retry_after=5)
    )
    result = images.generate_image(ImageRequest(prompt="a fox", size=Size(256, 144), seed=1))
    assert _png_size(result.data) == (256, 144)
    assert fake_clock.sleeps == [2.0, 5.0]
    assert openai_server.count("POST", "/v1/images/generations") == 3


def test_server_errors_are_retried_with_backoff(openai_server, images, fake_clock) -> None:
    openai_server.inject(IMAGES_GENERATE, http_fault(500), http_fault(502))
    images.generate_image(ImageRequest(prompt="a fox", size=Size(256, 144), seed=1))
    assert openai_server.count("POST", "/v1/images/generations") == 3
    base = images.settings.retry.base_delay
    assert len(fake_clock.sleeps) == 2
    assert base * 0.5 <= fake_clock.sleeps[0] <= base * 1.5
    assert base * 1.0 <= fake_clock.sleeps[1] <= base * 3.0


def test_timeouts_are_retried(openai_server, settings, fake_clock) -> None:
    impatient = dataclasses.replace(settings, request_timeout=0.3)
    openai_server.inject(IMAGES_GENERATE, timeout_fault(1.0))
    result = OpenAIImages(impatient, sleep=fake_clock.sleep).generate_image(
        ImageRequest(prompt="a fox", size=Size(256, 144), seed=1)
    )
    assert _png_size(result.data) == (256, 144)
    assert openai_server.count("POST", "/v1/images/generations") == 2
    assert len(fake_clock.sleeps) == 1


def test_moderation_is_not_retried_and_names_the_input(openai_server, images, fake_clock) -> None:
    openai_server.inject(
        IMAGES_EDIT,
        http_fault(
            400,
            "Your request was rejected as a result of our safety system.",
            code="moderation_blocked",
            param="image",
        ),
    )
    with pytest.raises(PermanentProviderError, match="moderation") as caught:
        images.generate_image(
            ImageRequest(
                prompt="x", size=Size(256, 144), seed=1, references=(fake_png(32, 32, "r"),)
            )
        )
    assert caught.value.input_kind == "image"
    assert "beat 2" in str(caught.value.for_input("beat 2"))
    assert openai_server.count("POST", "/v1/images/edits") == 1
    assert fake_clock.sleeps == []


def test_corrupt_image_is_retried_then_reported(openai_server, images) -> None:
    openai_server.inject(IMAGES_GENERATE, Fault(kind="corrupt", detail="100"))
    result = images.generate_image(ImageRequest(prompt="a fox", size=Size(256, 144), seed=1))
    assert _png_size(result.data) == (256, 144)
    assert openai_server.count("POST", "/v1/images/generations") == 2

    attempts = images.settings.retry.attempts
    openai_server.inject(IMAGES_GENERATE, *[Fault(kind="corrupt", detail="0")] * attempts)
    with pytest.raises(CorruptMediaError):
        images.generate_image(ImageRequest(prompt="a fox", size=Size(256, 144), seed=1))
    assert openai_server.count("POST", "/v1/images/generations") == 2 + attempts


def test_wrong_key_fails_at_once_without_showing_it(openai_server, openai_settings) -> None:
    settings = OpenAISettings(
        api_key="sk-wrong-secret",
        base_url=openai_settings.base_url,
        retry=RetrySettings(base_delay=0.0),
    )
    with pytest.raises(ProviderError, match="API key") as caught:
        OpenAIImages(settings).generate_image(ImageRequest("a", Size(256, 144), 1))
    assert not isinstance(caught.value, TransientProviderError)
    assert "sk-wrong-secret" not in str(caught.value)
    assert "sk-wrong-secret" not in repr(settings)
    assert openai_server.count("POST", "/v1/images/generations") == 1


def test_settings_refuse_models_without_a_price() -> None:
    with pytest.raises(ValueError, match="token_prices"):
        OpenAISettings(api_key="k", planner_model="gpt-unknown")
    with pytest.raises(ValueError, match="image_prices"):
        OpenAISettings(api_key="k", image_model="gpt-image-2")
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAISettings(api_key="")
