"""Media engine and local provider speed on this machine, and chained drift with and without guards.

Measures: rendering one local 5 s 720p chunk (24 and 30 fps), a 720p storyboard image and a
60 s music bed; extracting a chunk's last frame; stitching 12 and 60 chunks by stream copy
(whole call: codec check, ffmpeg, probe of the result) and laying music under the 60-chunk
video; and the colour drift of a 7-chunk beat (6 hops) whose clips creep like real models
(``drift_per_clip``), unguarded and guarded. Each timing is the median of ``--repeat`` runs.
Not a test: timings depend on the machine and its load.

    .venv/bin/python bench/bench_media.py bench/out/media.json [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from videogen_dagster.media import (
    UNGUARDED,
    ContinuityPolicy,
    add_soundtrack,
    beat_drift,
    continuous_start_image,
    extract_first_frame,
    extract_last_frame,
    probe,
    psnr,
    stitch_clips,
)
from videogen_dagster.providers.base import ClipRequest, ImageRequest, MusicRequest
from videogen_dagster.providers.local import LocalSettings, local_provider

PROVIDER = local_provider(LocalSettings())
SIZE = PROVIDER.size_for("16:9")


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (ffmpeg)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, action: Callable[[], object], repeat: int, rows: list[dict]) -> object:
    """Run ``action`` ``repeat`` times; record median wall and CPU seconds; return the result.

    CPU seconds barely move with the machine's load, wall seconds do: both are reported.
    """
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        result = action()
        wall.append(time.perf_counter() - start)
        cpu.append(cpu_seconds() - start_cpu)
    rows.append(
        {
            "operation": label,
            "seconds": statistics.median(wall),
            "cpu_seconds": statistics.median(cpu),
            "runs": repeat,
        }
    )
    return result


def storyboard(prompt: str) -> bytes:
    return PROVIDER.images.generate_image(ImageRequest(prompt=prompt, size=SIZE, seed=1)).data


def render_chunk(start: bytes, fps: int = 24, prompt: str = "a slow push in") -> bytes:
    request = ClipRequest(
        start_image=start, prompt=prompt, size=SIZE, fps=fps, duration=5.0, seed=1
    )
    return PROVIDER.clips.generate_clip(request).data


def speed(work: Path, repeat: int) -> list[dict]:
    rows: list[dict] = []
    board = timed("storyboard image 1280x720", lambda: storyboard("a harbour"), repeat, rows)
    timed("local chunk 5 s 1280x720 @ 30 fps", lambda: render_chunk(board, 30), repeat, rows)
    chunk = timed("local chunk 5 s 1280x720 @ 24 fps", lambda: render_chunk(board), repeat, rows)
    first = work / "chunk.mp4"
    first.write_bytes(chunk)
    timed("last frame of a 5 s 720p chunk (PNG)", lambda: extract_last_frame(first), repeat, rows)
    music = PROVIDER.music.generate_music(MusicRequest(prompt="calm", duration=60.0, seed=1))
    timed(
        "music bed 60 s (synthesis + FLAC)",
        lambda: PROVIDER.music.generate_music(MusicRequest(prompt="calm", duration=60, seed=1)),
        repeat,
        rows,
    )
    # Four distinct chunks, copied to fill 60 slots: stream copy cost does not depend on
    # content, and rendering 60 would only time the renderer again.
    distinct = [first] + [work / f"chunk{i}.mp4" for i in range(1, 4)]
    for index, path in enumerate(distinct[1:], start=1):
        path.write_bytes(render_chunk(storyboard(f"beat {index}"), prompt=f"beat {index}"))
    slots = []
    for index in range(60):
        slot = work / f"slot{index:02d}.mp4"
        shutil.copyfile(distinct[index % len(distinct)], slot)
        slots.append(slot)
    for count in (12, 60):
        result = timed(
            f"stitch {count} chunks (stream copy, {count * 5} s)",
            lambda count=count: stitch_clips(slots[:count], work / f"stitched{count}.mp4"),
            repeat,
            rows,
        )
        assert not result.reencoded, "benchmark chunks should stream-copy"
    music_path = work / "music.m4a"
    music_path.write_bytes(music.data)
    timed(
        "soundtrack under the 300 s video (music looped)",
        lambda: add_soundtrack(work / "stitched60.mp4", music_path, work / "final.mp4"),
        repeat,
        rows,
    )
    return rows


def drift(work: Path) -> list[dict]:
    """A 7-chunk beat of 1 s 720p clips creeping 8 % per clip, under each continuity policy."""
    settings = LocalSettings(clip_lengths=(1.0,), drift_per_clip=0.08)
    clips = local_provider(settings).clips
    board = storyboard("a lighthouse on a cliff")
    policies = {
        "unguarded": UNGUARDED,
        "colour match": ContinuityPolicy(colour_match=True, reanchor_after_hops=0),
        "re-anchor after 2 hops": ContinuityPolicy(colour_match=False, reanchor_after_hops=2),
        "colour match + re-anchor after 2 hops": ContinuityPolicy(reanchor_after_hops=2),
        "colour match + re-anchor after 4": ContinuityPolicy(reanchor_after_hops=4),
    }
    rows = []
    for name, policy in policies.items():
        chunks: list[Path] = []
        start = board
        for position in range(7):
            if position:
                start = continuous_start_image(
                    position,
                    previous_last_frame=extract_last_frame(chunks[-1]),
                    storyboard_image=board,
                    colour_reference=board,
                    policy=policy,
                ).png
            request = ClipRequest(
                start_image=start, prompt="push in", size=SIZE, fps=24, duration=1.0, seed=1
            )
            path = work / f"drift-{len(rows)}-{position}.mp4"
            path.write_bytes(clips.generate_clip(request).data)
            chunks.append(path)
        seams = [
            psnr(extract_last_frame(a), extract_first_frame(b))
            for a, b in zip(chunks, chunks[1:], strict=False)
        ]
        rows.append(
            {"policy": name, **beat_drift(chunks[0], chunks[-1]), "worst_seam_psnr_db": min(seams)}
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where to write the JSON results")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-media-") as folder:
        work = Path(folder)
        speed_rows = speed(work, args.repeat)
        stitched = probe(work / "stitched60.mp4")
        drift_rows = drift(work)
    print(f"## Media engine on {os.cpu_count()} cores\n")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}\n")
    print("| operation | median wall s | median CPU s |\n|---|---:|---:|")
    for row in speed_rows:
        print(f"| {row['operation']} | {row['seconds']:.3f} | {row['cpu_seconds']:.3f} |")
    print(f"\n60-chunk stitch: {stitched.frame_count} frames, {stitched.duration:.3f} s\n")
    print("## Drift over a 7-chunk beat (8 % creep per clip)\n")
    print("| policy | mean colour Δ | contrast Δ | saturation Δ | worst seam PSNR dB |")
    print("|---|---:|---:|---:|---:|")
    for row in drift_rows:
        print(
            f"| {row['policy']} | {row['mean_colour']:.2f} | {row['contrast']:+.2f} "
            f"| {row['saturation']:+.3f} | {row['worst_seam_psnr_db']:.1f} |"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {"cpu_count": os.cpu_count(), "speed": speed_rows, "drift": drift_rows}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
