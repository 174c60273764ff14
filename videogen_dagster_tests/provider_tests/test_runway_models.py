"""Runway's models as the API takes them today, through the real ``runwayml`` client.

What matters to a user paying per second: each model is asked only for what it can make (and
refused before anything is paid otherwise), a throttled task waits in Runway's queue without
failing or burning a retry, Runway's outages are retried while a moderation refusal is not,
and the fake refuses whatever the real API would, so a client bug cannot pass unseen.
"""

from __future__ import annotations

import dataclasses

import pytest
import runwayml

from videogen_dagster.generation import Generator, RefusedInputError
from videogen_dagster.media import probe_bytes
from videogen_dagster.providers.base import ClipRequest, Size
from videogen_dagster.providers.clip_models import (
    RUNWAY_CLIP_MODELS,
    UnknownClipModelError,
    clip_model,
    truncate_utf16,
    utf16_length,
)
from videogen_dagster.providers.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UnsupportedRequestError,
)
from videogen_dagster.providers.notices import notices_to
from videogen_dagster.providers.registry import build_provider
from videogen_dagster.providers.retry import RetrySettings
from videogen_dagster.providers.runway_provider import RunwayClips, RunwaySettings
from videogen_dagster.store.local import LocalStore
from videogen_dagster_tests.fakes.openai_server import fake_png
from videogen_dagster_tests.fakes.runway_server import API_VERSION, CREATE, runway_fault
from videogen_dagster_tests.provider_tests.test_runway_provider import MemoryJournal


def _request(size: Size, duration: float, prompt: str = "the fox runs", seed: int = 7):
    return ClipRequest(
        start_image=fake_png(size.width, size.height, "start"),
        prompt=prompt,
        size=size,
        fps=24,
        duration=duration,
        seed=seed,
    )


def _clips(settings: RunwaySettings, fake_clock, **changes) -> RunwayClips:
    settings = dataclasses.replace(settings, retry=RetrySettings(), **changes)
    return RunwayClips(settings, sleep=fake_clock.sleep, clock=fake_clock.now)


# -- the table and refusals before paying -----------------------------------------------------


def test_a_model_that_cannot_make_the_ratio_is_refused_before_any_call(
    runway_server, runway_settings, fake_clock
) -> None:
    veo = _clips(runway_settings, fake_clock, model="veo3.1")
    with pytest.raises(UnsupportedRequestError, match=r"veo3\.1.*'1:1'.*16:9, 9:16"):
        veo.size_for("1:1")
    with pytest.raises(UnsupportedRequestError, match="960x960"):
        veo.generate_clip(_request(Size(960, 960), 4.0), MemoryJournal())
    with pytest.raises(UnsupportedRequestError, match="4, 6, 8"):
        veo.generate_clip(_request(Size(1280, 720), 5.0), MemoryJournal())
    assert runway_server.requests == []


def test_clips_model_chooses_the_model_the_run_plans_for(runway_server) -> None:
    from videogen_dagster.defs.resources import GenerationResource, RunwayConfig

    generation = GenerationResource(
        clips="runway",
        clips_model="veo3.1_fast",
        runway=RunwayConfig(api_key=runway_server.api_key, base_url=runway_server.url),
    )
    provider = generation.provider()
    assert provider.clips.model == "veo3.1_fast"
    assert provider.clip_lengths == (4.0, 6.0, 8.0)
    with pytest.raises(UnsupportedRequestError, match="'1:1'"):
        provider.size_for("1:1")
    assert runway_server.requests == []


def test_the_clips_model_setting_refuses_an_unknown_model_naming_the_choices() -> None:
    with pytest.raises(ValueError, match=r"clips_model.*'gen3a_turbo'.*gen4\.5, gen4_turbo"):
        RunwaySettings(api_key="k", model="gen3a_turbo")
    with pytest.raises(UnknownClipModelError, match="veo3.1_fast"):
        clip_model("runway", "veo4")
    assert clip_model("runway").model == "gen4_turbo"


@pytest.mark.parametrize(
    ("model", "size", "seconds"),
    [
        ("gen4.5", Size(720, 1280), 2.0),
        ("veo3.1_fast", Size(1280, 720), 4.0),
        ("kling3.0_standard", Size(960, 960), 3.0),
        ("seedance2", Size(1280, 720), 4.0),
    ],
)
def test_each_model_gets_a_request_the_strict_fake_accepts(
    runway_server, runway_settings, fake_clock, model, size, seconds
) -> None:
    result = _clips(runway_settings, fake_clock, model=model).generate_clip(
        _request(size, seconds), MemoryJournal()
    )
    sent = runway_server.requests[0].json()
    assert sent["model"] == model and sent["duration"] == int(seconds)
    assert sent["ratio"] == f"{size.width}:{size.height}"
    assert ("seed" in sent) == RUNWAY_CLIP_MODELS[model].accepts_seed
    assert sent.get("audio") in (None, False)  # our music, never the model's paid audio
    info = probe_bytes(result.data, ".mp4")
    assert (info.width, info.height) == (size.width, size.height)
    assert info.frame_count == round(seconds * 24)
    table = RUNWAY_CLIP_MODELS[model]
    assert result.cost == pytest.approx(table.usd_per_second * seconds)
    # Runway's own estimate (credits at USD 0.01) agrees with our price table.
    assert result.details["estimated_credits"] * 0.01 == pytest.approx(result.cost)
    assert result.details["credits"] * 0.01 == pytest.approx(result.cost)


def test_runways_estimate_above_our_price_table_is_told(runway_server, runway_settings, fake_clock):
    notices: list[str] = []
    stale = _clips(runway_settings, fake_clock, price_per_second={"gen4_turbo": 0.01})
    with notices_to(notices.append):
        result = stale.generate_clip(_request(Size(1280, 720), 2.0), MemoryJournal())
    assert result.details["estimated_credits"] == 10
    assert any("Runway estimates 10 credits ($0.10), above our $0.02" in n for n in notices)


# -- what Runway counts: UTF-16 prompts, the seed range -----------------------------------------


def test_a_prompt_is_cut_in_utf16_code_units_and_the_fake_takes_it(
    runway_server, runway_settings, fake_clock
) -> None:
    prompt = "🦊" * 600  # 600 characters, 1200 UTF-16 code units
    notices: list[str] = []
    with notices_to(notices.append):
        _clips(runway_settings, fake_clock).generate_clip(
            _request(Size(1280, 720), 2.0, prompt=prompt), MemoryJournal()
        )
    sent = runway_server.requests[0].json()["promptText"]
    assert utf16_length(sent) == 1000 and sent == "🦊" * 500
    assert any("prompt cut to 1000 UTF-16 code units (it had 1200)" in n for n in notices)


def test_truncation_never_splits_a_surrogate_pair() -> None:
    assert truncate_utf16("a🦊b", 2) == "a"
    assert truncate_utf16("a🦊b", 3) == "a🦊"
    assert truncate_utf16("abc", 5) == "abc"


def test_a_large_seed_is_brought_into_runways_range(runway_server, runway_settings, fake_clock):
    _clips(runway_settings, fake_clock).generate_clip(
        _request(Size(1280, 720), 2.0, seed=2**40 + 5), MemoryJournal()
    )
    assert runway_server.requests[0].json()["seed"] == 5


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"duration": 5.9}, "duration"),
        ({"duration": 11}, "duration"),
        ({"seed": 2**32}, "seed"),
        ({"seed": -1}, "seed"),
        ({"prompt_text": "🦊" * 501}, "promptText"),
        ({"ratio": "1920:1080"}, "ratio"),
        ({"model": "gen3a_turbo"}, "model"),
    ],
    ids=["fractional", "too-long", "seed-high", "seed-negative", "prompt-utf16", "ratio", "model"],
)
def test_the_fake_refuses_what_the_real_api_refuses(runway_server, change, words) -> None:
    client = runwayml.RunwayML(
        api_key=runway_server.api_key, base_url=runway_server.url, max_retries=0
    )
    body = {
        "model": "gen4_turbo",
        "prompt_image": "data:image/png;base64,"
        + __import__("base64").b64encode(fake_png(64, 36, "x")).decode(),
        "prompt_text": "a fox",
        "ratio": "1280:720",
        "duration": 5,
        "seed": 1,
    } | change
    with pytest.raises(runwayml.BadRequestError) as caught:
        client.image_to_video.create(**body)
    assert isinstance(caught.value.body, dict) and words in caught.value.body["error"]
    assert runway_server.tasks == {}


def test_the_fake_checks_the_api_version_value(runway_server) -> None:
    stale = runwayml.RunwayML(
        api_key=runway_server.api_key,
        base_url=runway_server.url,
        max_retries=0,
        runway_version="2023-01-01",
    )
    with pytest.raises(runwayml.BadRequestError, match=API_VERSION):
        stale.tasks.retrieve("any")


# -- throttling ------------------------------------------------------------------------------


def test_a_throttled_task_waits_past_the_poll_timeout_and_succeeds_without_a_retry(
    runway_server, runway_settings, fake_clock
) -> None:
    runway_server.throttle_next_task(polls=10)  # 10 polls x 2 s queued, poll_timeout 3 s
    clips = _clips(runway_settings, fake_clock, poll_interval=2.0, poll_timeout=3.0)
    notices: list[str] = []
    with notices_to(notices.append):
        result = clips.generate_clip(_request(Size(1280, 720), 2.0), MemoryJournal())
    assert probe_bytes(result.data, ".mp4").frame_count == 48
    assert result.details["throttled_seconds"] == pytest.approx(20.0)
    assert runway_server.count("POST", "/v1/image_to_video") == 1
    assert any("is THROTTLED" in n and "poll_timeout" in n for n in notices)
    assert any("left the queue (PENDING) after 20 s" in n for n in notices)


def test_a_stuck_running_task_still_times_out(runway_server, runway_settings, fake_clock):
    runway_server.throttle_next_task(polls=3)
    runway_server.polls_before_done = 10
    clips = _clips(runway_settings, fake_clock, poll_interval=2.0, poll_timeout=3.0)
    with pytest.raises(TransientProviderError, match="still RUNNING after 3 s"):
        clips.generate_clip(_request(Size(1280, 720), 2.0), MemoryJournal())


def test_throttled_waiting_has_its_own_limit(runway_server, runway_settings, fake_clock):
    runway_server.throttle_next_task(polls=50)
    clips = _clips(
        runway_settings, fake_clock, poll_interval=2.0, poll_timeout=3.0, throttle_timeout=10.0
    )
    journal = MemoryJournal()
    with pytest.raises(TransientProviderError, match="still THROTTLED after 10 s"):
        clips.generate_clip(_request(Size(1280, 720), 2.0), journal)
    assert journal.lookup() is not None  # the next attempt resumes the queued task


def test_a_cancelled_task_ends_the_attempt_and_is_not_resumed(
    runway_server, runway_settings, fake_clock
):
    runway_server.cancel_next_task()
    journal = MemoryJournal()
    with pytest.raises(ProviderError, match="was cancelled") as caught:
        _clips(runway_settings, fake_clock).generate_clip(_request(Size(1280, 720), 2.0), journal)
    assert not isinstance(caught.value, TransientProviderError)  # not retried in the call
    assert journal.lookup() is None
    assert runway_server.count("POST", "/v1/image_to_video") == 1


# -- failure codes: whose fault ---------------------------------------------------------------


def _generator(runway_settings, tmp_path) -> Generator:
    settings = dataclasses.replace(runway_settings, retry=RetrySettings(attempts=2, base_delay=0))
    provider = build_provider(clips="runway", runway=settings)
    return Generator(provider, LocalStore(tmp_path / "store"), "fox", sleep=lambda _: None)


@pytest.mark.parametrize(
    "code",
    ["THIRD_PARTY.UNAVAILABLE", "INTERNAL.BAD_OUTPUT.CODE01", "INPUT_PREPROCESSING.INTERNAL", ""],
)
def test_an_outage_code_is_retried_with_a_new_task(runway_server, runway_settings, tmp_path, code):
    runway_server.fail_next_task(code or None)
    result = _generator(runway_settings, tmp_path).clip(
        _request(Size(1280, 720), 2.0), label="beat 0 chunk 0"
    )
    assert runway_server.count("POST", "/v1/image_to_video") == 2
    assert result.job_id == list(runway_server.tasks)[1]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("SAFETY.INPUT.TEXT", "prompt"),
        ("INPUT_PREPROCESSING.SAFETY.IMAGE", "image"),
        ("SAFETY.OUTPUT.VIDEO", "prompt or image"),
        ("ASSET.INVALID", "image"),
    ],
)
def test_a_users_input_code_is_not_retried(runway_server, runway_settings, tmp_path, code, kind):
    runway_server.fail_next_task(code)
    with pytest.raises(RefusedInputError) as caught:
        _generator(runway_settings, tmp_path).clip(
            _request(Size(1280, 720), 2.0), label="beat 0 chunk 0"
        )
    assert caught.value.input_kind == kind
    assert code in str(caught.value)
    if kind == "prompt or image":  # Runway does not say which: the message shows both
        assert "refused the prompt or image 'the fox runs' / " in str(caught.value)
    assert runway_server.count("POST", "/v1/image_to_video") == 1


def test_errors_come_back_in_runways_shape(runway_server, runway_settings, fake_clock) -> None:
    runway_server.inject(CREATE, runway_fault(400, "promptText: flagged by content moderation"))
    with pytest.raises(PermanentProviderError, match="moderation") as caught:
        _clips(runway_settings, fake_clock).generate_clip(
            _request(Size(1280, 720), 2.0), MemoryJournal()
        )
    assert "flagged by content moderation" in str(caught.value)


# -- pools -----------------------------------------------------------------------------------


def test_a_render_with_runway_clips_starts_the_clip_pool_at_runways_tier(monkeypatch):
    from videogen_dagster.commands import _paid_pool_limits

    monkeypatch.delenv("VIDEOGEN_CLIPS", raising=False)
    runway = {"resources": {"generation": {"config": {"clips": "runway"}}}}
    assert _paid_pool_limits(runway) == {"video_api": 2}
    assert _paid_pool_limits(None) == {}  # local clips: the instance's default
    monkeypatch.setenv("VIDEOGEN_CLIPS", "runway")
    assert _paid_pool_limits(None) == {"video_api": 2}


def test_a_connection_failure_names_the_url_and_never_the_key(runway_settings, fake_clock):
    secret = "key_very_secret_runway_0123"
    gone = dataclasses.replace(
        runway_settings,
        api_key=secret,
        base_url="http://127.0.0.1:9",
        retry=RetrySettings(attempts=1),
    )
    clips = RunwayClips(gone, sleep=fake_clock.sleep, clock=fake_clock.now)
    with pytest.raises(TransientProviderError) as caught:
        clips.generate_clip(_request(Size(1280, 720), 2.0), MemoryJournal())
    text = str(caught.value)
    assert text.startswith("runway: cannot connect to http://127.0.0.1:9/v1/image_to_video")
    assert "\n" not in text and secret not in text
