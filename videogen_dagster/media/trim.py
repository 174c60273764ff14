"""Cutting a clip to an exact number of frames (a beat's last chunk is usually too long)."""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from videogen_dagster.media.encode import H264_OPTIONS
from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.ffmpeg import atomic_output, run
from videogen_dagster.media.probe import probe


def trim_clip(src: Path, dst: Path, duration: float, fps: int) -> None:
    """Keep exactly ``round(duration × fps)`` frames of ``src`` at ``fps``, re-encoded.

    Re-encoding (with our fixed H.264 settings) is what makes the cut frame-exact whatever the
    source's keyframes are, and keeps the result stream-copyable with our other clips. A
    source shorter than asked is an error, never a silently shorter beat.
    """
    frames = round(duration * fps)
    if frames < 1:
        raise MediaError(f"cannot trim {src} to {duration} s at {fps} fps: that is no frame")
    with atomic_output(dst) as partial:
        stream = (
            ffmpeg.input(str(src))
            .video.filter("fps", fps=fps)
            .output(str(partial), r=fps, an=None, **{"frames:v": frames}, **H264_OPTIONS)
        )
        run(stream, what=f"trim {src} to {frames} frames")
        kept = probe(partial).frame_count
        if kept != frames:
            raise MediaError(
                f"cannot trim {src} to {frames} frames ({duration} s at {fps} fps): "
                f"it has only {kept}"
            )
