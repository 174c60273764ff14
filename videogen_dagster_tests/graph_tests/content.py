"""Assertions on what a render shows: real frames decoded from the store, compared by PSNR.

A render can finish with the right length and the right labels in its manifest and still be
wrong on screen: chunks stitched out of order, or a continuous chunk that starts from its
storyboard image instead of where the previous clip ended. These helpers read the pictures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np

from videogen_dagster.media import extract_first_frame, extract_last_frame
from videogen_dagster.media.images import encode_png, psnr

#: A frame against a copy of itself that went through the same encoder once more: the final
#: video against its chunks (a stream copy: identical).
SAME_FRAME_DB = 40.0
#: A continuous chunk's first frame against the previous chunk's last frame: colour matching
#: moves it a little (measured 43.6-44.1 dB after 2 s clips, 36.5 dB after 5 s clips at 144p).
CONTINUED_FRAME_DB = 33.0
#: A beat's first frame against the storyboard PNG it was encoded from (measured 34.9-36.5 dB
#: at 144p: H.264 loses more on a sharp still than on a frame it already coded).
ENCODED_IMAGE_DB = 32.0
#: What a right start must beat a wrong one by. Measured at 144p: a continuous chunk's first
#: frame is 24.7-28.9 dB from its storyboard image after 2 s clips (20.2 dB after 5 s) and
#: 15 dB or more closer to where the previous clip ended.
MARGIN_DB = 10.0
#: Neighbouring chunks' first frames are at most this close (measured 14.5-30.1 dB: another
#: beat, or the same zoom 2 s on), well under SAME_FRAME_DB, so a swapped chunk fails a seam.
NEIGHBOURS_AT_MOST_DB = 35.0


def frames(video: Path) -> list[np.ndarray]:
    """Every frame in presentation order, decoded as RGB."""
    with av.open(str(video)) as container:
        decoded = sorted(container.decode(video=0), key=lambda frame: frame.pts)
        return [frame.to_ndarray(format="rgb24") for frame in decoded]


def frame_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr(encode_png(a), encode_png(b))


def continuity_seams(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Per chunk: PSNR of its first frame against what it should start from, and against the
    beat's storyboard image (the wrong start for a continuous chunk)."""
    chunks = manifest["chunks"]
    storyboard = {
        beat["index"]: Path(beat["image"]["uri"]).read_bytes() for beat in manifest["beats"]
    }
    seams = []
    for previous, chunk in zip([None, *chunks], chunks, strict=False):
        first = extract_first_frame(Path(chunk["uri"]))
        image = storyboard[chunk["beat_index"]]
        seam: dict[str, Any] = {
            "chunk_num": chunk["chunk_num"],
            "kind": chunk["kind"],
            "vs_storyboard": psnr(first, image),
        }
        if chunk["kind"] == "continuous":
            assert previous is not None and previous["beat_index"] == chunk["beat_index"]
            seam["vs_previous_last"] = psnr(first, extract_last_frame(Path(previous["uri"])))
        seams.append(seam)
    return seams


def assert_chunks_continue_their_chain(manifest: dict[str, Any]) -> None:
    """A beat's first chunk starts on its storyboard image; each later chunk on the previous
    chunk's last frame, which is a different picture from the storyboard image."""
    seams = continuity_seams(manifest)
    assert any(seam["kind"] == "continuous" for seam in seams), "no continuous chunk to check"
    for seam in seams:
        if seam["kind"] == "reference_image":
            assert seam["vs_storyboard"] >= ENCODED_IMAGE_DB, seam
        else:
            assert seam["vs_previous_last"] >= CONTINUED_FRAME_DB, seam
            assert seam["vs_previous_last"] >= seam["vs_storyboard"] + MARGIN_DB, seam


def assert_video_is_the_chunks_in_manifest_order(video: Path, manifest: dict[str, Any]) -> None:
    """The frames on both sides of every seam of ``video`` are the chunks' own edge frames,
    in the manifest's chunk order (and no frame is missing or extra)."""
    shown = frames(video)
    chunk_frames = [frames(Path(chunk["uri"])) for chunk in manifest["chunks"]]
    assert len(shown) == sum(len(f) for f in chunk_frames)
    position = 0
    for chunk, own in zip(manifest["chunks"], chunk_frames, strict=True):
        for offset in (0, len(own) - 1):
            here = frame_psnr(shown[position + offset], own[offset])
            assert here >= SAME_FRAME_DB, (chunk["chunk_num"], offset, here)
        position += len(own)


def assert_neighbouring_chunks_differ(manifest: dict[str, Any]) -> None:
    """Chunks next to each other look different at their starts, so that an order mistake
    shows in the frame comparisons above (the local provider's content is distinct enough)."""
    firsts = [extract_first_frame(Path(chunk["uri"])) for chunk in manifest["chunks"]]
    for a, b in zip(firsts, firsts[1:], strict=False):
        assert psnr(a, b) <= NEIGHBOURS_AT_MOST_DB, psnr(a, b)
