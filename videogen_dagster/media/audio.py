"""Audio as numbers: decoding any track to float samples, and writing them back as WAV.

Narration is placed, ducked and mixed in numpy (exact sample positions, no filter-graph
arithmetic), so these are the only two conversions it needs; ffmpeg does the decoding, so any
format a provider returns (WAV, MP3, AAC) is read the same way.
"""

from __future__ import annotations

import io
import tempfile
import wave
from pathlib import Path

import ffmpeg
import numpy as np

from videogen_dagster.media.ffmpeg import run

#: The rate everything is mixed at (AAC's usual rate).
MIX_RATE = 48_000


def decode_audio(path: Path, *, sample_rate: int = MIX_RATE, tempo: float = 1.0) -> np.ndarray:
    """The first audio stream of ``path`` as mono float32 samples in [-1, 1] at ``sample_rate``;
    ``tempo`` > 1 plays it that much faster at the same pitch (ffmpeg's ``atempo``)."""
    audio = ffmpeg.input(str(path)).audio
    if tempo != 1.0:
        audio = audio.filter("atempo", f"{tempo:.6f}")
    stream = ffmpeg.output(audio, "pipe:", format="f32le", ac=1, ar=sample_rate)
    raw = run(stream, what=f"decode the audio of {path}")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def decode_audio_bytes(data: bytes, suffix: str, **options: float) -> np.ndarray:
    """``decode_audio`` of media held in memory; ``suffix`` guides the format detection."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        return decode_audio(Path(handle.name), **options)  # type: ignore[arg-type]


def wav_bytes(samples: np.ndarray, sample_rate: int = MIX_RATE) -> bytes:
    """Mono float ``samples`` as a 16-bit WAV file (clipped to [-1, 1])."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    return pcm_wav_bytes(pcm.tobytes(), sample_rate)


def pcm_wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """16-bit little-endian mono ``pcm`` as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()
