"""Step threads take turns at the interpreter, the first-yielded branch first.

Why: a run's steps are threads of one process, and CPython runs one thread's Python at a time,
handing the GIL round in 5 ms slices. When twenty generation calls return at the same instant,
each with 40-50 ms of Python still to run (verifying and caching the result, Dagster's output
and events, launching the next step), slices handed round-robin make all twenty finish at the
end of the burst, about a second later, whatever their order, and the beat that sets the
video's end is as late as the others. Taking turns, the k-th to get one finishes after k turns,
and a turn goes first to the branch that was yielded first (the longest chain: see
``ChunkPlan.beats_longest_chain_first``).

A thread gives its turn up while it waits (:func:`waiting`: a provider call, ffmpeg, a retry's
sleep, a file's flush to disk) and queues for one again when the wait is over. Between two
waits it lets a better-placed thread go first at the points it marks with :func:`give_way`
(the executor marks every Dagster event a step emits): a step that took the turn while it was
free (the music, started before the chain's next step existed) would otherwise keep it from
that step until its own next wait. A wait nobody marked (a plug-in provider's HTTP call)
cannot stall the others: when no turn has been handed over for ``patience`` seconds, the
best-placed waiter gets one as well, so such a wait costs each thread behind it at most that
long before they share the interpreter's slices as without turns.

Threads that never take a turn (the executor's orchestrating loop, the CLI, the multiprocess
executor's steps) run as before, and :func:`waiting` does nothing on them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

#: Longest a thread waits while no turn changes hands, before it takes one anyway: longer than
#: the Python between two waits of one of our steps, short against a generation call.
PATIENCE_SECONDS = 0.05


#: A place in the queue, compared element by element: lowest first.
Rank = tuple[int, ...]


@dataclass(order=True)
class _Ticket:
    rank: Rank
    order: int
    granted: threading.Event = field(default_factory=threading.Event, compare=False)


class Turns:
    """Turns at the interpreter among the threads of a process: lowest rank first, then FIFO."""

    def __init__(self, patience: float = PATIENCE_SECONDS) -> None:
        self._patience = patience
        self._lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._order = itertools.count()
        self._holders = 0
        self._last_grant = time.monotonic()

    @property
    def holders(self) -> int:
        """Threads holding a turn now: 1 while every wait is marked, more after a patience grant."""
        return self._holders

    @property
    def queued(self) -> int:
        """Threads waiting for a turn now."""
        return len(self._queue)

    @contextmanager
    def turn(self, rank: Rank) -> Iterator[None]:
        """Run the block (a step's whole body) in turns, giving them up in :func:`waiting`."""
        if getattr(_here, "turns", None) is not None:
            raise RuntimeError("this thread is already taking turns")
        _here.turns, _here.rank, _here.holding = self, rank, False
        try:
            self._acquire(rank)
            _here.holding = True
            yield
        finally:
            if _here.holding:
                self._release()
            _here.turns = None

    def _acquire(self, rank: Rank) -> None:
        ticket = _Ticket(rank, next(self._order))
        try:
            with self._lock:
                if self._holders == 0:
                    self._grant(ticket)
                    return
                heapq.heappush(self._queue, ticket)
            while not ticket.granted.wait(self._patience):
                with self._lock:
                    stale = time.monotonic() - self._last_grant >= self._patience
                    if stale and self._queue and not ticket.granted.is_set():
                        self._grant(heapq.heappop(self._queue))
        except BaseException:  # an interrupt while queued: leave the queue, pass on a turn
            with self._lock:
                if ticket.granted.is_set():
                    self._let_go()
                elif ticket in self._queue:
                    self._queue.remove(ticket)
                    heapq.heapify(self._queue)
            raise

    def _give_way(self, rank: Rank) -> bool:
        """Hand the turn to a queued thread ranked better than ``rank``; whether it did. Not
        while another thread holds one too (after a patience grant): handing over would then
        grant nothing, and the better thread gets the next turn freed anyway."""
        with self._lock:
            if self._holders != 1 or not self._queue or not self._queue[0].rank < rank:
                return False
            self._let_go()
            return True

    def _release(self) -> None:
        with self._lock:
            self._let_go()

    def _let_go(self) -> None:
        """Give a held turn back and hand it to the best-placed waiter. Call with the lock."""
        self._holders -= 1
        if self._holders == 0 and self._queue:
            self._grant(heapq.heappop(self._queue))

    def _grant(self, ticket: _Ticket) -> None:
        self._holders += 1
        self._last_grant = time.monotonic()
        ticket.granted.set()


_here = threading.local()

#: The process's turns: one interpreter, so one queue for every run in the process.
TURNS = Turns()


def give_way() -> None:
    """Let a thread ranked better than this one take the turn first, then queue again.

    Costs a lock and a look at the queue when nobody better waits; threads of equal rank keep
    their order (no churn among the beats of one rank). No effect on a thread that takes no
    turns, or inside a ``waiting`` block.
    """
    turns: Turns | None = getattr(_here, "turns", None)
    if turns is None or not _here.holding:
        return
    _here.holding = False  # as in ``waiting``: never counted as held once it may be handed on
    if turns._give_way(_here.rank):
        turns._acquire(_here.rank)
    _here.holding = True


@contextmanager
def waiting() -> Iterator[None]:
    """Give up this thread's turn for the block (a wait on I/O, a subprocess or a sleep).

    No effect on a thread that takes no turns, or inside another ``waiting`` block.
    """
    turns: Turns | None = getattr(_here, "turns", None)
    if turns is None or not _here.holding:
        yield
        return
    _here.holding = False
    turns._release()
    try:
        yield
    finally:
        turns._acquire(_here.rank)
        _here.holding = True
