"""The final soundtrack of a narrated video: voices over the music, the music ducked under them,
the whole levelled to a loudness target without clipping.

Speech is placed in numpy at exact sample positions (a beat's voice starts on the beat's first
frame) and the music's gain follows a volume automation: ``duck_db`` lower wherever someone
speaks, ramping over ``ramp_seconds`` centred on each edge, so the music dips just before a
voice comes in and comes back just after it ends. The sum is measured with ffmpeg's EBU R128
meter, brought to ``loudness_lufs`` by one linear gain (the mix's balance is kept) and passed
through a limiter at ``peak_db`` so no sample clips (the loudness the limiter takes is
measured and made up once); then it is encoded to AAC.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from videogen_dagster.media.audio import MIX_RATE, decode_audio
from videogen_dagster.media.encode import AAC_OPTIONS
from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.ffmpeg import atomic_output, run


@dataclass(frozen=True)
class MixSettings:
    """How narration and music are mixed (recorded in the manifest)."""

    duck_db: float = -12.0
    ramp_seconds: float = 0.3
    loudness_lufs: float = -16.0
    peak_db: float = -1.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_MIX = MixSettings()


@dataclass(frozen=True)
class PlacedSpeech:
    """A beat's speech (mono samples at ``MIX_RATE``) and when it starts in the video."""

    start: float
    samples: np.ndarray


@dataclass(frozen=True)
class MixResult:
    """The mix's measured loudness before levelling and the gain applied to reach the target."""

    measured_lufs: float
    gain_db: float


def speech_activity(duration: float, speech: Sequence[PlacedSpeech]) -> np.ndarray:
    """A boolean per sample of the video: True where a voice is placed."""
    total = round(duration * MIX_RATE)
    active = np.zeros(total, dtype=bool)
    for placed in speech:
        first = round(placed.start * MIX_RATE)
        active[first : min(first + placed.samples.size, total)] = True
    return active


def music_gain(active: np.ndarray, settings: MixSettings) -> np.ndarray:
    """The music's gain per sample: 1 between voices, ``duck_db`` under them, ramped."""
    target = np.where(active, np.float32(10 ** (settings.duck_db / 20)), np.float32(1.0))
    width = max(1, round(settings.ramp_seconds * MIX_RATE))
    # A centred moving average of the target, by cumulative sums: linear ramps, O(n).
    padded = np.concatenate(
        [np.full(width // 2, target[0]), target, np.full(width - width // 2, target[-1])]
    ).astype(np.float64)
    sums = np.concatenate([[0.0], np.cumsum(padded)])
    return ((sums[width:] - sums[:-width]) / width)[: target.size].astype(np.float32)


def mix_narration(
    duration: float,
    speech: Sequence[PlacedSpeech],
    music: Path | None,
    dst: Path,
    settings: MixSettings = DEFAULT_MIX,
) -> MixResult:
    """Write the narrated soundtrack of a ``duration``-second video to ``dst`` (AAC, .m4a)."""
    total = round(duration * MIX_RATE)
    voices = np.zeros(total, dtype=np.float32)
    for placed in speech:
        first = round(placed.start * MIX_RATE)
        part = placed.samples[: max(total - first, 0)]
        voices[first : first + part.size] += part
    mixed = voices
    if music is not None:
        bed = decode_audio(music)[:total]
        bed = np.pad(bed, (0, total - bed.size))
        mixed = voices + bed * music_gain(speech_activity(duration, speech), settings)
    with tempfile.TemporaryDirectory(prefix="videogen-mix-") as tmp:
        raw = Path(tmp) / "mix.f32"
        mixed.astype("<f4").tofile(raw)
        measured = integrated_loudness(raw)
        gain = settings.loudness_lufs - measured
        # The limiter takes the peaks off and some loudness with them (speech is peaky):
        # measure what it leaves and make up the difference once.
        limited = Path(tmp) / "limited.f32"
        run(
            ffmpeg.output(_levelled(raw, gain, settings), str(limited), format="f32le"),
            what="level the narrated mix",
        )
        gain += settings.loudness_lufs - integrated_loudness(limited)
        with atomic_output(dst) as partial:
            stream = ffmpeg.output(
                _levelled(raw, gain, settings), str(partial), f="mp4", ar=MIX_RATE, **AAC_OPTIONS
            )
            run(stream, what=f"encode the narrated soundtrack into {dst}")
    return MixResult(measured_lufs=measured, gain_db=round(gain, 3))


def _levelled(raw: Path, gain: float, settings: MixSettings) -> ffmpeg.nodes.FilterableStream:
    """The raw mix raised by ``gain`` dB, its peaks limited to ``settings.peak_db``."""
    return (
        _raw_input(raw)
        .filter("volume", f"{gain:.3f}dB", precision="double")
        .filter(
            "alimiter",
            limit=10 ** (settings.peak_db / 20),
            level=False,
            latency=True,
            attack=5,
            release=50,
        )
    )


def _raw_input(raw: Path) -> ffmpeg.nodes.FilterableStream:
    return ffmpeg.input(str(raw), format="f32le", ac=1, ar=MIX_RATE).audio


def integrated_loudness(path: Path, *, raw: bool = True) -> float:
    """EBU R128 integrated loudness (LUFS) of raw mono float samples at ``MIX_RATE`` in
    ``path`` (``raw``), or of any audio file's first audio stream."""
    source = _raw_input(path) if raw else ffmpeg.input(str(path)).audio
    meter = source.filter("ebur128", metadata=1).filter(
        "ametadata", mode="print", key="lavfi.r128.I", file="-"
    )
    printed = run(ffmpeg.output(meter, "-", f="null"), what=f"measure the loudness of {path}")
    values = [
        line.split("=", 1)[1] for line in printed.decode().splitlines() if "lavfi.r128.I=" in line
    ]
    if not values:
        raise MediaError(f"cannot measure the loudness of {path}: no audio")
    loudness = float(values[-1])
    # Silence measures -70 LUFS (the meter's floor): level nothing up from it.
    return loudness if loudness > -70 else 0.0
