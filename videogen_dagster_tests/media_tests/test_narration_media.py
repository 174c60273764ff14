"""Mixing narration over music and drawing captions, measured on the files made.

The music here is a 60 Hz tone: a voice has almost nothing at 60 Hz, so the tone's amplitude,
measured by projecting each window onto 60 Hz, is the music's level whether or not someone
speaks over it.
"""

from __future__ import annotations

from pathlib import Path

import av
import ffmpeg
import numpy as np
import pytest

from videogen_dagster.domain.captions import Cue, to_srt
from videogen_dagster.media.audio import MIX_RATE, decode_audio, decode_audio_bytes
from videogen_dagster.media.captions import (
    CaptionLook,
    burn_captions,
    mux_final,
    render_cue,
    subtitle_tracks,
)
from videogen_dagster.media.encode import encode_pcm_to_m4a
from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.ffmpeg import run
from videogen_dagster.media.mix import MixSettings, PlacedSpeech, integrated_loudness, mix_narration
from videogen_dagster.providers.base import SpeechRequest
from videogen_dagster.providers.local_speech import LocalSpeech

TONE_HZ = 60


def _tone_db(samples: np.ndarray, start: float, seconds: float = 0.5) -> float:
    window = samples[round(start * MIX_RATE) : round((start + seconds) * MIX_RATE)]
    phase = 2 * np.pi * TONE_HZ * np.arange(window.size) / MIX_RATE
    amplitude = 2 * np.hypot(window @ np.cos(phase), window @ np.sin(phase)) / window.size
    return 20 * np.log10(amplitude)


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    request = SpeechRequest("The lamp is lit at dusk. The keeper climbs.", "en-us", 1.0)
    return decode_audio_bytes(LocalSpeech().generate_speech(request).data, ".wav")


def test_music_is_ducked_under_speech_and_the_mix_is_levelled(tmp_path, voice):
    seconds = 12
    tone = 0.3 * np.sin(2 * np.pi * TONE_HZ * np.arange(seconds * MIX_RATE) / MIX_RATE)
    music = tmp_path / "tone.m4a"
    encode_pcm_to_m4a(tone.astype(np.float32)[:, None], music, sample_rate=MIX_RATE)
    out = tmp_path / "mix.m4a"
    settings = MixSettings()
    mix_narration(seconds, [PlacedSpeech(1.0, voice), PlacedSpeech(7.0, voice)], music, out)

    mixed = decode_audio(out)
    assert abs(mixed.size - seconds * MIX_RATE) < MIX_RATE // 20
    spoken = voice.size / MIX_RATE
    under = [_tone_db(mixed, 1.0 + spoken / 2), _tone_db(mixed, 7.0 + spoken / 2)]
    between = [_tone_db(mixed, 0.1), _tone_db(mixed, 5.5), _tone_db(mixed, 11.2)]
    duck = np.mean(under) - np.mean(between)
    assert duck == pytest.approx(settings.duck_db, abs=1.0)
    assert integrated_loudness(out, raw=False) == pytest.approx(-16, abs=1.0)
    assert float(np.abs(mixed).max()) < 10 ** (-0.5 / 20)


def test_narration_alone_is_mixed_without_music(tmp_path, voice):
    out = tmp_path / "voice.m4a"
    mix_narration(4, [PlacedSpeech(0.5, voice)], None, out)
    mixed = decode_audio(out)
    assert float(np.abs(mixed[: MIX_RATE // 4]).max()) < 1e-3  # silent before the voice
    assert float(np.abs(mixed[MIX_RATE : 2 * MIX_RATE]).max()) > 0.1


def _plain_video(path: Path, size: str) -> Path:
    source = ffmpeg.input(f"color=c=gray:s={size}:r=8:d=3", f="lavfi")
    run(source.output(str(path), pix_fmt="yuv420p", vcodec="libx264"), what="make a test video")
    return path


def _frame(path: Path, at: float) -> np.ndarray:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time >= at:
                return frame.to_ndarray(format="rgb24").astype(int)
    raise AssertionError(f"no frame at {at} s in {path}")


@pytest.mark.parametrize("size", ["256x144", "144x256", "144x144"])
def test_burned_captions_are_inside_the_safe_area_only_while_their_cue_lasts(tmp_path, size):
    plain = _plain_video(tmp_path / "plain.mp4", size)
    burned = tmp_path / "burned.mp4"
    cues = [Cue(0.5, 1.5, "Boats rest in the quiet harbour at dawn, waiting for the tide.")]
    burn_captions(plain, cues, burned, CaptionLook(color="#FFFF00"))

    during = np.abs(_frame(burned, 1.0) - _frame(plain, 1.0)).sum(axis=2) > 60
    height, width = during.shape
    rows, cols = np.nonzero(during)
    assert rows.size > 100
    assert rows.min() >= 0.85 * height - 1
    assert cols.min() >= 0.05 * width - 1 and cols.max() <= 0.95 * width + 1
    after = np.abs(_frame(burned, 2.5) - _frame(plain, 2.5)).sum(axis=2) > 60
    assert not after.any()


def test_a_caption_the_font_cannot_draw_is_refused():
    with pytest.raises(MediaError, match="cannot draw"):
        render_cue("Hello 世界", 256, 144, CaptionLook())


def test_the_soft_subtitle_track_holds_the_srt_cues_with_their_language(tmp_path, voice):
    plain = _plain_video(tmp_path / "plain.mp4", "256x144")
    srt = tmp_path / "captions.srt"
    cues = [Cue(0.25, 1.0, "First line."), Cue(1.5, 2.75, "Café, second.")]
    srt.write_text(to_srt(cues))
    out = tmp_path / "final.mp4"
    mux_final(plain, out, subtitles=srt, language="fra")
    assert subtitle_tracks(out) == [("mov_text", "fra")]
    with av.open(str(out)) as container:
        stream = container.streams.subtitles[0]
        got = [
            (float(p.pts * stream.time_base), bytes(p)[2:].decode())
            for p in container.demux(stream)
            if p.size and bytes(p)[2:]
        ]
    assert got == [(0.25, "First line."), (1.5, "Café, second.")]
