"""Colour statistics of frames: matching one to a reference, and measuring how far they drift.

Chaining chunks on last frames lets small per-clip biases compound (image-to-video models
tend to push saturation and contrast up a little each time); matching each start image's
per-channel mean and spread to the beat's first chunk pulls the chain back every hop.
"""

from __future__ import annotations

import numpy as np

from videogen_dagster.media.images import encode_png, load_rgb

_LUMA = np.array([0.2126, 0.7152, 0.0722])


def colour_match(frame_png: bytes, reference_png: bytes) -> bytes:
    """The frame with each RGB channel's mean and standard deviation set to the reference's.

    The sizes may differ: only the statistics of the reference are used. A flat channel
    (no spread) is shifted, not stretched, so a solid frame never turns to noise.
    """
    frame = load_rgb(frame_png, what="frame to colour-match").astype(np.float64)
    reference = load_rgb(reference_png, what="colour reference").astype(np.float64)
    f_mean, f_std = frame.mean(axis=(0, 1)), frame.std(axis=(0, 1))
    r_mean, r_std = reference.mean(axis=(0, 1)), reference.std(axis=(0, 1))
    gain = np.where(f_std > 1e-6, r_std / np.maximum(f_std, 1e-6), 1.0)
    matched = (frame - f_mean) * gain + r_mean
    return encode_png(np.clip(np.rint(matched), 0, 255).astype(np.uint8))


def colour_drift(a_png: bytes, b_png: bytes) -> dict[str, float]:
    """How ``b`` differs in colour from ``a``; the sizes may differ.

    - ``mean_colour``: distance between the mean RGB colours (0-255 units, always >= 0),
    - ``contrast``: standard deviation of luma, b minus a (0-255 units; > 0 = more contrasty),
    - ``saturation``: mean HSV saturation, b minus a (0-1; > 0 = more saturated).
    """
    a = load_rgb(a_png, what="first frame").astype(np.float64)
    b = load_rgb(b_png, what="second frame").astype(np.float64)
    mean_distance = float(np.linalg.norm(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))))
    return {
        "mean_colour": mean_distance,
        "contrast": float((b @ _LUMA).std() - (a @ _LUMA).std()),
        "saturation": float(_saturation(b) - _saturation(a)),
    }


def _saturation(rgb: np.ndarray) -> float:
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    return float(np.mean(np.where(high > 0, (high - low) / np.maximum(high, 1e-9), 0.0)))
