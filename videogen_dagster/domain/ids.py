"""Video ids: the spec file's stem, and the first segment of every store key of that video.

The id becomes a folder name in the store, a Dagster partition key and part of file names
handed to ffmpeg, so it is limited to characters that are safe in all three: lower-case
letters, digits, ``-`` and ``_``, 1 to 64 of them, and not starting with ``-`` (which a
command line would read as an option). No id can name a path outside the store.
"""

from __future__ import annotations

import re

VIDEO_ID_PATTERN = re.compile(r"(?!-)[a-z0-9_-]{1,64}")
VIDEO_ID_RULE = "1 to 64 lower-case letters, digits, '-' or '_', not starting with '-'"


def validate_video_id(video_id: str) -> str:
    """``video_id`` unchanged when it follows the id rule, else a ``ValueError`` naming it."""
    if not isinstance(video_id, str) or not VIDEO_ID_PATTERN.fullmatch(video_id):
        shown = video_id if len(str(video_id)) <= 80 else f"{str(video_id)[:77]}..."
        raise ValueError(f"video id {shown!r} is not valid: it must be {VIDEO_ID_RULE}")
    return video_id
