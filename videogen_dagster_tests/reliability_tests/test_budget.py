"""A per-video budget stops a render before the paid call that would exceed it, keeps what was
made, and a re-render with a higher cap pays only for what is missing."""

from __future__ import annotations

import dagster as dg

from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests.support import register, write_spec
from videogen_dagster_tests.reliability_tests.faulty import FaultBook
from videogen_dagster_tests.reliability_tests.support import (
    PRICES,
    TWO_BOATS_SPEC,
    charged_twice,
    corrupt_media,
    execute,
    failures,
    manifest,
    record_figure,
    step_keys,
)

IMAGE, CLIP = PRICES["price_per_image"], PRICES["price_per_video_second"] * 5
FULL_COST = 2 * IMAGE + 2 * CLIP  # 0.58
CAP = 2 * IMAGE + CLIP + 0.01  # room for both images and one clip, not two


def test_budget_stops_before_the_call_that_would_exceed_it(instance, tmp_path):
    store_root = tmp_path / "store"
    book = FaultBook.create(tmp_path / "faults.json")
    video_id = register(instance, store_root, write_spec(tmp_path, "boats.yaml", TWO_BOATS_SPEC))

    stopped = execute(instance, store_root, video_id, book, budget_per_video=CAP)
    assert not stopped.success
    assert sorted(c["role"] for c in book.calls) == ["clip", "image", "image"]
    record_figure("paid calls before the budget stop (of 4)", len(book.calls))
    [(step, failure)] = failures(instance, stopped.run_id).items()
    assert step.startswith("beats.first_clip[")
    assert "budget" in failure["message"] and f"${CAP:.2f} cap" in failure["message"]
    assert "nothing was paid for it" in failure["message"]
    # Stopped, not retried: another attempt would be refused the same way.
    assert step_keys(instance, stopped.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    ledger = manifest(store_root, video_id)
    assert ledger["status"] == "failed"
    assert [f["reason"] for f in ledger["failures"]] == ["budget"]
    spent = sum(1 for _ in (store_root / video_id / "chunks").glob("chunk-*.mp4"))
    assert spent == 1 and corrupt_media(store_root) == []

    before = len(book.calls)
    done = execute(instance, store_root, video_id, book, budget_per_video=FULL_COST + 0.01)
    assert done.success
    after = [c["role"] for c in book.calls[before:]]
    assert after == ["clip"]
    record_figure("paid calls after raising the cap (the one missing clip)", len(after))
    assert charged_twice(store_root) == 0.0
    costs = (store_root / layout.cost_ledger(video_id)).read_text().splitlines()
    assert len(costs) == 4
    assert manifest(store_root, video_id)["status"] == "complete"
