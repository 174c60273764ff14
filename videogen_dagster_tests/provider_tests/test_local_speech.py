"""The offline voice: real eSpeak NG speech from the pip wheel, the same bytes every time."""

from __future__ import annotations

import pytest

from videogen_dagster.media.audio import MIX_RATE, decode_audio_bytes
from videogen_dagster.providers.base import SpeechRequest
from videogen_dagster.providers.errors import UnsupportedRequestError
from videogen_dagster.providers.local_speech import LocalSpeech

TEXT = "The keeper lights the lamp. Night is coming."


def test_speech_is_real_audio_with_word_timings_and_the_same_bytes_every_time():
    speech = LocalSpeech()
    first = speech.generate_speech(SpeechRequest(TEXT, "en-us", 1.0))
    second = speech.generate_speech(SpeechRequest(TEXT, "en-us", 1.0))
    assert first.data == second.data
    assert first.media_type == "audio/wav" and first.cost == 0.0
    samples = decode_audio_bytes(first.data, ".wav")
    assert 1.5 < samples.size / MIX_RATE < 5.0
    assert float(abs(samples).max()) > 0.1
    words = first.details["words"]
    assert [position for position, _ in words] == [0, 4, 11, 18, 22, 28, 34, 37]
    times = [seconds for _, seconds in words]
    assert times == sorted(times) and times[0] == 0.0 and times[-1] < samples.size / MIX_RATE


def test_speed_and_voice_change_the_speech():
    speech = LocalSpeech()
    normal = speech.generate_speech(SpeechRequest(TEXT, "en-us", 1.0)).data
    fast = speech.generate_speech(SpeechRequest(TEXT, "en-us", 1.5)).data
    british = speech.generate_speech(SpeechRequest(TEXT, "en-gb", 1.0)).data
    assert len(fast) < len(normal) * 0.8
    assert british != normal


def test_price_per_character_is_charged_and_estimated():
    speech = LocalSpeech(price_per_character=0.001)
    request = SpeechRequest(TEXT, "en-us", 1.0)
    assert speech.estimate_cost(request) == pytest.approx(len(TEXT) * 0.001)
    assert speech.generate_speech(request).cost == pytest.approx(len(TEXT) * 0.001)


def test_an_unknown_voice_is_refused_before_anything_is_made():
    with pytest.raises(UnsupportedRequestError, match="no voice 'nope'"):
        LocalSpeech().generate_speech(SpeechRequest(TEXT, "nope", 1.0))
