"""Turns at the interpreter: one holder at a time, best rank first, waits hand the turn on.

Threads here coordinate through events and the queue's own counters, so every assertion is
about order and counts; no test depends on how long anything takes, except the patience test,
which only needs a blocked holder to be overtaken at all.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable

import pytest

from videogen_dagster.turns import Turns, give_way, waiting

pytestmark = pytest.mark.timeout(60)

#: Patience long enough that no test but the patience test ever reaches it.
NEVER = 30.0


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.001)


def _start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _hold_until(turns: Turns, release: threading.Event) -> threading.Thread:
    """A thread that takes a turn and keeps it, in an unmarked wait, until ``release`` is set."""

    def body() -> None:
        with turns.turn((0,)):
            release.wait()

    thread = _start(body)
    _until(lambda: turns.holders == 1)
    return thread


def test_queued_threads_get_their_turns_best_rank_first_then_in_arrival_order() -> None:
    turns = Turns(patience=NEVER)
    order: list[str] = []
    leave = threading.Event()

    def queued(name: str, rank: tuple[int, int]) -> Callable[[], None]:
        def body() -> None:
            with turns.turn(rank):
                order.append(name)

        return body

    threads = [_hold_until(turns, leave)]
    arrivals = [("c", (1, 0)), ("a1", (0, 1)), ("b", (0, 2)), ("a2", (0, 1)), ("z", (-1, 9))]
    for count, (name, rank) in enumerate(arrivals):
        threads.append(_start(queued(name, rank)))
        _until(lambda count=count: turns.queued == count + 1)
    leave.set()
    for thread in threads:
        thread.join()
    assert order == ["z", "a1", "a2", "b", "c"]
    assert turns.holders == 0 and turns.queued == 0


def test_only_one_thread_runs_python_in_turns_at_a_time() -> None:
    turns = Turns(patience=NEVER)
    inside = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Barrier(6)

    def body() -> None:
        nonlocal inside, peak
        with turns.turn((0,)):
            for lap in range(5):
                with lock:
                    inside += 1
                    peak = max(peak, inside)
                sum(range(400_000))  # longer than the interpreter's 5 ms switch interval
                with lock:
                    inside -= 1
                with waiting():
                    gate.wait() if lap == 0 else time.sleep(0.0005)

    threads = [_start(body) for _ in range(6)]
    for thread in threads:
        thread.join()
    assert peak == 1


def test_a_marked_wait_hands_the_turn_to_the_next_thread() -> None:
    turns = Turns(patience=NEVER)
    answered = threading.Event()
    events: list[str] = []

    def asker() -> None:
        with turns.turn((0,)):
            events.append("ask")
            with waiting():
                answered.wait()  # without handing over, the answerer could never run
            events.append("answered")

    def answerer() -> None:
        with turns.turn((5,)):
            events.append("answer")
            answered.set()

    first = _start(asker)
    _until(lambda: events == ["ask"])
    second = _start(answerer)
    first.join()
    second.join()
    assert events == ["ask", "answer", "answered"]


def test_giving_way_lets_only_better_ranked_threads_go_first() -> None:
    turns = Turns(patience=NEVER)
    order: list[str] = []
    better_queued = threading.Event()

    def holder() -> None:
        with turns.turn((1, 0)):
            order.append("held")
            _until(lambda: turns.queued == 2)  # one ranked worse, one ranked the same
            give_way()
            order.append("kept")  # neither is better: no turn changed hands
            better_queued.wait()
            give_way()
            order.append("resumed")  # after the better one, and the equal one queued earlier

    def queued(name: str, rank: tuple[int, int]) -> Callable[[], None]:
        def body() -> None:
            with turns.turn(rank):
                order.append(name)

        return body

    threads = [_start(holder)]
    _until(lambda: order == ["held"])
    for count, (name, rank) in enumerate([("worse", (2, 0)), ("equal", (1, 0))]):
        threads.append(_start(queued(name, rank)))
        _until(lambda count=count: turns.queued == count + 1)
    _until(lambda: order == ["held", "kept"])
    threads.append(_start(queued("better", (0, 5))))
    _until(lambda: turns.queued == 3)
    better_queued.set()
    for thread in threads:
        thread.join()
    assert order == ["held", "kept", "better", "equal", "resumed", "worse"]
    assert turns.holders == 0 and turns.queued == 0


def test_an_unmarked_wait_is_overtaken_after_patience_instead_of_stalling_everyone() -> None:
    turns = Turns(patience=0.05)
    answered = threading.Event()
    seen_holders: list[int] = []

    def answerer() -> None:
        with turns.turn((1,)):
            seen_holders.append(turns.holders)
            answered.set()

    first = _hold_until(turns, answered)  # not marked: it keeps its turn while it waits
    second = _start(answerer)
    first.join()
    second.join()
    assert seen_holders == [2]
    assert turns.holders == 0


def test_waiting_or_giving_way_outside_turns_or_inside_a_wait_changes_nothing() -> None:
    turns = Turns(patience=NEVER)
    with waiting():  # a thread that takes no turns: the CLI, the multiprocess executor
        give_way()
    with turns.turn((0,)):
        with waiting():
            assert turns.holders == 0
            with waiting():
                give_way()
                assert turns.holders == 0
        assert turns.holders == 1
    assert turns.holders == 0


def test_an_error_inside_a_turn_or_a_wait_gives_the_turn_back() -> None:
    turns = Turns(patience=NEVER)
    with pytest.raises(RuntimeError, match="in the turn"), turns.turn((0,)):
        raise RuntimeError("in the turn")
    with pytest.raises(RuntimeError, match="in the wait"), turns.turn((0,)), waiting():
        raise RuntimeError("in the wait")
    assert turns.holders == 0
    with turns.turn((0,)):  # still usable: the thread is no longer marked as taking turns
        assert turns.holders == 1


class _Stop(Exception):
    """Raised in a queued thread from outside, as the executor interrupts a step thread."""


def test_a_thread_interrupted_while_queued_leaves_no_turn_behind() -> None:
    turns = Turns(patience=0.05)
    leave = threading.Event()
    stopped: list[BaseException] = []

    def queued() -> None:
        try:
            with turns.turn((1,)):
                while True:  # a granted turn is interrupted here instead
                    time.sleep(0.001)
        except _Stop as stop:
            stopped.append(stop)

    first = _hold_until(turns, leave)  # unmarked: patience may grant the queued thread a turn
    second = _start(queued)
    _until(lambda: turns.queued == 1 or turns.holders == 2)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(second.ident), ctypes.py_object(_Stop)
    )
    second.join()
    leave.set()
    first.join()
    assert len(stopped) == 1
    assert turns.holders == 0 and turns.queued == 0
    with turns.turn((0,)):
        assert turns.holders == 1


def test_turns_do_not_nest() -> None:
    turns = Turns(patience=NEVER)
    with (
        turns.turn((0,)),
        pytest.raises(RuntimeError, match="already taking turns"),
        turns.turn((0,)),
    ):
        pass
    assert turns.holders == 0
