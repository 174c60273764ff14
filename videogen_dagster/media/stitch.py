"""Joining chunks into one video: stream copy when they allow it, re-encoding when not."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import ffmpeg

from videogen_dagster.media.encode import H264_OPTIONS
from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.ffmpeg import atomic_output, run
from videogen_dagster.media.probe import probe


@dataclass(frozen=True)
class StitchResult:
    """How a stitch was made and what came out (probed from the output file)."""

    reencoded: bool
    duration: float
    frame_count: int


@dataclass(frozen=True)
class _VideoParams:
    """What must be equal for concatenated H.264 streams to decode as one.

    ``extradata`` holds the SPS/PPS (profile, level, entropy coder, colour tags): the output
    keeps the first clip's, so any difference there would corrupt later clips.
    """

    codec: str
    width: int
    height: int
    pix_fmt: str | None
    fps: Fraction
    sample_aspect_ratio: Fraction | None
    extradata: bytes | None


def stitch_clips(clips: Sequence[Path], dst: Path) -> StitchResult:
    """Join ``clips`` in order into ``dst`` (video only: the soundtrack is laid afterwards).

    Clips that share codec parameters are joined by the concat demuxer with stream copy: no
    quality loss, a fraction of a second for dozens of chunks. Otherwise every clip is scaled
    (letterboxed) to the first clip's size and frame rate and re-encoded in one pass.
    """
    if not clips:
        raise MediaError(f"cannot stitch {dst}: no clips given")
    params = [_video_params(clip) for clip in clips]
    reencode = any(p != params[0] for p in params[1:])
    with atomic_output(dst) as partial:
        if reencode:
            _concat_reencode(clips, partial, params[0])
        else:
            _concat_copy(clips, partial)
        info = probe(partial)
    return StitchResult(reencoded=reencode, duration=info.duration, frame_count=info.frame_count)


def _video_params(clip: Path) -> _VideoParams:
    try:
        with av.open(str(clip)) as container:
            if not container.streams.video:
                raise MediaError(f"cannot stitch {clip}: it has no video stream")
            stream = container.streams.video[0]
            context = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate
            return _VideoParams(
                codec=context.name,
                width=context.width,
                height=context.height,
                pix_fmt=context.pix_fmt,
                fps=Fraction(rate) if rate else Fraction(0),
                sample_aspect_ratio=context.sample_aspect_ratio,
                extradata=context.extradata,
            )
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot stitch {clip}: {exc}") from None


def _concat_copy(clips: Sequence[Path], dst: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="stitch-") as folder:
        listing = Path(folder) / "clips.txt"
        listing.write_text("".join(f"file {_quoted(clip)}\n" for clip in clips))
        stream = ffmpeg.input(str(listing), format="concat", safe=0).video.output(
            str(dst),
            c="copy",
            movflags="+faststart",
            fflags="+bitexact",
            map_metadata=-1,
        )
        run(stream, what=f"stitch {len(clips)} clips into {dst} by stream copy")


def _concat_reencode(clips: Sequence[Path], dst: Path, target: _VideoParams) -> None:
    width, height, fps = target.width, target.height, target.fps
    scaled = [
        ffmpeg.input(str(clip))
        .video.filter("scale", width, height, force_original_aspect_ratio="decrease")
        .filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2")
        .filter("setsar", 1)
        .filter("fps", fps=str(fps))
        .filter("format", "yuv420p")
        for clip in clips
    ]
    stream = ffmpeg.concat(*scaled, v=1, a=0).output(str(dst), r=str(fps), **H264_OPTIONS)
    run(stream, what=f"stitch {len(clips)} clips into {dst} by re-encoding")


def _quoted(path: Path) -> str:
    """A path as the concat demuxer reads it: absolute, single-quoted, quotes escaped."""
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"
