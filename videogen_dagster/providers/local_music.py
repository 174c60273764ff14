"""The local provider's music: a short chord progression with bass and a gentle melody.

Everything is synthesised with numpy from a seed derived from the prompt, so a music bed is
reproducible to the byte and sounds like music (a pad, a bass, a pentatonic melody with
soft plucks and a touch of echo) rather than a test tone.
"""

from __future__ import annotations

import math
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
    """Stereo float samples, shape ``(round(duration × 44100), 2)``, peaking near -3 dBFS."""
    total = round(duration * SAMPLE_RATE)
    tune = choose_tune(rng)
    mix = np.zeros((total + SAMPLE_RATE * 2, 2), dtype=np.float64)
    beat = 60.0 / tune.bpm
    bar = 4 * beat
    scale = _SCALES[tune.mode]
    # The progression repeats, so each distinct note is synthesised once per track.
    pad, pluck = cache(_pad), cache(_pluck)
    for bar_index in range(math.ceil(duration / bar)):
        start = bar_index * bar
        degree = tune.progression[bar_index % len(tune.progression)]
        chord = [_scale_note(tune.root, scale, degree + step) for step in (0, 2, 4)]
        for note in (*chord, chord[0] + 12):
            _add(mix, pad(note + 12, bar + 0.8), start)
        for beat_index in (0, 2):
            bass = pluck(chord[0] - 12, 1.6, decay=0.5, level=0.28, pan=0.0)
            _add(mix, bass, start + beat_index * beat)
    _melody(mix, tune, duration, beat, rng, pluck)
    _echo(mix, delay=beat * 0.75, feedback=0.28)
    track = np.tanh(mix[:total] * 1.2)
    track *= 0.7 / max(float(np.max(np.abs(track))), 1e-9)
    return _edge_fades(track)


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
    t = np.arange(round(length * SAMPLE_RATE)) / SAMPLE_RATE
    f = _frequency(note)
    left = _harmonics(f * 0.999, t)
    right = _harmonics(f * 1.001, t)
    envelope = np.minimum(1.0, np.minimum(t / 0.4, (length - t) / 0.8).clip(0, None))
    envelope = 0.5 - 0.5 * np.cos(np.pi * envelope)
    return 0.07 * np.stack([left, right], axis=1) * envelope[:, None]


def _pluck(note: int, length: float, *, decay: float, level: float, pan: float) -> np.ndarray:
    """A soft plucked note: quick attack, exponential decay, placed by ``pan`` in [-1, 1]."""
    t = np.arange(round(length * SAMPLE_RATE)) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * _frequency(note) * t) + np.sin(6 * np.pi * _frequency(note) * t) / 9
    envelope = np.minimum(t / 0.006, 1.0) * np.exp(-t / decay)
    envelope *= np.clip((length - t) / 0.05, 0, 1)  # no click at the cut
    mono = level * tone * envelope
    return np.stack([mono * (1 - pan) / 2 * 2**0.5, mono * (1 + pan) / 2 * 2**0.5], axis=1)


def _harmonics(f: float, t: np.ndarray) -> np.ndarray:
    return (
        np.sin(2 * np.pi * f * t)
        + 0.3 * np.sin(4 * np.pi * f * t)
        + 0.1 * np.sin(6 * np.pi * f * t)
    )


def _add(mix: np.ndarray, sound: np.ndarray, at: float) -> None:
    start = round(at * SAMPLE_RATE)
    end = min(start + len(sound), len(mix))
    if start < end:
        mix[start:end] += sound[: end - start]


def _echo(mix: np.ndarray, *, delay: float, feedback: float) -> None:
    """A few decaying repeats, crossed left/right, for a sense of space."""
    shift = round(delay * SAMPLE_RATE)
    wet = mix.copy()
    gain = feedback
    for repeat in range(1, 4):
        offset = shift * repeat
        if offset >= len(mix):
            break
        source = wet[:-offset, ::-1] if repeat % 2 else wet[:-offset]
        mix[offset:] += gain * source
        gain *= feedback


def _edge_fades(track: np.ndarray) -> np.ndarray:
    """Half a second in, one second out (less for very short tracks): no clicks at the ends."""
    length = len(track)
    fade_in = min(round(0.5 * SAMPLE_RATE), length // 4)
    fade_out = min(SAMPLE_RATE, length // 4)
    if fade_in:
        track[:fade_in] *= np.linspace(0.0, 1.0, fade_in)[:, None]
    if fade_out:
        track[-fade_out:] *= np.linspace(1.0, 0.0, fade_out)[:, None]
    return track
