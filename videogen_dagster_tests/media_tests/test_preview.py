"""Animated previews: they move, they stay small, and making one checks the file plays."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from videogen_dagster.media import MediaError
from videogen_dagster.media.preview import MAX_PREVIEW_BYTES, animated_preview
from videogen_dagster_tests.media_tests.support import bframe_clip, local_clip, storyboard


def _frames(webp: bytes) -> list[Image.Image]:
    image = Image.open(io.BytesIO(webp))
    assert image.format == "WEBP"
    frames = []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(image.convert("RGB").copy())
    return frames


def test_a_clip_preview_samples_it_at_the_asked_rate_and_moves(tmp_path: Path):
    clip = bframe_clip(tmp_path / "clip.mp4", seconds=4.0, fps=24)  # every frame different

    preview = animated_preview(clip, width=128, frames_per_second=3.0)

    assert preview.source_frames == 96  # every frame decoded
    assert preview.frame_count == 12 and (preview.width, preview.height) == (128, 72)
    frames = _frames(preview.webp)
    assert len(frames) == 12 and frames[0].size == (128, 72)
    assert frames[0].tobytes() != frames[-1].tobytes()


def test_a_long_video_plays_faster_not_bigger(tmp_path: Path):
    clip = local_clip(tmp_path / "long.mp4", storyboard("a long beat"), duration=5.0, fps=24)

    preview = animated_preview(clip, frames_per_second=12.0, max_frames=10)

    assert preview.frame_count <= 10 and preview.source_frames == 120
    assert len(preview.webp) <= MAX_PREVIEW_BYTES


def test_a_cut_off_file_shows_in_the_frame_count_or_fails(tmp_path: Path):
    whole = bframe_clip(tmp_path / "whole.mp4", seconds=2.0, fps=24)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    try:
        decoded = animated_preview(cut).source_frames
    except MediaError:
        return
    assert decoded < 48


def test_a_file_that_is_not_a_video_is_a_media_error(tmp_path: Path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")

    with pytest.raises(MediaError, match="junk.mp4"):
        animated_preview(junk)
