"""OpenAI models as the API takes them today, through the real ``openai`` client.

What matters to a user: the defaults are models the SDK does not mark for shutdown, a model
that is gone fails before anything is paid with one line naming the setting, a refusal that
does not say which input was refused does not guess, a network failure names the URL and
never the key, and the fake refuses whatever the real API would.
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
from datetime import date

import openai
import pytest

from videogen_dagster.providers.base import ImageRequest, Size
from videogen_dagster.providers.errors import (
    PermanentProviderError,
    TransientProviderError,
    UnsupportedRequestError,
)
from videogen_dagster.providers.notices import notices_to
from videogen_dagster.providers.openai_provider import (
    ANNOUNCED_SHUTDOWNS,
    DEFAULT_IMAGE_PRICES,
    DEFAULT_TOKEN_PRICES,
    OpenAIImages,
    OpenAIPlanner,
    OpenAISettings,
    _check_shutdown,
)
from videogen_dagster.providers.retry import RetrySettings
from videogen_dagster_tests.fakes.openai_server import CHAT, IMAGES_EDIT, fake_png
from videogen_dagster_tests.fakes.server import http_fault


@pytest.fixture
def settings(openai_settings: OpenAISettings) -> OpenAISettings:
    return dataclasses.replace(openai_settings, retry=RetrySettings(base_delay=0))


def _sdk_sources() -> str:
    from openai.types import image_model
    from openai.types.audio import speech_model
    from openai.types.shared import chat_model

    return "".join(inspect.getsource(m) for m in (chat_model, image_model, speech_model))


def _sdk_marked() -> str:
    """The "Deprecated values" notes of the installed SDK's model literals, joined."""
    parts = _sdk_sources().split("Deprecated values:")[1:]
    assert len(parts) >= 2  # chat models, image models (and speech models)
    return "".join(part.split('"""', 1)[0] for part in parts)


def test_defaults_are_models_the_installed_sdk_does_not_mark_for_shutdown() -> None:
    defaults = OpenAISettings(api_key="k")
    for model in (defaults.planner_model, defaults.image_model):
        assert f'"{model}"' in _sdk_sources(), model  # a model the SDK knows
        assert f'"{model}"' not in _sdk_marked(), model
    # Every priced model the SDK marks carries its date here, and only those.
    for model in [*DEFAULT_TOKEN_PRICES, *DEFAULT_IMAGE_PRICES, *ANNOUNCED_SHUTDOWNS]:
        assert (f'"{model}"' in _sdk_marked()) == (model in ANNOUNCED_SHUTDOWNS), model


def test_a_model_past_its_shutdown_is_refused_and_one_before_it_warned() -> None:
    with pytest.raises(ValueError, match=r"planner_model 'gpt-4\.1-mini' was shut down on 2027"):
        _check_shutdown("planner_model", "gpt-4.1-mini", date(2027, 1, 14))
    notices: list[str] = []
    with notices_to(notices.append):
        OpenAISettings(api_key="k", planner_model="gpt-4.1-mini")
    assert notices == [
        "openai: planner_model 'gpt-4.1-mini' shuts down on 2027-01-14; move to a current "
        "model (the default is 'gpt-5.4-mini') before then"
    ]


def test_a_gone_planner_model_fails_before_any_paid_call(openai_server, settings) -> None:
    openai_server.retire_model("gpt-5.4-mini")
    planner = OpenAIPlanner(settings, sleep=lambda _: None)
    with pytest.raises(UnsupportedRequestError, match=r"'gpt-5\.4-mini'.*planner_model"):
        planner.plan_beats("a fox", 20.0, None)
    assert openai_server.count("POST", "/v1/chat/completions") == 0
    assert openai_server.count("GET", "/v1/models/gpt-5.4-mini") == 1


def test_a_model_gone_mid_run_is_not_retried(openai_server, settings) -> None:
    images = OpenAIImages(settings, sleep=lambda _: None)
    request = ImageRequest(prompt="a fox", size=Size(256, 144), seed=1)
    images.generate_image(request)  # looked up and used once
    openai_server.retire_model(settings.image_model)
    with pytest.raises(UnsupportedRequestError, match="not available to this API key"):
        images.generate_image(dataclasses.replace(request, prompt="another fox"))
    assert openai_server.count("POST", "/v1/images/generations") == 2


@pytest.mark.parametrize(
    ("references", "kind"), [((), "prompt"), ((fake_png(32, 32, "r"),), "prompt or image")]
)
def test_a_refusal_that_names_no_input_does_not_guess(
    openai_server, settings, references, kind
) -> None:
    route = IMAGES_EDIT if references else "POST /v1/images/generations"
    message = "Your request was rejected as a result of our safety system."
    openai_server.inject(route, http_fault(400, message, code="moderation_blocked", param=""))
    with pytest.raises(PermanentProviderError, match="moderation") as caught:
        OpenAIImages(settings, sleep=lambda _: None).generate_image(
            ImageRequest(prompt="x", size=Size(256, 144), seed=1, references=references)
        )
    assert caught.value.input_kind == kind
    assert f"({kind})" in str(caught.value)


def test_a_connection_failure_names_the_url_and_never_the_key(settings) -> None:
    secret = "sk-very-secret-key-0123"
    gone = dataclasses.replace(
        settings, api_key=secret, base_url="http://127.0.0.1:9/v1", retry=RetrySettings(attempts=1)
    )
    with pytest.raises(TransientProviderError) as caught:
        OpenAIPlanner(gone, sleep=lambda _: None).plan_beats("a fox", 20.0, None)
    text = str(caught.value)
    assert text.startswith("openai: cannot connect to http://127.0.0.1:9/v1/chat/completions")
    assert "\n" not in text and secret not in text


# -- the fake refuses what the real API refuses --------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"model": "gpt-image-9"}, 404, None),
        ({"model": "gpt-image-1"}, 404, None),  # shut down 2026-10-23
        ({"size": "1536x864"}, 400, "size"),  # only gpt-image-2 and later take any size
        ({"model": "gpt-image-2", "size": "1000x1000"}, 400, "size"),  # not divisible by 16
        ({"n": 0}, 400, "n"),
        ({"n": 11}, 400, "n"),
        ({"quality": "xhigh"}, 400, "quality"),  # gpt-image-2.5 models only
        ({"quality": "hd"}, 400, "quality"),  # DALL-E's
    ],
)
def test_the_fake_refuses_image_requests_the_api_refuses(openai_server, change, status, param):
    client = openai.OpenAI(
        api_key=openai_server.api_key, base_url=f"{openai_server.url}/v1", max_retries=0
    )
    body = {"model": "gpt-image-1.5", "prompt": "a fox", "size": "1536x1024"} | change
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(**body)
    assert caught.value.status_code == status
    error = caught.value.body
    assert isinstance(error, dict) and error.get("param") == param
    if status == 404:
        assert error["code"] == "model_not_found"


def test_the_fake_accepts_a_flexible_size_on_a_model_that_makes_one(openai_server) -> None:
    client = openai.OpenAI(
        api_key=openai_server.api_key, base_url=f"{openai_server.url}/v1", max_retries=0
    )
    result = client.images.generate(model="gpt-image-2", prompt="a fox", size="1536x864")
    assert base64.b64decode(result.data[0].b64_json)[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_fake_refuses_an_unknown_chat_model(openai_server, settings) -> None:
    client = openai.OpenAI(
        api_key=openai_server.api_key, base_url=f"{openai_server.url}/v1", max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert openai_server.count(*CHAT.split(" ", 1)) == 1
