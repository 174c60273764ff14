"""Stitching: stream copy when the chunks allow it, re-encoding only when they differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from videogen_dagster.media import MediaError, probe, stitch_clips, trim_clip
from videogen_dagster_tests.media_tests.support import (
    SMALL,
    bframe_clip,
    decoded_frames,
    local_clip,
    storyboard,
    video_packets,
)


def _local_clips(folder: Path, count: int, **kwargs) -> list[Path]:
    return [
        local_clip(folder / f"c{i}.mp4", storyboard(f"beat {i}"), prompt=f"beat {i}", **kwargs)
        for i in range(count)
    ]


def _with_insertion(out: bytes, part: bytes, limit: int = 64) -> bool:
    """``out`` is ``part`` with at most ``limit`` bytes inserted at one place."""
    extra = len(out) - len(part)
    if not 0 <= extra <= limit:
        return False
    split = next((i for i, (a, b) in enumerate(zip(out, part, strict=False)) if a != b), len(part))
    return out[:split] == part[:split] and out[split + extra :] == part[split:]


def _assert_sum_of_parts(clips: list[Path], dst: Path, result) -> None:
    parts = [probe(clip) for clip in clips]
    out = probe(dst)
    assert result.frame_count == out.frame_count == sum(p.frame_count for p in parts)
    assert len(decoded_frames(dst)) == out.frame_count  # every frame decodes
    assert result.duration == out.duration
    assert out.duration == pytest.approx(sum(p.duration for p in parts), abs=1 / out.fps)


def test_matching_chunks_are_stream_copied(tmp_path: Path):
    clips = _local_clips(tmp_path, 3, duration=1.0)

    result = stitch_clips(clips, tmp_path / "out.mp4")

    assert result.reencoded is False
    _assert_sum_of_parts(clips, tmp_path / "out.mp4", result)
    # Stream copy: each output packet is the part's packet byte for byte, in order, except
    # that the concat demuxer inserts the parameter sets (SPS/PPS) into a part's keyframe.
    stitched = video_packets(tmp_path / "out.mp4")
    parts = [packet for clip in clips for packet in video_packets(clip)]
    assert len(stitched) == len(parts)
    assert all(_with_insertion(out, part) for out, part in zip(stitched, parts, strict=True))


def test_a_trimmed_last_chunk_still_stream_copies(tmp_path: Path):
    clips = _local_clips(tmp_path, 2, duration=2.0)
    trim_clip(clips[1], tmp_path / "trimmed.mp4", 1.5, 24)
    clips[1] = tmp_path / "trimmed.mp4"

    result = stitch_clips(clips, tmp_path / "out.mp4")

    assert result.reencoded is False
    assert result.frame_count == 48 + 36
    _assert_sum_of_parts(clips, tmp_path / "out.mp4", result)


def test_b_frame_clips_from_an_api_stream_copy_exactly(tmp_path: Path):
    clips = [bframe_clip(tmp_path / f"b{i}.mp4", seconds=1.0 + i / 2) for i in range(3)]

    result = stitch_clips(clips, tmp_path / "out.mp4")

    assert result.reencoded is False
    _assert_sum_of_parts(clips, tmp_path / "out.mp4", result)


def test_different_sizes_are_reencoded_to_the_first_clips_size(tmp_path: Path):
    big = local_clip(tmp_path / "a.mp4", storyboard("first"), duration=1.0)
    small_size = SMALL.sizes()["1:1"]
    square = local_clip(tmp_path / "b.mp4", storyboard("second", size=small_size), size=small_size)

    result = stitch_clips([big, square], tmp_path / "out.mp4")

    assert result.reencoded is True
    out = probe(tmp_path / "out.mp4")
    assert (out.width, out.height) == (256, 144)
    _assert_sum_of_parts([big, square], tmp_path / "out.mp4", result)


def test_different_frame_rates_are_reencoded_keeping_the_total_duration(tmp_path: Path):
    at_24 = local_clip(tmp_path / "a.mp4", storyboard("first"), duration=1.0, fps=24)
    at_30 = local_clip(tmp_path / "b.mp4", storyboard("second"), duration=2.0, fps=30)

    result = stitch_clips([at_24, at_30], tmp_path / "out.mp4")

    assert result.reencoded is True
    out = probe(tmp_path / "out.mp4")
    assert out.fps == pytest.approx(24)
    assert out.duration == pytest.approx(3.0, abs=1 / 24)
    assert out.frame_count == 72


def test_stitching_nothing_or_a_broken_clip_is_an_error(tmp_path: Path):
    with pytest.raises(MediaError, match="no clips"):
        stitch_clips([], tmp_path / "out.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    good = local_clip(tmp_path / "a.mp4", storyboard("first"))
    with pytest.raises(MediaError, match="broken.mp4"):
        stitch_clips([good, broken], tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
