"""Faults stay contained: a transient fault costs a retry of its own step, a refusal fails only
its own beat's branch, and re-executing the failed run pays only for what never finished.

The render has three beats; beat 0 (the lamp) and beat 2 (the morning) are one chunk each,
beat 1 (the storm) two: a reference image chunk and a continuous chunk.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from videogen_dagster.media import probe
from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests.support import register, write_spec
from videogen_dagster_tests.reliability_tests.faulty import Fault, FaultBook
from videogen_dagster_tests.reliability_tests.support import (
    LIGHTHOUSE_SPEC as SPEC,
)
from videogen_dagster_tests.reliability_tests.support import (
    charged_twice,
    execute,
    failures,
    manifest,
    record_figure,
    step_keys,
)

STEP = "beats.{}[beat_{:03d}]"
GENERATIONS = 3 + 4 + 1  # images, chunks, music

#: Four failures of beat 0's clip: three in-call attempts fail, the step is retried once.
TRANSIENT = Fault("clip", "transient", match="lamp", times=4)
#: Beat 1's second clip (its continuous chunk) is refused for its start image.
REFUSAL = Fault("clip", "refuse_image", match="storm", after=1)


def test_transient_fault_retries_one_step_and_refusal_fails_one_branch(instance, tmp_path):
    store_root = tmp_path / "store"
    book = FaultBook.create(tmp_path / "faults.json", TRANSIENT, REFUSAL)
    video_id = register(instance, store_root, write_spec(tmp_path, "night.yaml", SPEC))

    failed = execute(instance, store_root, video_id, book)
    assert not failed.success
    run_id = failed.run_id

    retried = step_keys(instance, run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert retried == [STEP.format("first_clip", 0)]
    record_figure("steps retried for 4 transient failures of one clip", len(retried))

    failed_steps = failures(instance, run_id)
    assert list(failed_steps) == [STEP.format("next_clips", 1)]
    succeeded = set(step_keys(instance, run_id, dg.DagsterEventType.STEP_SUCCESS))
    finished_chains = sorted(k for k in succeeded if ".next_clips[" in k)
    assert finished_chains == [
        STEP.format("next_clips", 0),
        STEP.format("next_clips", 2),
    ]
    assert STEP.format("first_clip", 1) in succeeded
    record_figure("branches finished despite a refused beat (of 2 others)", len(finished_chains))

    # Every finished chunk is in the store, including the refused beat's first chunk.
    for chunk_num in (0, 1, 3):
        assert probe(store_root / layout.chunk(video_id, chunk_num)).frame_count == 5 * 8
    assert not (store_root / layout.chunk(video_id, 2)).exists()
    assert not (store_root / layout.final_video(video_id)).exists()

    # The refusal names the beat and the refused input, in the run and in the manifest.
    start_frame = str(store_root / layout.chunk_start_frame(video_id, 2))
    refusal = failed_steps[STEP.format("next_clips", 1)]
    assert "beat 1 chunk 2" in refusal["message"] and start_frame in refusal["message"]
    assert refusal["metadata"]["beat_index"] == 1
    assert refusal["metadata"]["refused_input"] == "image"
    assert refusal["metadata"]["refused"] == start_frame
    assert probe(Path(start_frame)).width > 0  # the refused image is there to look at
    stopped = manifest(store_root, video_id)
    assert stopped["status"] == "failed"
    assert [(f["beat_index"], f["input"], f["image"]) for f in stopped["failures"]] == [
        (1, "image", start_frame)
    ]
    assert stopped["last_complete"] is None

    # Re-execute from failure with the refusal gone: only the refused clip is generated.
    book.set_faults()
    before = len(book.calls)
    again = execute(
        instance,
        store_root,
        video_id,
        book,
        reexecution_options=dg.ReexecutionOptions.from_failure(run_id, instance),
    )
    assert again.success
    reexecuted = [(c["role"], c["prompt"]) for c in book.calls[before:]]
    assert reexecuted == [("clip", "A storm rolls over the sea")]
    # Every call but the one refused before is finished work made again.
    record_figure(
        "provider calls for finished work on re-execution from failure", len(reexecuted) - 1
    )
    done = manifest(store_root, video_id)
    assert done["status"] == "complete"
    # A re-execution reuses the failed run's outputs: each generation was paid once, by one run.
    assert (done["calls"], done["cache_hits"]) == (GENERATIONS, 0)
    assert charged_twice(store_root) == 0.0

    # Rendering the same spec again pays for nothing.
    before = len(book.calls)
    rerun = execute(instance, store_root, video_id, book)
    assert rerun.success
    assert book.calls[before:] == []
    rendered = manifest(store_root, video_id)
    assert (rendered["calls"], rendered["cache_hits"]) == (0, GENERATIONS)
    assert rendered["total_cost"] == 0.0 and rendered["total_cost_without_cache"] > 0
    record_figure("provider calls when rendering a finished spec again", len(book.calls[before:]))
    assert charged_twice(store_root) == 0.0
    record_figure("USD charged twice for one generation", charged_twice(store_root))


def test_editing_one_beat_regenerates_only_that_beat(instance, tmp_path):
    store_root = tmp_path / "store"
    book = FaultBook.create(tmp_path / "faults.json")
    spec_path = write_spec(tmp_path, "night.yaml", SPEC)
    video_id = register(instance, store_root, spec_path)
    assert execute(instance, store_root, video_id, book).success
    first_final = (store_root / layout.final_video(video_id)).read_bytes()

    spec_path.write_text(SPEC.replace("A storm rolls over the sea", "Hail drums on the glass"))
    register(instance, store_root, spec_path)
    before = len(book.calls)
    assert execute(instance, store_root, video_id, book).success

    made = sorted((c["role"], c["prompt"]) for c in book.calls[before:])
    assert made == [
        ("clip", "Hail drums on the glass"),
        ("clip", "Hail drums on the glass"),
        ("image", "Hail drums on the glass"),
    ]
    record_figure("calls after editing one beat (1 image + its 2 chunks)", len(made))
    edited = manifest(store_root, video_id)
    assert (edited["calls"], edited["cache_hits"]) == (3, GENERATIONS - 3)
    assert [c["cache_hit"] for c in edited["chunks"]] == [True, False, False, True]
    assert (store_root / layout.final_video(video_id)).read_bytes() != first_final  # re-stitched
    assert charged_twice(store_root) == 0.0
