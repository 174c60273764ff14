"""Running the pip-installed ffmpeg binary through ffmpeg-python.

There is no system ffmpeg (and no ffprobe): ``imageio_ffmpeg`` ships the binary, and every
command goes through :func:`run` or :func:`pipe_into`, so a failure always becomes a
:class:`MediaError` carrying ffmpeg's own message.

A command whose result is not awaited yet (the local provider's encodes, which stand for a
remote API's own servers, and the soundtrack, made while the clips are) runs in the
*background*: at a lower OS priority, so that on a busy machine the cores go first to the
steps' Python. In a 20-beat run the steps' Python was runnable but off the CPU a third of
the time it ran, behind such encodes (``bench/RESULTS.md``).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import ffmpeg
import imageio_ffmpeg

from videogen_dagster.media.errors import MediaError

#: How much nicer than the caller a background command runs (at most 19, the nicest there is).
BACKGROUND_NICENESS = 10

#: Quiet but not silent: errors still reach stderr, which MediaError carries.
GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error")


@cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def run(stream: ffmpeg.nodes.OutputStream, *, what: str, background: bool = False) -> bytes:
    """Run one ffmpeg command; returns its stdout. ``what`` names the operation and file."""
    process = _start(stream, background=background, pipe_stdout=True, pipe_stderr=True)
    out, err = process.communicate()
    if process.returncode != 0:
        raise MediaError(f"ffmpeg failed to {what}", stderr=_text(err))
    return out


def pipe_into(
    stream: ffmpeg.nodes.OutputStream,
    chunks: Iterable[bytes],
    *,
    what: str,
    background: bool = False,
) -> None:
    """Run ffmpeg feeding ``chunks`` to its stdin as they are produced (raw frames, samples).

    Streaming keeps memory flat for long clips, and lets the Python side render the next
    frame while ffmpeg encodes the previous one (two processes, two cores). stderr is drained
    on a thread so a chatty ffmpeg can never block on a full pipe while we block on stdin.
    """
    process = _start(stream, background=background, pipe_stdin=True, pipe_stderr=True)
    assert process.stdin is not None and process.stderr is not None
    stderr_parts: list[bytes] = []
    drain = threading.Thread(target=lambda: stderr_parts.append(process.stderr.read()))
    drain.start()
    broken = False
    try:
        for chunk in chunks:
            process.stdin.write(chunk)
    except BrokenPipeError:
        broken = True  # ffmpeg exited early; its stderr says why
    finally:
        try:
            process.stdin.close()
        except BrokenPipeError:
            broken = True
        returncode = process.wait()
        drain.join()
        process.stderr.close()
    if returncode != 0 or broken:
        raise MediaError(f"ffmpeg failed to {what}", stderr=_text(b"".join(stderr_parts)))


def _start(
    stream: ffmpeg.nodes.OutputStream, *, background: bool, **pipes: bool
) -> subprocess.Popen[bytes]:
    """ffmpeg started on ``stream``; a ``background`` one made ``BACKGROUND_NICENESS`` nicer
    than this thread as soon as it exists. Where the OS has no niceness (Windows) or refuses
    it, the command runs at normal priority: slower scheduling, never a failure."""
    process = stream.global_args(*GLOBAL_ARGS).run_async(
        cmd=ffmpeg_exe(), overwrite_output=True, **pipes
    )
    if background:
        try:
            mine = os.getpriority(os.PRIO_PROCESS, 0)
            os.setpriority(os.PRIO_PROCESS, process.pid, min(mine + BACKGROUND_NICENESS, 19))
        except (AttributeError, OSError):  # no setpriority here, or the command already exited
            pass
    return process


def _text(stderr: bytes | None) -> str:
    return (stderr or b"").decode("utf-8", errors="replace")


@contextmanager
def atomic_output(dst: Path) -> Iterator[Path]:
    """A temporary path beside ``dst`` that replaces ``dst`` only if the block succeeds.

    A killed or failed ffmpeg never leaves a half-written file under the final name, where a
    later step (or a cache check) would take it for a finished one. The temporary name keeps
    the suffix, from which ffmpeg picks the container.
    """
    partial = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    try:
        yield partial
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)
