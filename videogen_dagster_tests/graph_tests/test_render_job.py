"""The render job end to end on a real Dagster instance with the local provider.

These tests read back what a user gets: the files in the store (probed), the manifest, the
asset checks Dagster recorded, and the step events that show how the branches ran.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from videogen_dagster.media import probe
from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests.support import (
    TEST_SHORT_SIDE,
    execute,
    register,
    step_events,
    write_spec,
)

MIXED_SPEC = """\
prompt: A lighthouse keeper's long night
duration: 20
fps: 12
style: watercolour
beats:
  - description: The lamp is lit at dusk
  - description: A storm rolls over the sea
    duration: 10
  - description: Morning calm over the rocks
"""


def test_render_makes_final_video_manifest_and_passing_checks(instance, tmp_path):
    store_root = tmp_path / "store"
    video_id = register(
        instance, store_root, write_spec(tmp_path / "specs", "night.yaml", MIXED_SPEC)
    )
    result = execute(instance, store_root, video_id)
    assert result.success

    final = probe(store_root / layout.final_video(video_id))
    assert abs(final.duration - 20) <= 1 / 12 + 1e-6
    assert final.frame_count == 20 * 12
    assert final.has_audio
    assert (final.width, final.height) == (256, TEST_SHORT_SIDE)

    manifest = json.loads((store_root / layout.manifest(video_id)).read_text())
    chunks = manifest["chunks"]
    assert [c["chunk_num"] for c in chunks] == [0, 1, 2, 3]
    assert [(c["beat_index"], c["kind"]) for c in chunks] == [
        (0, "reference_image"),
        (1, "reference_image"),
        (1, "continuous"),
        (2, "reference_image"),
    ]
    # A continuous chunk starts from its predecessor's last frame; a beat's first from its image.
    assert [c["started_from"]["kind"] for c in chunks] == [
        "storyboard_image",
        "storyboard_image",
        "previous_chunk_last_frame",
        "storyboard_image",
    ]
    assert [b["index"] for b in manifest["beats"]] == [0, 1, 2]
    assert all(Path(c["uri"]).is_file() for c in chunks)
    assert manifest["total_cost"] == 0.0
    assert manifest["spec"]["duration"] == 20

    evaluations = [
        record.dagster_event.event_specific_data
        for record in instance.all_logs(
            result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
    ]
    checks = {evaluation.check_name: evaluation.passed for evaluation in evaluations}
    assert checks == {
        "one_image_per_beat_in_order": True,
        "chunk_numbers_contiguous": True,
        "duration_matches_spec": True,
        "has_audio_when_music_on": True,
        "every_clip_plays": True,
        "final_video_plays": True,
        "every_narrated_beat_has_speech_that_fits": True,
        "cues_ordered_non_overlapping_inside_video": True,
        "has_subtitle_track_when_captions_on": True,
    }


def test_lineage_links_each_stage(instance):
    from videogen_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents["chunks"] == {"storyboard", "spec"}
    assert parents["storyboard"] == {"spec", "references"}
    assert parents["stitched_video"] == {"chunks"}
    assert "stitched_video" in parents["final_video"] and "music" in parents["final_video"]
    assert parents["narration"] == {"spec"}  # beside the storyboard, not after it
    assert parents["captions"] == {"spec", "narration"}
    assert {"narration", "captions"} <= parents["final_video"]


def test_each_chain_starts_when_its_own_image_is_done(instance, tmp_path):
    """No barrier between images and chunks: some beat's clip starts before the last image ends."""
    store_root = tmp_path / "store"
    spec = "prompt: p\nduration: 30\nfps: 8\nmusic: false\nbeats:\n" + "".join(
        f"  - description: beat number {i}\n" for i in range(6)
    )
    video_id = register(instance, store_root, write_spec(tmp_path, "uneven.yaml", spec))
    result = execute(
        instance,
        store_root,
        video_id,
        local={"image_latency": 0.6, "clip_latency": 0.3, "latency_jitter": 0.8, "latency_seed": 3},
    )
    assert result.success
    starts = step_events(instance, result.run_id, dg.DagsterEventType.STEP_START)
    successes = step_events(instance, result.run_id, dg.DagsterEventType.STEP_SUCCESS)
    last_image_done = max(t[0] for k, t in successes.items() if k.startswith("beats.image["))
    first_chunk_start = min(t[0] for k, t in starts.items() if k.startswith("beats.first_clip["))
    assert first_chunk_start < last_image_done


def test_the_longest_chains_start_first(instance, tmp_path):
    """Branches that are ready together start longest chain first (3 clips, 2, then the
    one-clip beats in beat order): one step at a time shows the executor's launch order."""
    store_root = tmp_path / "store"
    spec = "prompt: p\nduration: 35\nfps: 8\nmusic: false\nbeats:\n" + "".join(
        f"  - description: beat number {i}\n    duration: {d}\n"
        for i, d in enumerate((5, 15, 5, 10))
    )
    video_id = register(instance, store_root, write_spec(tmp_path, "lengths.yaml", spec))
    result = execute(instance, store_root, video_id, max_concurrent=1)
    assert result.success
    starts = step_events(instance, result.run_id, dg.DagsterEventType.STEP_START)
    for op in ("image", "first_clip"):
        steps = sorted((t[0], k) for k, t in starts.items() if f".{op}[" in k)
        assert [k.split("[")[1] for _, k in steps] == [
            "beat_001]",
            "beat_003]",
            "beat_000]",
            "beat_002]",
        ], op


def test_a_partition_that_was_never_added_fails_before_any_generation(instance, tmp_path):
    result = execute(instance, tmp_path / "store", "never-added")
    assert not result.success
    started = step_events(instance, result.run_id, dg.DagsterEventType.STEP_START)
    assert list(started) == ["spec"]
    failure = next(iter(instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)))
    assert "never-added" in failure.dagster_event.step_failure_data.error.message


EXAMPLES = sorted(
    p for p in (Path(__file__).parents[2] / "specs" / "examples").iterdir() if p.is_file()
)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_renders_with_all_asset_checks_passing(instance, tmp_path, example):
    store_root = tmp_path / "store"
    video_id = register(instance, store_root, example)
    result = execute(instance, store_root, video_id)
    assert result.success
    evaluations = [
        record.dagster_event.event_specific_data
        for record in instance.all_logs(
            result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
    ]
    assert len(evaluations) == 9
    assert all(evaluation.passed for evaluation in evaluations)
