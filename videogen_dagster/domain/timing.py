"""Time in whole frames: the one rounding rule every duration in a validated spec follows.

Durations and start times are kept as whole numbers of frames at the spec's fps and only
turned into seconds (``frames / fps``) at the edges, so beats add up to the video exactly
and chunk boundaries fall on frames ffmpeg can cut at.
"""

from __future__ import annotations

import math

#: No beat is kept shorter than this after fitting, and no clip where the clip lengths allow.
MIN_SEGMENT_SECONDS = 1.0


def to_frames(seconds: float, fps: int) -> int:
    """``seconds`` as the nearest whole number of frames (halves round up)."""
    return math.floor(seconds * fps + 0.5)


def to_seconds(frames: int, fps: int) -> float:
    return frames / fps


def is_whole_frames(seconds: float, fps: int) -> bool:
    """Whether ``seconds`` already is a whole number of frames (up to float noise)."""
    return math.isclose(seconds * fps, to_frames(seconds, fps), abs_tol=1e-6)
