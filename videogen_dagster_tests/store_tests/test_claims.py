"""Claims on generations in flight, in a folder and in S3 (moto's server on 127.0.0.1).

What matters: of processes racing for one claim exactly one wins; the others get the winner's
result instead of doing the work; a claim whose owner died (or stopped beating) is taken over
by exactly one waiter; a live owner's claim is never taken over.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from videogen_dagster.store import claims
from videogen_dagster.store.base import Store
from videogen_dagster.store.claims import ClaimRecord, generation_claimed
from videogen_dagster.store.local import LocalStore

KEY = ".claims/abc.json"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        yield LocalStore(tmp_path / "store")
        return
    from videogen_dagster.store.s3 import S3Store

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    yield S3Store.from_uri(f"s3://{bucket}/videos", endpoint_url=endpoint)


def _dead_pid() -> int:
    """The id of a process that has ended and been reaped."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def _claim_of(pid: int, *, host: str | None = None, age: float = 0.0) -> bytes:
    record = ClaimRecord("other", host or socket.gethostname(), pid, "test", time.time() - age)
    return record.to_bytes()


def test_conditional_writes(store: Store) -> None:
    first = store.create_exclusive(KEY, b"one")
    assert first is not None
    assert store.create_exclusive(KEY, b"two") is None
    assert store.read_versioned(KEY) == (b"one", first)

    assert store.replace_if(KEY, b"three", "not-its-version") is None
    second = store.replace_if(KEY, b"three", first)
    assert second is not None and second != first
    assert store.replace_if(KEY, b"four", first) is None  # the old version is gone
    assert store.read_bytes(KEY) == b"three"

    assert store.delete_if(KEY, first) is False
    assert store.delete_if(KEY, second) is True
    assert store.read_versioned(KEY) is None
    assert store.replace_if(KEY, b"five", second) is None  # nothing to replace
    assert not store.exists(KEY)


def test_exactly_one_of_racing_creators_wins(store: Store) -> None:
    barrier = threading.Barrier(8)
    wins: list[bytes] = []

    def race(n: int) -> None:
        barrier.wait()
        if store.create_exclusive(KEY, f"racer {n}".encode()) is not None:
            wins.append(f"racer {n}".encode())

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert store.read_bytes(KEY) == wins[0]


def test_a_second_claimant_waits_for_the_first_result_and_does_no_work(store: Store) -> None:
    results: dict[str, str] = {}
    work: list[str] = []
    first_holds = threading.Event()
    outcomes: dict[str, str] = {}

    def render(name: str, hold: float) -> None:
        with generation_claimed(store, KEY, name, lambda: results.get("x")) as found:
            if found is None:
                work.append(name)
                first_holds.set()
                time.sleep(hold)
                results["x"] = f"made by {name}"
                found = results["x"]
        outcomes[name] = found

    first = threading.Thread(target=render, args=("first", 1.0))
    first.start()
    assert first_holds.wait(10)
    second = threading.Thread(target=render, args=("second", 0.0))
    second.start()
    first.join()
    second.join()

    assert work == ["first"]
    assert outcomes == {"first": "made by first", "second": "made by first"}
    assert not store.exists(KEY)  # released


def test_a_failed_owner_leaves_the_work_to_the_waiter(store: Store) -> None:
    work: list[str] = []
    first_holds = threading.Event()

    def failing() -> None:
        with pytest.raises(RuntimeError), generation_claimed(store, KEY, "first", lambda: None):
            work.append("first")
            first_holds.set()
            time.sleep(0.5)
            raise RuntimeError("provider refused")

    first = threading.Thread(target=failing)
    first.start()
    assert first_holds.wait(10)
    with generation_claimed(store, KEY, "second", lambda: None) as found:
        assert found is None
        work.append("second")
    first.join()
    assert work == ["first", "second"]


@pytest.mark.parametrize(
    "stale",
    [
        pytest.param(lambda: _claim_of(_dead_pid()), id="dead-process"),
        pytest.param(
            lambda: _claim_of(1, host="another-host", age=claims.STALE_AFTER_SECONDS + 5),
            id="no-heartbeat",
        ),
        pytest.param(lambda: b"{not json", id="unreadable"),
        pytest.param(
            lambda: b'{"owner": "x", "host": "h", "pid": "1", "what": "w", "heartbeat_at": "now"}',
            id="wrong-types",
        ),
    ],
)
def test_a_stale_claim_is_taken_over(store: Store, stale, caplog) -> None:
    assert store.create_exclusive(KEY, stale()) is not None
    started = time.monotonic()
    with generation_claimed(store, KEY, "beat 0 image", lambda: None) as found:
        assert found is None
        mine = ClaimRecord.parse(store.read_bytes(KEY))
        assert mine is not None and mine.owner != "other"
    assert time.monotonic() - started < claims.STALE_AFTER_SECONDS  # not waited out
    assert "took over the claim" in caplog.text
    assert not store.exists(KEY)


def test_only_one_waiter_takes_over_a_stale_claim(store: Store) -> None:
    assert store.create_exclusive(KEY, _claim_of(_dead_pid())) is not None
    barrier = threading.Barrier(4)
    work: list[int] = []
    results: dict[str, int] = {}

    def waiter(n: int) -> None:
        barrier.wait()
        with generation_claimed(store, KEY, f"waiter {n}", lambda: results.get("x")) as found:
            if found is None:
                work.append(n)
                time.sleep(0.3)
                results["x"] = n

    threads = [threading.Thread(target=waiter, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(work) == 1


def test_a_live_claim_on_another_host_is_waited_for(store: Store) -> None:
    """Its pid means nothing here: only its heartbeat says whether it is alive."""
    assert store.create_exclusive(KEY, _claim_of(_dead_pid(), host="another-host")) is not None
    polls = []

    def finished() -> str | None:
        polls.append(time.monotonic())
        return "their result" if len(polls) >= 3 else None

    with generation_claimed(store, KEY, "beat 0 image", finished) as found:
        assert found == "their result"
    owner = json.loads(store.read_bytes(KEY))
    assert owner["owner"] == "other"  # untouched


def test_the_owner_keeps_its_claim_alive(store: Store, monkeypatch) -> None:
    monkeypatch.setattr(claims, "HEARTBEAT_SECONDS", 0.05)
    with generation_claimed(store, KEY, "slow clip", lambda: None) as found:
        assert found is None
        first = ClaimRecord.parse(store.read_bytes(KEY))
        time.sleep(0.5)
        later = ClaimRecord.parse(store.read_bytes(KEY))
        assert first is not None and later is not None
        assert later.owner == first.owner and later.heartbeat_at > first.heartbeat_at
    assert not store.exists(KEY)
