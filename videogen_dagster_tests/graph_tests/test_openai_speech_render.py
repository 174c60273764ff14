"""Narration spoken by OpenAI's ``audio.speech`` through the real ``openai`` client, against
our fake on 127.0.0.1: paid once, ledgered, and found in the cache on the next render ($0)."""

from __future__ import annotations

import json

import pytest

from videogen_dagster.media.captions import subtitle_tracks
from videogen_dagster.providers.base import SpeechRequest
from videogen_dagster.providers.errors import PermanentProviderError
from videogen_dagster.providers.openai_provider import DEFAULT_SPEECH_PRICES, OpenAISpeech
from videogen_dagster.store import layout
from videogen_dagster_tests.fakes.openai_server import SPEECH, SPEECH_CHARACTERS_PER_SECOND
from videogen_dagster_tests.graph_tests.support import execute, register, write_spec

SPEC = """\
duration: 10
fps: 8
music: false
narration: {voice: nova}
beats:
  - description: A fox at the river
    narration: The fox stops at the frozen river.
  - description: The fox crosses
    narration: It crosses carefully. The ice holds.
"""


def test_openai_narration_is_paid_once_then_served_from_the_cache(
    instance, tmp_path, openai_server
):
    store_root = tmp_path / "store"
    video_id = register(instance, store_root, write_spec(tmp_path, "fox.yaml", SPEC))
    openai = {"api_key": openai_server.api_key, "base_url": f"{openai_server.url}/v1"}

    assert execute(instance, store_root, video_id, speech="openai", openai=openai).success
    spoken = [r for r in openai_server.requests if f"{r.method} {r.path}" == SPEECH]
    assert sorted(r.json()["input"] for r in spoken) == [
        "It crosses carefully. The ice holds.",
        "The fox stops at the frozen river.",
    ]
    assert {(r.json()["voice"], r.json()["response_format"]) for r in spoken} == {("nova", "wav")}

    manifest = json.loads((store_root / layout.manifest(video_id)).read_text())
    price = DEFAULT_SPEECH_PRICES["gpt-4o-mini-tts-2025-12-15"].per_second
    for entry in manifest["narration"]:
        seconds = len(entry["text"]) / SPEECH_CHARACTERS_PER_SECOND
        assert entry["provider"] == "openai"
        assert entry["cost"] == pytest.approx(seconds * price, rel=0.01)
    assert manifest["total_cost"] == pytest.approx(
        sum(e["cost"] for e in manifest["narration"]), abs=1e-6
    )
    ledger = (store_root / layout.cost_ledger(video_id)).read_text().splitlines()
    assert sorted(json.loads(line)["what"] for line in ledger) == [
        "beats[0] narration",
        "beats[1] narration",
    ]
    # No word timings from OpenAI: cues spread by characters, one per sentence.
    assert manifest["captions"]["cue_count"] == 3
    assert subtitle_tracks(store_root / layout.final_video(video_id)) == [("mov_text", "und")]

    assert execute(instance, store_root, video_id, speech="openai", openai=openai).success
    again = json.loads((store_root / layout.manifest(video_id)).read_text())
    assert again["total_cost"] == 0.0
    assert all(entry["cache_hit"] for entry in again["narration"])
    assert len([r for r in openai_server.requests if f"{r.method} {r.path}" == SPEECH]) == 2


def test_an_unknown_openai_voice_is_refused_naming_the_input(openai_settings):
    speech = OpenAISpeech(openai_settings)
    with pytest.raises(PermanentProviderError, match="voice"):
        speech.generate_speech(SpeechRequest("Hello.", voice="robot", speed=1.0))


def test_the_openai_planner_writes_narration_sized_to_each_beat(openai_settings, openai_server):
    from videogen_dagster.domain.local_beat_planner import WORDS_PER_SECOND
    from videogen_dagster.providers.openai_provider import OpenAIPlanner

    openai_server.numbers = [2.0, 3.0, 5.0]
    beats = OpenAIPlanner(openai_settings).plan_beats("A fox crosses a frozen river", 10, None)
    chat = next(r for r in openai_server.requests if r.path == "/v1/chat/completions")
    schema = chat.json()["response_format"]["json_schema"]["schema"]
    assert "narration" in json.dumps(schema)
    assert "words per second" in chat.json()["messages"][0]["content"]
    assert all(beat.narration for beat in beats)
    assert all(
        len(beat.narration.split()) <= max(1, beat.duration * WORDS_PER_SECOND) for beat in beats
    )
