"""Probing and frame extraction: the facts every later check relies on must be exact.

A chunk's last frame seeds the next chunk, so "the last frame" must be the true last one in
presentation order (not a frame near the end), and it must survive as lossless PNG.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from videogen_dagster.media import (
    MediaError,
    extract_first_frame,
    extract_last_frame,
    probe,
    probe_bytes,
    psnr,
)
from videogen_dagster_tests.media_tests.support import (
    bframe_clip,
    decoded_frames,
    local_clip,
    storyboard,
)


@pytest.mark.parametrize(("fps", "duration"), [(24, 1.0), (30, 2.0)])
def test_probe_reports_exact_frames_size_and_duration(tmp_path: Path, fps: int, duration: float):
    clip = local_clip(tmp_path / "c.mp4", storyboard("a harbour"), fps=fps, duration=duration)

    info = probe(clip)

    assert info.frame_count == round(fps * duration)
    assert (info.width, info.height) == (256, 144)
    assert info.fps == pytest.approx(fps)
    assert info.duration == pytest.approx(duration, abs=1 / fps)
    assert info.video_codec == "h264"
    assert info.has_video and not info.has_audio and info.audio_duration is None


def test_probe_bytes_matches_probe_of_the_file(tmp_path: Path):
    clip = bframe_clip(tmp_path / "b.mp4")

    assert probe_bytes(clip.read_bytes(), ".mp4") == probe(clip)


def test_last_and_first_frame_are_exact_with_b_frames_and_many_gops(tmp_path: Path):
    clip = bframe_clip(tmp_path / "b.mp4", seconds=2.0)
    truth = decoded_frames(clip)

    assert len(truth) == 48
    assert psnr(extract_last_frame(clip), truth[-1]) == float("inf")
    assert psnr(extract_first_frame(clip), truth[0]) == float("inf")
    # The counter in testsrc2 changes every frame: the second-to-last is a different picture.
    assert psnr(truth[-1], truth[-2]) < 40


def test_last_frame_of_a_local_clip_is_its_final_frame(tmp_path: Path):
    clip = local_clip(tmp_path / "c.mp4", storyboard("a harbour"), duration=2.0)

    assert extract_last_frame(clip) == decoded_frames(clip)[-1]


@pytest.mark.parametrize("content", [b"", b"not a video at all"])
def test_unreadable_media_raises_media_error_naming_the_file(tmp_path: Path, content: bytes):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(content)

    for operation in (probe, extract_last_frame, extract_first_frame):
        with pytest.raises(MediaError, match="broken.mp4"):
            operation(bad)


def test_missing_file_raises_media_error(tmp_path: Path):
    with pytest.raises(MediaError, match="nowhere.mp4"):
        probe(tmp_path / "nowhere.mp4")
