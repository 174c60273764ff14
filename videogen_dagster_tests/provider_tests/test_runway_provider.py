"""Runway clips through the real ``runwayml`` client against the fake on loopback.

What matters to a user paying per second: nothing is sent for a request the model cannot
make, a submitted job is recorded before anything else can go wrong and is resumed (not paid
again) after a kill, clips are checked before use, refusals name the input and are not
retried, and transient trouble is retried within limits.
"""

from __future__ import annotations

import dataclasses

import pytest

from videogen_dagster.media import probe_bytes
from videogen_dagster.providers.base import ClipRequest, Size
from videogen_dagster.providers.errors import (
    CorruptMediaError,
    PermanentProviderError,
    TransientProviderError,
    UnsupportedRequestError,
)
from videogen_dagster.providers.retry import RetrySettings
from videogen_dagster.providers.runway_provider import RunwayClips, RunwaySettings
from videogen_dagster_tests.fakes.openai_server import fake_png
from videogen_dagster_tests.fakes.runway_server import CREATE, OUTPUT, RETRIEVE, runway_fault
from videogen_dagster_tests.fakes.server import http_fault, timeout_fault

HD = Size(1280, 720)


class Killed(BaseException):
    """Stands in for kill -9: nothing after it runs, no ``except Exception`` catches it."""


class MemoryJournal:
    """A job journal in memory; optionally dies right after recording, like a killed step."""

    def __init__(self, job_id: str | None = None, *, die_after_record: bool = False) -> None:
        self.job_id = job_id
        self.die_after_record = die_after_record
        self.recorded: list[str] = []

    def lookup(self) -> str | None:
        return self.job_id

    def record(self, job_id: str) -> None:
        self.job_id = job_id
        self.recorded.append(job_id)
        if self.die_after_record:
            raise Killed(job_id)

    def clear(self) -> None:
        self.job_id = None


@pytest.fixture
def settings(runway_settings: RunwaySettings) -> RunwaySettings:
    """The fake's settings with the production retry policy (the fake clock makes it instant)."""
    return dataclasses.replace(runway_settings, retry=RetrySettings())


@pytest.fixture
def clips(settings: RunwaySettings, fake_clock) -> RunwayClips:
    return RunwayClips(settings, sleep=fake_clock.sleep, clock=fake_clock.now)


def _request(size: Size = HD, duration: float = 5.0, start: bytes | None = None) -> ClipRequest:
    return ClipRequest(
        start_image=start or fake_png(size.width, size.height, "start"),
        prompt="the fox runs",
        size=size,
        fps=24,
        duration=duration,
        seed=7,
        style="watercolour",
    )


def test_sizes_and_lengths_follow_the_model(clips: RunwayClips) -> None:
    assert clips.clip_lengths == tuple(float(s) for s in range(2, 11))  # gen4_turbo: 2-10 s
    assert clips.size_for("16:9") == Size(1280, 720)
    assert clips.size_for("9:16") == Size(720, 1280)
    assert clips.size_for("1:1") == Size(960, 960)
    with pytest.raises(UnsupportedRequestError, match="4:5"):
        clips.size_for("4:5")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "request_",
    [_request(size=Size(256, 144)), _request(duration=5.9), _request(duration=11.0)],
    ids=["size", "fractional-length", "too-long"],
)
def test_unsupported_requests_fail_before_any_call(runway_server, clips, request_) -> None:
    with pytest.raises(UnsupportedRequestError):
        clips.generate_clip(request_, MemoryJournal())
    assert runway_server.requests == []


def test_clip_lifecycle_records_the_job_before_it_completes(runway_server, clips) -> None:
    states_at_record: list[int] = []

    class WatchingJournal(MemoryJournal):
        def record(self, job_id: str) -> None:
            states_at_record.append(runway_server.tasks[job_id].polls)
            super().record(job_id)

    journal = WatchingJournal()
    # A start image of another size is brought to the clip size before upload.
    result = clips.generate_clip(_request(start=fake_png(640, 480, "start")), journal)

    assert states_at_record == [0]  # recorded before the first poll
    assert result.job_id == journal.recorded[0]
    assert runway_server.received_image_sizes == [(1280, 720)]
    info = probe_bytes(result.data, ".mp4")
    assert (info.width, info.height) == (1280, 720)
    assert info.duration == pytest.approx(5.0, abs=0.05)
    assert info.frame_count == 120
    assert result.media_type == "video/mp4" and result.provider == "runway"
    assert result.cost == pytest.approx(0.05 * 5)  # gen4_turbo: 5 credits/s at USD 0.01
    assert result.details["credits"] == 25
    sent = runway_server.requests[0].json()
    assert sent["ratio"] == "1280:720" and sent["duration"] == 5 and sent["seed"] == 7
    assert sent["model"] == "gen4_turbo" and "watercolour" in sent["promptText"]
    assert runway_server.count("POST", "/v1/image_to_video") == 1
    assert runway_server.count("GET", "/v1/tasks/") == 3  # PENDING, RUNNING, SUCCEEDED
    assert runway_server.count("GET", "/outputs/") == 1


def test_a_killed_step_resumes_the_recorded_job_without_paying_again(
    runway_server, settings, fake_clock
) -> None:
    journal = MemoryJournal(die_after_record=True)
    with pytest.raises(Killed):
        RunwayClips(settings, sleep=fake_clock.sleep).generate_clip(_request(), journal)
    assert journal.lookup() is not None

    journal.die_after_record = False
    restarted = RunwayClips(settings, sleep=fake_clock.sleep)  # a new process, a new client
    result = restarted.generate_clip(_request(), journal)

    assert result.job_id == journal.recorded[0]
    assert runway_server.count("POST", "/v1/image_to_video") == 1
    assert probe_bytes(result.data, ".mp4").frame_count == 120


def test_poll_timeout_keeps_the_job_for_the_next_attempt(runway_server, settings, fake_clock):
    runway_server.polls_before_done = 5
    impatient = dataclasses.replace(settings, poll_interval=2.0, poll_timeout=3.0)
    journal = MemoryJournal()
    clips = RunwayClips(impatient, sleep=fake_clock.sleep, clock=fake_clock.now)
    with pytest.raises(TransientProviderError, match="still RUNNING") as caught:
        clips.generate_clip(_request(), journal)
    assert journal.recorded[0] in str(caught.value)
    assert journal.lookup() == journal.recorded[0]
    assert fake_clock.sleeps == [2.0, 2.0]

    result = clips.generate_clip(_request(), journal)
    assert result.job_id == journal.recorded[0]
    assert runway_server.count("POST", "/v1/image_to_video") == 1


@pytest.mark.parametrize("journal_id", ["gone-task-id", "failed"])
def test_a_journal_job_that_cannot_deliver_is_submitted_anew(
    runway_server, clips, journal_id
) -> None:
    if journal_id == "failed":
        runway_server.fail_next_task("INTERNAL.BAD_OUTPUT.CODE01")
        with pytest.raises(TransientProviderError):
            clips.generate_clip(_request(), MemoryJournal())
        journal_id = next(iter(runway_server.tasks))
    journal = MemoryJournal(journal_id)
    submitted_before = runway_server.count("POST", "/v1/image_to_video")

    result = clips.generate_clip(_request(), journal)
    assert result.job_id != journal_id
    assert runway_server.count("POST", "/v1/image_to_video") == submitted_before + 1


def test_rate_limit_on_submit_honours_retry_after(runway_server, clips, fake_clock) -> None:
    runway_server.inject(CREATE, runway_fault(429, "Too many requests", retry_after=3))
    runway_server.inject(RETRIEVE, runway_fault(500), runway_fault(503))
    clips.generate_clip(_request(), MemoryJournal())
    assert fake_clock.sleeps[0] == 3.0
    assert len(fake_clock.sleeps) == 3 + 2  # the 429, two 5xx, then two poll intervals
    assert runway_server.count("POST", "/v1/image_to_video") == 2
    assert len(runway_server.tasks) == 1  # the 429 created nothing: one job paid


def test_submit_timeout_is_retried(runway_server, settings, fake_clock) -> None:
    clips = RunwayClips(dataclasses.replace(settings, request_timeout=0.3), sleep=fake_clock.sleep)
    runway_server.inject(CREATE, timeout_fault(1.0))
    result = clips.generate_clip(_request(), MemoryJournal())
    assert result.job_id in runway_server.tasks


@pytest.mark.parametrize(
    ("code", "kind"), [("SAFETY.INPUT.IMAGE", "image"), ("SAFETY.INPUT.TEXT", "prompt")]
)
def test_moderation_is_not_retried_and_names_the_input(runway_server, clips, code, kind):
    runway_server.fail_next_task(code)
    journal = MemoryJournal()
    with pytest.raises(PermanentProviderError, match="moderation") as caught:
        clips.generate_clip(_request(), journal)
    assert caught.value.input_kind == kind
    assert code in str(caught.value)
    assert runway_server.count("POST", "/v1/image_to_video") == 1
    assert journal.lookup() is None


def test_invalid_input_on_submit_is_permanent(runway_server, clips) -> None:
    runway_server.inject(CREATE, runway_fault(400, "promptText: flagged by content moderation"))
    with pytest.raises(PermanentProviderError, match="moderation"):
        clips.generate_clip(_request(), MemoryJournal())
    assert runway_server.count("POST", "/v1/image_to_video") == 1


@pytest.mark.parametrize("how", ["truncate", "short", "empty"])
def test_corrupt_clip_is_detected_and_the_next_attempt_pays_a_new_job(
    runway_server, clips, how
) -> None:
    runway_server.corrupt_next_output(how)
    journal = MemoryJournal()
    with pytest.raises(CorruptMediaError):
        clips.generate_clip(_request(), journal)
    assert runway_server.count("GET", "/outputs/") == clips.settings.retry.attempts
    assert journal.lookup() is None

    result = clips.generate_clip(_request(), journal)
    assert probe_bytes(result.data, ".mp4").frame_count == 120
    assert runway_server.count("POST", "/v1/image_to_video") == 2


def test_a_failed_download_is_retried_with_fresh_urls(runway_server, clips) -> None:
    runway_server.inject(OUTPUT, http_fault(403, "expired"))
    result = clips.generate_clip(_request(), MemoryJournal())
    assert probe_bytes(result.data, ".mp4").frame_count == 120
    assert runway_server.count("GET", "/outputs/") == 2
    assert runway_server.count("GET", "/v1/tasks/") == 4  # 3 polls + one for fresh URLs


def test_cost_follows_the_configured_price_table(runway_server, settings, fake_clock) -> None:
    priced = dataclasses.replace(settings, price_per_second={"gen4_turbo": 0.1})
    result = RunwayClips(priced, sleep=fake_clock.sleep).generate_clip(
        _request(size=Size(960, 960), start=fake_png(960, 960, "sq")), MemoryJournal()
    )
    assert result.cost == pytest.approx(0.5)
    info = probe_bytes(result.data, ".mp4")
    assert (info.width, info.height, info.frame_count) == (960, 960, 120)


def test_settings_refuse_unknown_models_and_missing_prices() -> None:
    with pytest.raises(ValueError, match="gen3"):
        RunwaySettings(api_key="k", model="gen3")
    with pytest.raises(ValueError, match="price_per_second"):
        RunwaySettings(api_key="k", model="gen4.5", price_per_second={"gen4_turbo": 0.05})
    assert "secret-key" not in repr(RunwaySettings(api_key="secret-key"))
