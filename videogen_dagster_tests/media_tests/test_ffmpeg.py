"""Every ffmpeg failure surfaces as a MediaError that carries ffmpeg's own words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from videogen_dagster.media import MediaError
from videogen_dagster.media.encode import encode_pcm_to_m4a, encode_yuv420p_frames


def test_a_failing_pipe_reports_ffmpegs_message(tmp_path: Path):
    frames = (bytes(16 * 16 * 3 // 2) for _ in range(5))
    missing = tmp_path / "no-such-folder" / "out.mp4"

    with pytest.raises(MediaError, match="No such file or directory") as caught:
        encode_yuv420p_frames(frames, missing, width=16, height=16, fps=24)

    assert str(missing) in str(caught.value)
    assert "No such file or directory" in caught.value.stderr


def test_an_impossible_encode_reports_ffmpegs_message(tmp_path: Path):
    silence = np.zeros((4410, 2), dtype=np.float32)

    with pytest.raises(MediaError, match="ffmpeg failed to encode") as caught:
        encode_pcm_to_m4a(silence, tmp_path / "out.m4a", sample_rate=-5)

    assert caught.value.stderr.strip()
