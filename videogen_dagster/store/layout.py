"""The one place that says where each file lives in the store.

``<video_id>/final.mp4`` and ``<video_id>/manifest.json`` are public (users and scripts read
them); everything else may move with a migration note. Internal folders start with a dot, which
a video id cannot, so no video can collide with them.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from videogen_dagster.store.base import validate_key

CACHE_PREFIX = ".cache"
JOBS_PREFIX = ".jobs"
CLAIMS_PREFIX = ".claims"
STEPS_PREFIX = ".steps"


def _video(video_id: str, *parts: str) -> str:
    return validate_key("/".join((video_id, *parts)))


def spec_source(video_id: str, suffix: str) -> str:
    """The registered copy of the spec file (``suffix`` is ``.yaml``, ``.yml`` or ``.json``)."""
    return _video(video_id, "input", f"spec{suffix}")


def input_prefix(video_id: str) -> str:
    return _video(video_id, "input") + "/"


def input_reference(video_id: str, index: int, relative_path: str) -> str:
    """A registered copy of the spec's ``index``-th reference image (named by index: a user's
    file name may hold characters a store key may not; so may its suffix, which is kept only
    when it is plain letters and digits)."""
    suffix = PurePosixPath(relative_path).suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,10}", suffix):
        suffix = ""
    return _video(video_id, "input", f"reference-{index:02d}{suffix}")


def validated_spec(video_id: str) -> str:
    return _video(video_id, "spec.json")


def planning(video_id: str) -> str:
    """The beat planning behind the validated spec (absent when the spec gave its beats)."""
    return _video(video_id, "planning.json")


def reference_image(video_id: str, index: int) -> str:
    return _video(video_id, "references", f"ref-{index:02d}.png")


def storyboard_image(video_id: str, beat_index: int) -> str:
    return _video(video_id, "storyboard", f"beat-{beat_index:03d}.png")


def contact_sheet(video_id: str) -> str:
    return _video(video_id, "storyboard", "contact_sheet.png")


def chunk(video_id: str, chunk_num: int) -> str:
    return _video(video_id, "chunks", f"chunk-{chunk_num:03d}.mp4")


def chunk_start_frame(video_id: str, chunk_num: int) -> str:
    """The frame a continuous chunk started from (its predecessor's last frame, colour-matched)."""
    return _video(video_id, "frames", f"chunk-{chunk_num:03d}-start.png")


def stitched(video_id: str) -> str:
    return _video(video_id, "stitched.mp4")


def music(video_id: str) -> str:
    return _video(video_id, "music.m4a")


def narration(video_id: str, beat_index: int) -> str:
    """A beat's speech as it is laid in the video: fitted to the beat, at the mix's rate."""
    return _video(video_id, "narration", f"beat-{beat_index:03d}.wav")


def captions_srt(video_id: str) -> str:
    return _video(video_id, "captions.srt")


def captions_vtt(video_id: str) -> str:
    return _video(video_id, "captions.vtt")


def final_video(video_id: str) -> str:
    return _video(video_id, "final.mp4")


def poster(video_id: str) -> str:
    return _video(video_id, "poster.png")


def manifest(video_id: str) -> str:
    return _video(video_id, "manifest.json")


def cost_ledger(video_id: str) -> str:
    """One JSON line per paid generation call for this video: what the budget counts."""
    return _video(video_id, "costs.jsonl")


def cached_media(fingerprint: str, suffix: str) -> str:
    return validate_key(f"{CACHE_PREFIX}/{fingerprint[:2]}/{fingerprint}{suffix}")


def cached_record(fingerprint: str) -> str:
    return validate_key(f"{CACHE_PREFIX}/{fingerprint[:2]}/{fingerprint}.json")


def cached_plan(fingerprint: str) -> str:
    return validate_key(f"{CACHE_PREFIX}/plans/{fingerprint}.json")


def clip_job(fingerprint: str) -> str:
    return validate_key(f"{JOBS_PREFIX}/{fingerprint}.json")


def generation_claim(fingerprint: str) -> str:
    """Who is generating ``fingerprint`` right now (see ``claims``); gone once it is cached."""
    return validate_key(f"{CLAIMS_PREFIX}/{fingerprint}.json")


def step_output(parts: tuple[str, ...]) -> str:
    """A pickled step output (see ``defs/io_manager``), for a store every worker reaches.

    ``parts`` are Dagster's names (asset key and partition, or run id, step key, output and
    mapping key); a character a key may not hold is written as ``@`` and its hex code.
    """
    escaped = (re.sub(r"[^A-Za-z0-9_.=+-]", lambda m: f"@{ord(m.group()):x}", p) for p in parts)
    return validate_key("/".join((STEPS_PREFIX, *escaped)))
