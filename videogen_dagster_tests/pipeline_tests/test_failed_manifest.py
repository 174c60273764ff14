"""The failed manifest across several failures of one run, on a plain store (no render).

The rendered-video tests stop a run once; two beats failing in the same run, a generation
failing twice, and a failure resolved by a later success are cheaper to check here, on the
functions the pipeline's steps call (``store.failed_manifest``; see docs/testing.md).
"""

from __future__ import annotations

import json
from datetime import datetime

from videogen_dagster.store import failed_manifest, layout
from videogen_dagster.store.local import LocalStore

COMPLETE = {"manifest_version": 1, "video_id": "pond", "status": "complete", "final": {"uri": "f"}}


def _failure(what: str, beat_index: int | None, message: str = "refused") -> dict:
    return {"what": what, "beat_index": beat_index, "reason": "refused", "message": message}


def _manifest(store: LocalStore) -> dict:
    return json.loads(store.read_text(layout.manifest("pond")))


def test_failures_of_one_run_accumulate_by_beat_and_keep_the_last_complete_render(
    tmp_path,
) -> None:
    store = LocalStore(tmp_path)
    store.write_text(layout.manifest("pond"), json.dumps(COMPLETE))
    failed_manifest.record_failure(store, "pond", _failure("music", None))
    failed_manifest.record_failure(store, "pond", _failure("beat 10 chunk 30 (continuous)", 10))
    failed_manifest.record_failure(store, "pond", _failure("beat 2 storyboard image", 2))
    failed_manifest.record_failure(store, "pond", _failure("beat 0 chunk 1 (continuous)", 0))
    failed_manifest.record_failure(store, "pond", _failure("beat 0 chunk 0 (reference_image)", 0))
    # The same generation failing again replaces its entry.
    failed_manifest.record_failure(store, "pond", _failure("beat 2 storyboard image", 2, "again"))

    m = _manifest(store)
    assert (m["manifest_version"], m["video_id"], m["status"]) == (1, "pond", "failed")
    assert datetime.fromisoformat(m["updated_at"]).tzinfo is not None
    assert m["last_complete"] == COMPLETE and m["final"] == COMPLETE["final"]
    assert [(f["beat_index"], f["what"]) for f in m["failures"]] == [
        (0, "beat 0 chunk 0 (reference_image)"),
        (0, "beat 0 chunk 1 (continuous)"),
        (2, "beat 2 storyboard image"),
        (10, "beat 10 chunk 30 (continuous)"),  # by beat number, not by name
        (None, "music"),  # not a beat's: last
    ]
    assert m["failures"][2]["message"] == "again"

    # A later success removes only its own entry.
    failed_manifest.resolve_failure(store, "pond", "beat 2 storyboard image")
    assert [f["what"] for f in _manifest(store)["failures"]] == [
        "beat 0 chunk 0 (reference_image)",
        "beat 0 chunk 1 (continuous)",
        "beat 10 chunk 30 (continuous)",
        "music",
    ]
    assert _manifest(store)["last_complete"] == COMPLETE

    # The next run starts from the last complete manifest.
    failed_manifest.reset(store, "pond")
    assert _manifest(store) == COMPLETE


def test_a_video_that_never_completed_has_no_manifest_after_reset(tmp_path) -> None:
    store = LocalStore(tmp_path)
    failed_manifest.record_failure(store, "pond", _failure("music", None))
    failed_manifest.record_failure(store, "pond", _failure("beat 0 storyboard image", 0))
    m = _manifest(store)
    assert m["last_complete"] is None and m["final"] is None
    assert [f["what"] for f in m["failures"]] == ["beat 0 storyboard image", "music"]
    failed_manifest.resolve_failure(store, "pond", "not a failure")  # nothing to drop
    assert _manifest(store) == m
    failed_manifest.reset(store, "pond")
    assert not store.exists(layout.manifest("pond"))
