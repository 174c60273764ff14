"""Media operations over the pip-installed ffmpeg: probe, frames, trim, stitch, soundtrack.

Plain functions on files and PNG bytes, no Dagster. Every ffmpeg or decoder failure raises
:class:`MediaError` with the tool's own message.
"""

from videogen_dagster.media.colour import colour_drift, colour_match
from videogen_dagster.media.contact_sheet import contact_sheet
from videogen_dagster.media.continuity import (
    UNGUARDED,
    ContinuityPolicy,
    StartImage,
    beat_drift,
    continuous_start_image,
)
from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.frames import extract_first_frame, extract_last_frame
from videogen_dagster.media.images import psnr, resize_exact, thumbnail_png
from videogen_dagster.media.probe import MediaInfo, probe, probe_bytes
from videogen_dagster.media.soundtrack import add_soundtrack, mux_soundtrack, prepare_soundtrack
from videogen_dagster.media.stitch import StitchResult, stitch_clips
from videogen_dagster.media.trim import trim_clip

__all__ = [
    "UNGUARDED",
    "ContinuityPolicy",
    "MediaError",
    "MediaInfo",
    "StartImage",
    "StitchResult",
    "add_soundtrack",
    "beat_drift",
    "colour_drift",
    "colour_match",
    "contact_sheet",
    "continuous_start_image",
    "extract_first_frame",
    "extract_last_frame",
    "mux_soundtrack",
    "prepare_soundtrack",
    "probe",
    "probe_bytes",
    "psnr",
    "resize_exact",
    "stitch_clips",
    "thumbnail_png",
    "trim_clip",
]
