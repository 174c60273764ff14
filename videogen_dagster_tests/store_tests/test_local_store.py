"""The folder store: atomic writes, keys that cannot leave the root, listing and logs."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from videogen_dagster.store.base import StoreKeyError, StoreUnavailableError
from videogen_dagster.store.factory import open_store
from videogen_dagster.store.local import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def _stray_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file() and ".part" in p.name)


def test_open_store_gives_a_local_store_and_refuses_other_schemes(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    with pytest.raises(StoreUnavailableError, match="unsupported store URI"):
        open_store("gs://bucket/prefix")


def test_round_trip_and_uri(store: LocalStore) -> None:
    uri = store.write_bytes("v1/storyboard/beat-000.png", b"png")
    assert Path(uri) == store.root / "v1/storyboard/beat-000.png"
    assert store.read_bytes("v1/storyboard/beat-000.png") == b"png"
    store.write_text("v1/spec.json", "{}")
    assert store.read_text("v1/spec.json") == "{}"
    assert store.exists("v1/spec.json") and not store.exists("v1/none.json")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial(store, tmp_path) -> None:
    store.write_bytes("v1/final.mp4", b"old video")
    with pytest.raises(FileNotFoundError):
        store.write_file("v1/final.mp4", tmp_path / "missing.mp4")
    assert store.read_bytes("v1/final.mp4") == b"old video"
    assert _stray_files(store.root) == []


def test_a_writer_killed_midway_leaves_the_old_file_whole(store, tmp_path) -> None:
    """kill -9 of a process in the middle of a write: the final name keeps the old bytes.

    The writer is stopped at its flush to disk (every byte written, nothing renamed yet) and
    killed there, so the test sees the moment that matters whatever the disk's speed: a store
    that wrote straight to the final name would show the new bytes under it by then.
    """
    store.write_bytes("v1/final.mp4", b"old video")
    flushing = tmp_path / "flushing"
    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from videogen_dagster.store.local import LocalStore\n"
        "def stop_at_flush(fd):\n"
        "    Path(sys.argv[2]).touch()\n"
        "    time.sleep(600)\n"
        "os.fsync = stop_at_flush\n"
        "LocalStore(sys.argv[1]).write_bytes('v1/final.mp4', b'N' * (4 << 20))\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(store.root), str(flushing)])
    try:
        deadline = time.monotonic() + 60
        while not flushing.exists() and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        # The write must be flushed before it becomes visible: the writer got to its flush.
        assert flushing.exists(), "the writer never flushed its file to disk"
        assert store.read_bytes("v1/final.mp4") == b"old video"  # all written, not visible
        assert len(_stray_files(store.root)) == 1  # the new bytes are in a temporary file
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    assert store.read_bytes("v1/final.mp4") == b"old video"
    assert list(store.list_keys("v1/")) == ["v1/final.mp4"]  # the leftover part is not listed


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a//b", "a\\b", ""])
def test_keys_that_escape_the_root_are_refused(store: LocalStore, key: str) -> None:
    with pytest.raises(StoreKeyError):
        store.write_bytes(key, b"x")
    with pytest.raises(StoreKeyError):
        store.read_bytes(key)


def test_a_symlink_out_of_the_root_is_refused(store: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    store.root.mkdir(parents=True)
    (store.root / "v1").symlink_to(outside)
    with pytest.raises(StoreKeyError, match="outside"):
        store.read_bytes("v1/secret.txt")
    with pytest.raises(StoreKeyError):
        store.write_bytes("v1/new.txt", b"x")
    assert not (outside / "new.txt").exists()


def test_list_delete_and_local_path(store: LocalStore) -> None:
    for key in ["v1/b.png", "v1/a/c.png", "v10/x.png"]:
        store.write_bytes(key, b"x")
    assert list(store.list_keys("v1/")) == ["v1/a/c.png", "v1/b.png"]
    assert list(store.list_keys("")) == ["v1/a/c.png", "v1/b.png", "v10/x.png"]
    assert list(store.list_keys("nothing/")) == []
    with store.local_path("v1/b.png") as path:
        assert path.read_bytes() == b"x"
    store.delete("v1/b.png")
    store.delete("v1/b.png")
    assert list(store.list_keys("v1/")) == ["v1/a/c.png"]
    with pytest.raises(FileNotFoundError, match="v1/b.png"), store.local_path("v1/b.png"):
        pass


def test_append_line_from_many_threads_keeps_every_line(store: LocalStore) -> None:
    def writer(worker: int) -> None:
        for i in range(50):
            store.append_line("v1/costs.jsonl", f'{{"w": {worker}, "i": {i}}}\n')

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = store.read_text("v1/costs.jsonl").splitlines()
    assert sorted(lines) == sorted(f'{{"w": {w}, "i": {i}}}' for w in range(4) for i in range(50))
