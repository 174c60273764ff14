"""Corrupt media from the provider (a zero-byte image, a truncated MP4, a clip of the wrong
length) is caught by probing before use, counted as a failed attempt and generated again."""

from __future__ import annotations

import dagster as dg

from videogen_dagster_tests.graph_tests.support import register, write_spec
from videogen_dagster_tests.reliability_tests.faulty import Fault, FaultBook
from videogen_dagster_tests.reliability_tests.support import (
    corrupt_media,
    execute,
    manifest,
    media_count,
    record_figure,
    step_keys,
)

SPEC = """\
prompt: A kite over the dunes
duration: 10
fps: 8
beats:
  - description: The kite climbs
  - description: The string snaps
"""
FAULTS = (
    Fault("image", "empty", match="climbs"),
    Fault("clip", "truncate", match="climbs"),
    Fault("clip", "short", match="snaps"),
    Fault("music", "truncate"),
)


def test_corrupt_media_is_probed_and_retried(instance, tmp_path):
    store_root = tmp_path / "store"
    book = FaultBook.create(tmp_path / "faults.json", *FAULTS)
    video_id = register(instance, store_root, write_spec(tmp_path, "kite.yaml", SPEC))

    result = execute(instance, store_root, video_id, book)
    assert result.success
    corrupted = [c for c in book.calls if c["fault"]]
    assert sorted(c["fault"] for c in corrupted) == ["empty", "short", "truncate", "truncate"]
    generations = 2 + 2 + 1
    assert len(book.calls) == generations + len(FAULTS)  # each corrupt file cost one attempt
    assert step_keys(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    record_figure("corrupt provider files injected (each retried once)", len(corrupted))

    assert manifest(store_root, video_id)["calls"] == generations
    left = corrupt_media(store_root)
    assert left == []
    record_figure("corrupt files left in the store", len(left))
    assert media_count(store_root) > generations
