"""Claims on generations in flight, so two renders of one video pay for each generation once.

The cache makes a finished generation free for everyone; a claim covers the time before it is
finished. Whoever is about to pay for a fingerprint first creates its claim object
(``Store.create_exclusive``: ``os.link`` of a finished file in a folder, a conditional put
``If-None-Match: *`` on S3), so exactly one process wins; the others wait until the winner's
result is in the cache, then use it at no cost. The winner refreshes the claim (a heartbeat)
while it works and deletes it when done, whether it succeeded or not; if it failed, a waiter
claims the generation and pays for it itself.

A claim whose owner is gone (same host and its process id no longer runs, or no heartbeat for
``STALE_AFTER_SECONDS``) is taken over with a conditional replace of exactly the version found
stale, so two waiters cannot both take it over. Nothing here knows about Dagster or providers.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import TypeVar

from videogen_dagster import waits
from videogen_dagster.store.base import Store

log = logging.getLogger(__name__)

#: How often the owner of a claim refreshes it.
HEARTBEAT_SECONDS = 5.0
#: A claim not refreshed for this long is abandoned (its owner hung, or died on another host).
STALE_AFTER_SECONDS = 60.0
#: A waiter looks for the result after this long at first, then less often, up to the maximum.
FIRST_POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 2.0

T = TypeVar("T")


@dataclass(frozen=True)
class ClaimRecord:
    """What a claim object holds: who owns it and when it last showed a sign of life."""

    owner: str
    host: str
    pid: int
    what: str
    heartbeat_at: float

    @classmethod
    def mine(cls, what: str) -> ClaimRecord:
        return cls(secrets.token_hex(8), socket.gethostname(), os.getpid(), what, time.time())

    @classmethod
    def parse(cls, data: bytes) -> ClaimRecord | None:
        """The record, or None when ``data`` is not one (a claim nobody can be waiting on)."""
        try:
            record = cls(**json.loads(data))
        except (ValueError, TypeError):
            return None
        numbers = isinstance(record.pid, int) and isinstance(record.heartbeat_at, int | float)
        return record if numbers else None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    def abandoned(self, now: float) -> str | None:
        """Why this claim's owner is gone, or None while it may still be working."""
        if self.host == socket.gethostname() and not process_alive(self.pid):
            return f"its process {self.pid} is gone"
        if now - self.heartbeat_at > STALE_AFTER_SECONDS:
            return f"no heartbeat for {now - self.heartbeat_at:.0f} s"
        return None

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}"


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs on this host (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): the signal said it exists


class _Heartbeat:
    """Refreshes a held claim on a thread of its own until ``stop``; knows its last version."""

    def __init__(self, store: Store, key: str, record: ClaimRecord, version: str) -> None:
        self._store, self._key, self._record = store, key, record
        self.version: str | None = version
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"claim {key}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_SECONDS) and self.version is not None:
            record = replace(self._record, heartbeat_at=time.time())
            try:
                self.version = self._store.replace_if(self._key, record.to_bytes(), self.version)
            except Exception as error:  # the next beat tries again; staleness takes a minute
                log.warning("%s: cannot refresh the claim: %s", self._key, error)
                continue
            if self.version is None:
                log.warning("%s: the claim was taken over by another process", self._key)

    def stop(self) -> str | None:
        self._stopped.set()
        self._thread.join()
        return self.version


@contextmanager
def generation_claimed(
    store: Store,
    key: str,
    what: str,
    finished: Callable[[], T | None],
    *,
    on_wait: Callable[[str], None] = log.info,
    sleep: Callable[[float], None] = waits.sleep,
) -> Iterator[T | None]:
    """Yield None once this process holds the claim at ``key`` and must do the work, or the
    result ``finished()`` returns once another process has done it.

    ``finished`` looks the result up (in the cache) and returns None while there is none.
    ``on_wait`` hears once, in words for the person watching, that this waits and for whom.
    The claim is released when the block ends, however it ends.
    """
    mine = ClaimRecord.mine(what)
    poll, announced = FIRST_POLL_SECONDS, False
    while True:
        version = store.create_exclusive(key, mine.to_bytes())
        if version is not None:
            break
        found = store.read_versioned(key)
        if found is None:
            continue  # released in between: try again
        data, theirs = found
        owner = ClaimRecord.parse(data)
        reason = owner.abandoned(time.time()) if owner else "it cannot be read"
        if reason is not None:
            version = store.replace_if(key, mine.to_bytes(), theirs)
            if version is not None:
                log.warning("%s: took over the claim of %s: %s", what, owner or "?", reason)
                break
            continue
        if not announced:
            on_wait(f"{what}: waiting for {owner}, which is generating it already")
            announced = True
        sleep(poll)
        poll = min(poll * 1.5, MAX_POLL_SECONDS)
        result = finished()
        if result is not None:
            yield result
            return

    heartbeat = _Heartbeat(store, key, mine, version)
    try:
        # The previous owner may have finished between our caller's cache check and our claim.
        yield finished()
    finally:
        last = heartbeat.stop()
        if last is not None:
            try:
                store.delete_if(key, last)
            except Exception as error:  # a leftover claim goes stale; the result is cached
                log.warning("%s: cannot release the claim: %s", key, error)
