"""The local provider's music: a short chord progression with bass and a gentle melody.

Everything is synthesised with numpy from a seed derived from the prompt, so a music bed is
reproducible to the byte and sounds like music (a pad, a bass, a pentatonic melody with
soft plucks and a touch of echo) rather than a test tone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

SAMPLE_RATE = 44100

_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
_PENTATONIC = {"major": (0, 2, 4, 7, 9), "minor": (0, 3, 5, 7, 10)}
#: Chord progressions as scale degrees (0 = tonic): I-V-vi-IV and its cousins.
_PROGRESSIONS = ((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 5, 4), (1, 4, 0, 5))


@dataclass(frozen=True)
class Tune:
    """The musical choices the seed makes."""

    root: int  # MIDI note of the tonic in the bass octave
    mode: str
    bpm: float
    progression: tuple[int, ...]


def choose_tune(rng: np.random.Generator) -> Tune:
    """Key, mode, tempo and progression for one track."""
    return Tune(
        root=int(rng.integers(40, 52)),
        mode=("major", "minor")[int(rng.integers(0, 2))],
        bpm=float(rng.integers(68, 97)),
        progression=_PROGRESSIONS[int(rng.integers(0, len(_PROGRESSIONS)))],
    )


def synthesise(duration: float, rng: np.random.Generator) -> np.ndarray:
    """Stereo float32 samples, shape ``(round(duration × 44100), 2)``, peaking near -3 dBFS."""
    total = round(duration * SAMPLE_RATE)
    tune = choose_tune(rng)
    mix = np.zeros((total + SAMPLE_RATE * 2, 2), dtype=np.float32)
    beat = 60.0 / tune.bpm
    _backing(mix, tune, beat)
    # Plucks are cached per note and pan: the melody reuses a handful of them.
    _melody(mix, tune, duration, beat, rng, cache(_pluck))
    _echo(mix, delay=beat * 0.75, feedback=0.28)
    track = mix[:total]
    track *= 1.2
    np.tanh(track, out=track)
    track *= 0.7 / max(float(np.max(np.abs(track))), 1e-9)
    return _edge_fades(track)


def _backing(mix: np.ndarray, tune: Tune, beat: float) -> None:
    """Pad chords and bass: one pass of the progression, repeated to the end of ``mix``.

    The progression is periodic, so it is synthesised once and tiled, which keeps a long
    track's cost close to a short one's (a bar-by-bar mix of 200 s took seconds of CPU).
    Notes ringing past the end of the pass are carried into the next one, not the first.
    """
    bar = 4 * beat
    scale = _SCALES[tune.mode]
    period = round(len(tune.progression) * bar * SAMPLE_RATE)
    once = np.zeros((period + round((bar + 0.8) * SAMPLE_RATE), 2), dtype=np.float32)
    pad, pluck = cache(_pad), cache(_pluck)
    for bar_index, degree in enumerate(tune.progression):
        start = bar_index * bar
        chord = [_scale_note(tune.root, scale, degree + step) for step in (0, 2, 4)]
        for note in (*chord, chord[0] + 12):
            _add(once, pad(note + 12, bar + 0.8), start)
        for beat_index in (0, 2):
            bass = pluck(chord[0] - 12, 1.6, decay=0.5, level=0.28, pan=0.0)
            _add(once, bass, start + beat_index * beat)
    body, carry = once[:period], once[period:]
    for at in range(0, len(mix), period):
        end = min(at + period, len(mix))
        mix[at:end] = body[: end - at]
        if at:
            _add_at(mix, carry, at)


def _melody(
    mix: np.ndarray,
    tune: Tune,
    duration: float,
    beat: float,
    rng: np.random.Generator,
    pluck: Callable[..., np.ndarray],
) -> None:
    """A random walk over the pentatonic scale on eighth notes, resting now and then."""
    pentatonic = _PENTATONIC[tune.mode]
    position = int(rng.integers(3, 8))
    t = beat * 4  # the melody enters after one bar of pad
    while t < duration - beat:
        if rng.random() < 0.6:
            position = int(np.clip(position + rng.integers(-2, 3), 0, 11))
            octave, index = divmod(position, len(pentatonic))
            note = tune.root + 24 + 12 * octave + pentatonic[index]
            pan = round(float(rng.uniform(-0.3, 0.3)), 1)  # few pans: cached plucks
            _add(mix, pluck(note, 1.2, decay=0.35, level=0.13, pan=pan), t)
        t += beat / 2 * (2 if rng.random() < 0.3 else 1)


def _scale_note(root: int, scale: tuple[int, ...], degree: int) -> int:
    octave, index = divmod(degree, len(scale))
    return root + 12 * octave + scale[index]


def _frequency(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _pad(note: int, length: float) -> np.ndarray:
    """A warm sustained tone: slightly detuned left/right, slow attack and release."""
    n = round(length * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float32) / np.float32(SAMPLE_RATE)
    f = _frequency(note)
    envelope = np.minimum(1.0, np.minimum(t / 0.4, (length - t) / 0.8).clip(0, None))
    envelope = 0.07 * (0.5 - 0.5 * np.cos(np.float32(np.pi) * envelope))
    pad = np.empty((n, 2), dtype=np.float32)
    pad[:, 0] = _harmonics(_phase(f * 0.999, n)) * envelope
    pad[:, 1] = _harmonics(_phase(f * 1.001, n)) * envelope
    return pad


def _pluck(note: int, length: float, *, decay: float, level: float, pan: float) -> np.ndarray:
    """A soft plucked note: quick attack, exponential decay, placed by ``pan`` in [-1, 1]."""
    n = round(length * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float32) / np.float32(SAMPLE_RATE)
    s = np.sin(_phase(_frequency(note), n))
    tone = s * (1 + (3 - 4 * s * s) / 9)  # sin x + sin 3x / 9
    envelope = np.minimum(t / 0.006, 1.0) * np.exp(-t / np.float32(decay))
    envelope *= np.clip((length - t) / 0.05, 0, 1)  # no click at the cut
    mono = (level * tone * envelope).astype(np.float32)
    gains = np.array([(1 - pan) / 2 * 2**0.5, (1 + pan) / 2 * 2**0.5], dtype=np.float32)
    return mono[:, None] * gains


def _phase(f: float, n: int) -> np.ndarray:
    """``2π f t`` for ``n`` samples as float32 angles in [0, 2π).

    The sines are taken in float32, which made a 45 s bed 3.3 times cheaper (0.37 CPU-s to
    0.11 on a 2-core EPYC; eight videos rendered at once are CPU-bound, issue 7). So the angle
    is wrapped to one cycle in float64 first: a float32 angle of thousands of radians would
    add phase noise at about -60 dB to every held note.
    """
    cycles = np.arange(n, dtype=np.float64) * (f / SAMPLE_RATE)
    return (2 * np.pi * (cycles - np.floor(cycles))).astype(np.float32)


def _harmonics(x: np.ndarray) -> np.ndarray:
    """``sin x + 0.3 sin 2x + 0.1 sin 3x`` from one sine and one cosine."""
    s, c = np.sin(x), np.cos(x)
    return s * (1 + 0.6 * c + 0.1 * (3 - 4 * s * s))


def _add(mix: np.ndarray, sound: np.ndarray, at: float) -> None:
    _add_at(mix, sound, round(at * SAMPLE_RATE))


def _add_at(mix: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(start + len(sound), len(mix))
    if start < end:
        mix[start:end] += sound[: end - start]


def _echo(mix: np.ndarray, *, delay: float, feedback: float) -> None:
    """A few decaying repeats, crossed left/right, for a sense of space.

    Worked in place from the end, one delay-long block at a time, so every repeat reads the
    dry signal before it is changed and no full-length copy is made.
    """
    shift = round(delay * SAMPLE_RATE)
    gains = [feedback**repeat for repeat in range(1, 4)]
    for end in range(len(mix), 0, -shift):
        start = max(end - shift, 0)
        for repeat, gain in enumerate(gains, start=1):
            offset = shift * repeat
            if start < offset:
                lo = offset  # the repeat starts here
                if lo >= end:
                    continue
            else:
                lo = start
            source = mix[lo - offset : end - offset]
            mix[lo:end] += gain * (source[:, ::-1] if repeat % 2 else source)


def _edge_fades(track: np.ndarray) -> np.ndarray:
    """Half a second in, one second out (less for very short tracks): no clicks at the ends."""
    length = len(track)
    fade_in = min(round(0.5 * SAMPLE_RATE), length // 4)
    fade_out = min(SAMPLE_RATE, length // 4)
    if fade_in:
        track[:fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)[:, None]
    if fade_out:
        track[-fade_out:] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)[:, None]
    return track
