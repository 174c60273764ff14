"""Encodes nobody waits for yet run nicer than the steps' Python; the rest at our priority.

Observed from outside, as the OS sees them: the niceness of the ffmpeg processes this test's
process starts, read from /proc while each command runs.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from videogen_dagster.media import prepare_soundtrack
from videogen_dagster.media.encode import AAC_OPTIONS, encode_pcm_to_m4a, encode_yuv420p_frames
from videogen_dagster.media.ffmpeg import BACKGROUND_NICENESS, run
from videogen_dagster_tests.media_tests.support import local_clip, storyboard

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads niceness from /proc")

OURS = os.getpriority(os.PRIO_PROCESS, 0)
NICER = min(OURS + BACKGROUND_NICENESS, 19)


def _ffmpeg_children() -> dict[int, int]:
    """pid → niceness of this process's ffmpeg children."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        fields = rest.split()  # from field 3 (state) on: ppid is field 4, nice field 19
        if name.startswith("ffmpeg") and int(fields[1]) == os.getpid():
            found[int(entry)] = int(fields[16])
    return found


def _niceness_while(command: Callable[[], object]) -> set[int]:
    """The niceness of every ffmpeg child seen while ``command`` runs (polled from a thread)."""
    seen: dict[int, int] = {}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.update(_ffmpeg_children())
            done.wait(0.002)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        command()
    finally:
        done.set()
        poller.join()
    return set(seen.values())


def test_a_background_pipe_runs_nicer_and_a_foreground_one_at_our_priority(tmp_path: Path):
    def frames(seen: list[dict[int, int]]) -> Iterator[bytes]:
        for index in range(12):
            if index == 6:  # ffmpeg is running and reading: look at it
                seen.append(_ffmpeg_children())
            yield bytes(64 * 64 * 3 // 2)

    niceness = {}
    for background in (True, False):
        seen: list[dict[int, int]] = []
        dst = tmp_path / f"{background}.mp4"
        encode_yuv420p_frames(frames(seen), dst, width=64, height=64, fps=12, background=background)
        assert dst.stat().st_size > 0
        (children,) = seen
        niceness[background] = set(children.values())

    assert niceness == {True: {NICER}, False: {OURS}}


def test_the_soundtrack_is_encoded_in_the_background(tmp_path: Path):
    music = tmp_path / "bed.m4a"
    noise = np.random.default_rng(1).uniform(-0.3, 0.3, size=(44100 * 30, 2))
    encode_pcm_to_m4a(noise, music, sample_rate=44100, lossless=True)

    seen = _niceness_while(lambda: prepare_soundtrack(music, tmp_path / "track.m4a", 30.0))

    assert seen == {NICER}
    assert (tmp_path / "track.m4a").stat().st_size > 0


def test_the_local_providers_clip_encode_runs_in_the_background(tmp_path: Path):
    start = storyboard("a lighthouse")

    seen = _niceness_while(lambda: local_clip(tmp_path / "clip.mp4", start, duration=5.0))

    assert seen == {NICER}


@pytest.mark.parametrize("background", [True, False], ids=["background", "foreground"])
def test_a_command_runs_nicer_only_when_asked(tmp_path: Path, background: bool):
    silence = ffmpeg.input("anullsrc=r=44100:cl=stereo", f="lavfi", t=30)
    stream = ffmpeg.output(silence, str(tmp_path / "out.m4a"), **AAC_OPTIONS)

    seen = _niceness_while(lambda: run(stream, what="encode silence", background=background))

    assert seen == ({NICER} if background else {OURS})
