"""Waits that an interrupted run cuts short: where a step on a thread stops when told to.

Why: the threaded executor runs a run's steps on threads of one process, and a signal reaches
only the main thread. To stop a step that waits on a provider (a clip takes 30-120 s), the
executor used to raise an exception inside the step's thread at its next bytecode. That
exception can land anywhere, also between a lock's ``acquire`` and the ``try`` that releases
it (``logging.Handler.handle`` has such a gap): the lock then stays held, and every thread
that logs, the run's own failure event included, waits for it for ever (a killed
``videogen render`` left its run STARTED that way). So a step stops only where it is safe to:
in :func:`sleep`, which every wait of ours uses (a provider's pacing and polling, a retry's
back-off, waiting for another process's claim). There it raises the executor's interrupt
error as soon as the run is interrupted; a step busy elsewhere (an HTTP call, ffmpeg) stops at
its next wait, or ends.

This module knows nothing of Dagster: the executor says, per step thread, which event tells of
an interrupt and what to raise (:func:`interrupted_by`). Outside such a thread (the in-process
and multiprocess executors' steps, which Dagster interrupts with a signal in their main
thread; scripts; tests) :func:`sleep` is ``time.sleep``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_INTERRUPT: ContextVar[tuple[threading.Event, type[BaseException]] | None] = ContextVar(
    "videogen_wait_interrupt", default=None
)


def sleep(seconds: float) -> None:
    """``time.sleep(seconds)``, ended early by raising the interrupt error of the step thread
    this runs on once its run is interrupted (at once, if it already was)."""
    interrupt = _INTERRUPT.get()
    if interrupt is None:
        time.sleep(max(seconds, 0.0))
        return
    event, error = interrupt
    if event.wait(max(seconds, 0.0)):
        raise error()


@contextmanager
def interrupted_by(event: threading.Event, error: type[BaseException]) -> Iterator[None]:
    """Within this block, :func:`sleep` on this thread raises ``error`` once ``event`` is set."""
    token = _INTERRUPT.set((event, error))
    try:
        yield
    finally:
        _INTERRUPT.reset(token)
