"""Files in a folder store get the permissions the umask allows, like any file the user makes:
``final.mp4`` and ``manifest.json`` are public (0644 under umask 022), not 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from videogen_dagster.store.local import LocalStore


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_write_honours_the_umask(tmp_path: Path, umask: int) -> None:
    store = LocalStore(tmp_path / "store")
    expected = 0o666 & ~umask
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"mp4")

    written = [
        store.write_bytes("v1/manifest.json", b"{}"),
        store.write_file("v1/final.mp4", source),
        store.write_text("v1/spec.yaml", "duration: 5\n"),
    ]
    store.append_line("v1/costs.jsonl", "{}")
    store.create_exclusive(".claims/f.json", b"{}")
    written += [store.uri("v1/costs.jsonl"), store.uri(".claims/f.json")]
    assert {path: oct(_mode(Path(path))) for path in written} == dict.fromkeys(
        written, oct(expected)
    )

    # Replacing a file keeps to the umask too (a re-render rewrites the manifest).
    store.write_bytes("v1/manifest.json", b'{"status": "complete"}')
    assert _mode(Path(store.uri("v1/manifest.json"))) == expected
