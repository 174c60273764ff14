"""Laying music under a video: right length, faded, lowered, and the picture untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from videogen_dagster.media import (
    MediaError,
    add_soundtrack,
    mux_soundtrack,
    prepare_soundtrack,
    probe,
)
from videogen_dagster.providers.base import MusicRequest
from videogen_dagster.providers.local import LocalMusic
from videogen_dagster_tests.media_tests.support import (
    SMALL,
    audio_samples,
    local_clip,
    storyboard,
    video_packets,
)


def _music(path: Path, seconds: float) -> Path:
    request = MusicRequest(prompt="calm sea", duration=seconds, seed=3)
    path.write_bytes(LocalMusic(SMALL).generate_music(request).data)
    return path


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2)))


@pytest.mark.parametrize("music_seconds", [1.0, 6.0], ids=["looped", "cut"])
def test_music_is_fitted_to_the_video_and_the_video_is_copied(tmp_path: Path, music_seconds):
    video = local_clip(tmp_path / "v.mp4", storyboard("a calm sea"), duration=2.0)
    music = _music(tmp_path / "m.m4a", music_seconds)

    add_soundtrack(video, music, tmp_path / "out.mp4", fade_seconds=0.3)

    out = probe(tmp_path / "out.mp4")
    assert out.has_audio and out.has_video
    assert out.audio_duration == pytest.approx(2.0, abs=0.05)
    assert out.frame_count == probe(video).frame_count
    assert video_packets(tmp_path / "out.mp4") == video_packets(video)


def test_music_fades_in_and_out_and_sits_lower_than_the_source(tmp_path: Path):
    video = local_clip(tmp_path / "v.mp4", storyboard("a calm sea"), duration=5.0)
    music = _music(tmp_path / "m.m4a", 5.0)

    add_soundtrack(video, music, tmp_path / "out.mp4", volume_db=-14.0, fade_seconds=1.5)

    laid, rate = audio_samples(tmp_path / "out.mp4")
    source, _ = audio_samples(music)
    edge = int(0.2 * rate)
    middle = slice(int(2.0 * rate), int(3.0 * rate))
    assert _rms(laid[:edge]) < 0.1 * _rms(laid[middle])
    assert _rms(laid[-edge:]) < 0.1 * _rms(laid[middle])
    gain_db = 20 * np.log10(_rms(laid[middle]) / _rms(source[middle]))
    assert gain_db == pytest.approx(-14.0, abs=1.0)


def test_music_without_audio_is_an_error_with_ffmpegs_message(tmp_path: Path):
    video = local_clip(tmp_path / "v.mp4", storyboard("a calm sea"))

    with pytest.raises(MediaError, match="v.mp4") as caught:
        add_soundtrack(video, video, tmp_path / "out.mp4")

    assert caught.value.stderr  # ffmpeg's own words are kept
    assert not (tmp_path / "out.mp4").exists()


def test_a_prepared_soundtrack_is_muxed_by_copying_both_streams(tmp_path: Path):
    """The pipeline prepares the soundtrack while clips are made, then only copies streams."""
    video = local_clip(tmp_path / "v.mp4", storyboard("a calm sea"), duration=2.0)
    soundtrack = tmp_path / "soundtrack.m4a"
    prepare_soundtrack(_music(tmp_path / "m.m4a", 1.0), soundtrack, 2.0, fade_seconds=0.3)
    prepared = probe(soundtrack)
    assert prepared.has_audio and not prepared.has_video
    assert prepared.audio_duration == pytest.approx(2.0, abs=0.05)

    mux_soundtrack(video, soundtrack, tmp_path / "out.mp4")

    assert video_packets(tmp_path / "out.mp4") == video_packets(video)
    laid, _ = audio_samples(tmp_path / "out.mp4")
    source, _ = audio_samples(soundtrack)
    assert np.array_equal(laid[: len(source)], source[: len(laid)])
