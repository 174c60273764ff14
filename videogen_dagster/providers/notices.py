"""What a provider tells the person watching while a call runs: queued, cut, still waiting.

A provider is built once per process and shared by every step's thread, so it cannot hold a
step's logger. The step hands its logger in for the length of the call instead
(``with notices_to(context.log.info): ...``); the provider calls ``notice(message)``. The
listener lives in a context variable, and each executor thread has its own context, so steps
running at once never read each other's notices. Notices also go to this module's Python
logger, for runs outside Dagster (tests, scripts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger(__name__)

Listener = Callable[[str], None]

_listener: ContextVar[Listener | None] = ContextVar("videogen_provider_notices", default=None)


@contextmanager
def notices_to(listener: Listener) -> Iterator[None]:
    """Send the notices of provider calls made inside the block to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def notice(message: str) -> None:
    """Tell the current step's listener (if any) and the Python log."""
    log.info(message)
    listener = _listener.get()
    if listener is not None:
        listener(message)
