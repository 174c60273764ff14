"""Trimming a beat's last chunk: the frame count must be exact, or beats drift off the music."""

from __future__ import annotations

from pathlib import Path

import pytest

from videogen_dagster.media import MediaError, probe, psnr, trim_clip
from videogen_dagster_tests.media_tests.support import (
    bframe_clip,
    decoded_frames,
    local_clip,
    storyboard,
)


@pytest.mark.parametrize(
    ("duration", "fps", "frames"),
    [(1.0, 24, 24), (1.25, 24, 30), (0.5, 24, 12), (1.3, 30, 39), (0.04, 24, 1)],
)
def test_trim_keeps_exactly_the_asked_frames(
    tmp_path: Path, duration: float, fps: int, frames: int
):
    source = bframe_clip(tmp_path / "src.mp4", seconds=2.0, fps=24)

    trim_clip(source, tmp_path / "out.mp4", duration, fps)

    info = probe(tmp_path / "out.mp4")
    assert info.frame_count == frames
    assert info.fps == pytest.approx(fps)
    assert info.duration == pytest.approx(frames / fps, abs=1e-3)


def test_trim_keeps_the_beginning(tmp_path: Path):
    source = local_clip(tmp_path / "src.mp4", storyboard("a quiet bay"), duration=2.0)

    trim_clip(source, tmp_path / "out.mp4", 0.5, 24)

    kept, original = decoded_frames(tmp_path / "out.mp4"), decoded_frames(source)
    assert psnr(kept[0], original[0]) > 40
    assert psnr(kept[-1], original[11]) > 40


def test_trimming_longer_than_the_source_is_an_error(tmp_path: Path):
    source = bframe_clip(tmp_path / "src.mp4", seconds=1.0)

    with pytest.raises(MediaError, match="has only 24"):
        trim_clip(source, tmp_path / "out.mp4", 2.0, 24)
    assert not (tmp_path / "out.mp4").exists()


def test_ffmpeg_failure_carries_ffmpegs_own_message(tmp_path: Path):
    not_media = tmp_path / "notes.mp4"
    not_media.write_text("hello")

    with pytest.raises(MediaError) as caught:
        trim_clip(not_media, tmp_path / "out.mp4", 1.0, 24)

    assert "Invalid data found when processing input" in str(caught.value)
    assert "Invalid data found when processing input" in caught.value.stderr
    assert not (tmp_path / "out.mp4").exists()
