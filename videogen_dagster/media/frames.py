"""Single frames out of a clip, decoded exactly and returned as lossless PNG."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.images import encode_png


def extract_first_frame(video: Path) -> bytes:
    """PNG bytes of the first frame shown (lowest presentation time)."""
    try:
        with av.open(str(video)) as container:
            stream = _video_stream(container, video)
            for frame in container.decode(stream):
                return encode_png(_rgb(frame))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot decode the first frame of {video}: {exc}") from None
    raise MediaError(f"{video} has a video stream but no decodable frame")


def extract_last_frame(video: Path) -> bytes:
    """PNG bytes of the true last frame: the decoded frame with the highest presentation time.

    Seeking to an end time and grabbing "a frame near it" can return the second-to-last frame
    (or, with B-frames, one out of order); instead we find the last keyframe by demuxing (no
    decoding), seek there and decode every frame to the end.
    """
    try:
        with av.open(str(video)) as container:
            stream = _video_stream(container, video)
            last_key = max(
                (p.pts for p in container.demux(stream) if p.is_keyframe and p.pts is not None),
                default=None,
            )
            if last_key is None:
                raise MediaError(f"{video} has no keyframe to decode from")
            container.seek(last_key, stream=stream, backward=True, any_frame=False)
            last = None
            for frame in container.decode(stream):
                if frame.pts is not None and (last is None or frame.pts >= last.pts):
                    last = frame
            if last is None:
                raise MediaError(f"{video} has a video stream but no decodable frame")
            return encode_png(_rgb(last))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot decode the last frame of {video}: {exc}") from None


def _video_stream(container: av.container.InputContainer, video: Path) -> av.video.VideoStream:
    if not container.streams.video:
        raise MediaError(f"{video} has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB pixels, converted with the matrix and range the stream is tagged with."""
    return frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None)
