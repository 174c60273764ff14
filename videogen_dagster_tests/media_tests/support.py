"""Small real media for the media and local-provider tests (256×144, a few seconds at most)."""

from __future__ import annotations

from pathlib import Path

import av
import ffmpeg
import numpy as np

from videogen_dagster.media.ffmpeg import run
from videogen_dagster.media.images import encode_png
from videogen_dagster.providers.base import ClipRequest, ImageRequest, Size
from videogen_dagster.providers.local import LocalClips, LocalImages, LocalSettings

SMALL = LocalSettings(short_side=144, clip_lengths=(1.0, 2.0, 5.0))
SMALL_SIZE = SMALL.sizes()["16:9"]  # 256x144


def storyboard(prompt: str, *, size: Size = SMALL_SIZE, style: str | None = "watercolour") -> bytes:
    """A local storyboard image for ``prompt``."""
    request = ImageRequest(prompt=prompt, size=size, seed=1, style=style)
    return LocalImages(SMALL).generate_image(request).data


def local_clip(
    path: Path,
    start_image: bytes,
    *,
    prompt: str = "a lighthouse at dusk",
    duration: float = 1.0,
    fps: int = 24,
    size: Size = SMALL_SIZE,
    settings: LocalSettings = SMALL,
) -> Path:
    """Render a local clip starting on ``start_image`` into ``path``."""
    request = ClipRequest(
        start_image=start_image, prompt=prompt, size=size, fps=fps, duration=duration, seed=1
    )
    path.write_bytes(LocalClips(settings).generate_clip(request).data)
    return path


def bframe_clip(path: Path, *, seconds: float = 2.0, fps: int = 24, size: str = "256x144") -> Path:
    """A clip like a real API returns: B-frames, several GOPs, every frame different."""
    source = ffmpeg.input(f"testsrc2=size={size}:rate={fps}:duration={seconds}", f="lavfi")
    run(
        source.output(str(path), vcodec="libx264", preset="medium", bf=3, g=12, pix_fmt="yuv420p"),
        what="make a test clip",
    )
    return path


def decoded_frames(video: Path) -> list[bytes]:
    """Every frame in presentation order, as PNG: the ground truth, decoded the slow way."""
    with av.open(str(video)) as container:
        frames = sorted(container.decode(video=0), key=lambda frame: frame.pts)
        return [encode_png(frame.to_ndarray(format="rgb24")) for frame in frames]


def video_packets(video: Path) -> list[bytes]:
    """The video stream's packets, as stored."""
    with av.open(str(video)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def audio_samples(media: Path) -> tuple[np.ndarray, int]:
    """Decoded audio as a mono float array in [-1, 1], and its sample rate (AAC decodes to float
    planes, FLAC to interleaved integers)."""
    with av.open(str(media)) as container:
        stream = container.streams.audio[0]
        chunks = [_mono(frame) for frame in container.decode(stream)]
        return np.concatenate(chunks), stream.codec_context.sample_rate


def _mono(frame: av.AudioFrame) -> np.ndarray:
    samples = frame.to_ndarray()
    if not frame.format.is_planar:
        samples = samples.reshape(-1, len(frame.layout.channels)).T
    if np.issubdtype(samples.dtype, np.integer):
        samples = samples / float(np.iinfo(samples.dtype).max + 1)
    return samples.mean(axis=0)
