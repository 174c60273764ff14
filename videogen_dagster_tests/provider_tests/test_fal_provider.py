"""The fal backend through the real ``fal-client`` against our fake queue on 127.0.0.1 (https).

What a paid clip must guarantee: the request checked before paying, the request id journalled
the moment fal answers, a journalled request polled again instead of submitted again, queue time
not counted as a stuck job, a refusal that names the refused input, prices from the table.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from PIL import Image

from videogen_dagster.generation import Generator, RefusedInputError, StoreJobJournal
from videogen_dagster.media import probe_bytes
from videogen_dagster.providers.base import ClipRequest, Size, request_fingerprint
from videogen_dagster.providers.errors import (
    PermanentProviderError,
    TransientProviderError,
    UnsupportedRequestError,
)
from videogen_dagster.providers.fal_provider import FalClips
from videogen_dagster.providers.registry import build_provider
from videogen_dagster.store.local import LocalStore

LANDSCAPE = Size(1280, 720)


def start_image(size: Size = LANDSCAPE) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size.width, size.height), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def clip_request(duration: float = 4.0, size: Size = LANDSCAPE) -> ClipRequest:
    return ClipRequest(
        start_image=start_image(size),
        prompt="Lanterns rise over the harbour",
        size=size,
        fps=24,
        duration=duration,
        seed=11,
        style="ink wash",
    )


def test_a_clip_is_submitted_polled_and_downloaded_at_the_model_price(fal_server, fal_settings):
    clips = FalClips(fal_settings)
    generated = clips.generate_clip(clip_request(6.0))
    info = probe_bytes(generated.data, ".mp4")
    assert (info.width, info.height) == (1280, 720)
    assert info.duration == pytest.approx(6.0, abs=0.05)
    assert generated.cost == pytest.approx(0.60)  # veo3.1_fast: $0.10 per second, no audio
    assert generated.job_id in fal_server.requests_by_id
    [submit] = [r for r in fal_server.requests if r.method == "POST"]
    assert submit.path == "/fal-ai/veo3.1/fast/image-to-video"
    body = submit.json()
    assert body["duration"] == "6s" and body["aspect_ratio"] == "16:9"
    assert body["generate_audio"] is False and body["resolution"] == "720p"
    assert body["prompt"] == "Lanterns rise over the harbour. Style: ink wash"
    assert body["image_url"].startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("duration", "size", "refused"),
    [(5.0, Size(1280, 720), "not 5 s"), (4.0, Size(960, 960), "cannot make a 960x960 clip")],
)
def test_a_length_or_size_the_model_cannot_make_is_refused_before_any_call(
    fal_server, fal_settings, duration, size, refused
):
    with pytest.raises(UnsupportedRequestError, match=refused):
        FalClips(fal_settings).generate_clip(clip_request(duration, size))
    assert fal_server.requests == []


def test_an_unknown_model_names_the_choices(fal_settings):
    with pytest.raises(ValueError, match="veo3.1_fast"):
        replace(fal_settings, model="sora-2")


def test_the_request_id_is_journalled_at_once_and_a_journalled_request_is_polled_again(
    fal_server, fal_settings, tmp_path
):
    store = LocalStore(tmp_path)
    clips = FalClips(fal_settings)
    request = clip_request()
    journal = StoreJobJournal(store, request_fingerprint(clips, request))
    fal_server.polls_before_done = 10**9  # still working when this attempt gives up
    with pytest.raises(TransientProviderError, match="still"):
        FalClips(replace(fal_settings, poll_timeout=0.05)).generate_clip(request, journal)
    journalled = journal.lookup()
    assert journalled in fal_server.requests_by_id

    fal_server.polls_before_done = 0
    generated = clips.generate_clip(request, journal)
    assert generated.job_id == journalled
    assert fal_server.submits() == 1  # polled again, never submitted twice


def test_queue_time_does_not_count_against_the_poll_timeout(fal_server, fal_settings):
    fal_server.queued_polls = 30  # 30 polls x 10 ms queued, far over a 50 ms poll_timeout
    clips = FalClips(replace(fal_settings, poll_timeout=0.05))
    generated = clips.generate_clip(clip_request())
    assert generated.details["queued_seconds"] > 0.05
    assert fal_server.submits() == 1


@pytest.mark.parametrize(("field_name", "kind"), [("prompt", "prompt"), ("image_url", "image")])
def test_a_refusal_names_the_refused_input_and_is_not_retried(
    fal_server, fal_settings, tmp_path, field_name, kind
):
    fal_server.refuse_next(field_name)
    generator = Generator(build_provider(clips="fal", fal=fal_settings), LocalStore(tmp_path), "v")
    request = clip_request()
    with pytest.raises(RefusedInputError) as refused:
        generator.clip(request, label="beat 0 chunk 0", beat_index=0, start_image_uri="s.png")
    assert refused.value.input_kind == kind
    assert "content_policy_violation" in str(refused.value)
    assert fal_server.submits() == 1
    # The refused request cannot deliver: its id leaves the journal, so an edit starts afresh.
    fingerprint = request_fingerprint(generator.provider.clips, request)
    assert StoreJobJournal(LocalStore(tmp_path), fingerprint).lookup() is None


def test_a_server_error_is_retried_and_a_bad_key_is_not(fal_server, fal_settings):
    from videogen_dagster_tests.fakes.server import http_fault

    fal_server.inject("POST submit", http_fault(503, "upstream unavailable"))
    generated = FalClips(fal_settings).generate_clip(clip_request())
    assert generated.job_id and fal_server.submits() == 2

    with pytest.raises(Exception, match="check FAL_KEY") as refused:
        FalClips(replace(fal_settings, api_key="wrong")).generate_clip(clip_request())
    assert not isinstance(refused.value, TransientProviderError | PermanentProviderError)


def test_the_ledger_is_charged_the_table_price_once(fal_server, fal_settings, tmp_path):
    store = LocalStore(tmp_path)
    generator = Generator(build_provider(clips="fal", fal=fal_settings), store, "v")
    first = generator.clip(clip_request(8.0), label="beat 0 chunk 0")
    again = generator.clip(clip_request(8.0), label="beat 0 chunk 0")
    assert (first.cost, again.cost, again.cache_hit) == (pytest.approx(0.8), 0.0, True)
    lines = [json.loads(line) for line in (tmp_path / "v" / "costs.jsonl").read_text().splitlines()]
    assert [(line["provider"], line["cost"]) for line in lines] == [("fal", pytest.approx(0.8))]


def test_fals_own_failure_is_retried_with_a_new_request_and_charged_once(
    fal_server, fal_settings, tmp_path
):
    fal_server.fail_next(500, "downstream_service_error")
    store = LocalStore(tmp_path)
    generator = Generator(build_provider(clips="fal", fal=fal_settings), store, "v")
    request = clip_request()
    result = generator.clip(request, label="beat 0 chunk 0")
    assert fal_server.submits() == 2  # the failed request is not polled forever
    assert result.job_id == list(fal_server.requests_by_id)[-1]
    fingerprint = request_fingerprint(generator.provider.clips, request)
    assert StoreJobJournal(store, fingerprint).lookup() is None
    assert len((tmp_path / "v" / "costs.jsonl").read_text().splitlines()) == 1
