"""What a Dagster render shows, and asset checks that fail when what they guard is wrong.

Two videos are rendered once for the module on a real instance. The content tests decode
real frames: each continuous chunk must start where the previous chunk ended, and the final
video must be the chunks in manifest order. The check test then breaks one video in the ways
each check exists for and runs the checks again: they fail for that video, and only for it.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from videogen_dagster.defs.assets import FINAL_AUDIO_CHECK, FINAL_DURATION_CHECK
from videogen_dagster.defs.checks import CHUNKS_CHECK, STORYBOARD_CHECK
from videogen_dagster.instance import INSTANCE_CONFIG
from videogen_dagster.media import probe
from videogen_dagster.pipeline.specs import register_spec_file
from videogen_dagster.store import layout
from videogen_dagster.store.local import LocalStore
from videogen_dagster_tests.graph_tests.content import (
    assert_chunks_continue_their_chain,
    assert_neighbouring_chunks_differ,
    assert_video_is_the_chunks_in_manifest_order,
)
from videogen_dagster_tests.graph_tests.support import execute, register, write_spec

#: A 5 s beat and a 10 s beat: chunks 0 (beat 0), 1 and 2 (beat 1, chunk 2 continuous).
SPEC = """\
prompt: A kite over the dunes
duration: 15
fps: 8
music: {music}
beats:
  - description: A red kite rises over the dunes
  - description: The wind carries it toward the sea
    duration: 10
"""
BROKEN, INTACT = "dunes", "shore"


def recheck_job() -> dg.JobDefinition:
    """The spec, the final video and every asset check, without generating anything."""
    from videogen_dagster.definitions import defs

    job = dg.define_asset_job(
        "recheck",
        selection=dg.AssetSelection.assets("spec", "final_video")
        | dg.AssetSelection.checks_for_assets("storyboard", "chunks"),
    )
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("recheck")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("kites")
    home = root / "dagster_home"
    home.mkdir()
    overrides = yaml.safe_load(INSTANCE_CONFIG.read_text())
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        store_root = root / "store"
        runs = {}
        for video_id, music in ((BROKEN, "false"), (INTACT, "{prompt: wind chimes}")):
            spec = write_spec(root / "specs", f"{video_id}.yaml", SPEC.format(music=music))
            register(instance, store_root, spec)
            runs[video_id] = execute(instance, store_root, video_id)
            assert runs[video_id].success
        yield {"instance": instance, "root": root, "store_root": store_root, "runs": runs}


def _manifest(store_root: Path, video_id: str) -> dict[str, Any]:
    return json.loads((store_root / layout.manifest(video_id)).read_text())


def test_each_continuous_chunk_starts_on_the_previous_chunks_last_frame(rendered) -> None:
    for video_id in (BROKEN, INTACT):
        manifest = _manifest(rendered["store_root"], video_id)
        assert [c["kind"] for c in manifest["chunks"]] == [
            "reference_image",
            "reference_image",
            "continuous",
        ]
        assert_chunks_continue_their_chain(manifest)


def test_the_final_video_is_the_chunks_in_manifest_order(rendered) -> None:
    for video_id in (BROKEN, INTACT):
        manifest = _manifest(rendered["store_root"], video_id)
        assert_neighbouring_chunks_differ(manifest)
        assert_video_is_the_chunks_in_manifest_order(Path(manifest["final"]["uri"]), manifest)


def test_the_manifest_names_the_backends_and_the_audio(rendered) -> None:
    silent, scored = (_manifest(rendered["store_root"], v) for v in (BROKEN, INTACT))
    roles = ("planner", "images", "clips", "music")
    assert {role: scored["providers"][role] for role in roles} == {
        "planner": "local/scene-splitter",
        "images": "local/seeded-painting-v1",
        "clips": "local/zoom-v1",
        "music": "local/" + scored["music"]["model"],
    }
    assert scored["final"]["has_audio"] is True and probe(Path(scored["final"]["uri"])).has_audio
    assert silent["final"]["has_audio"] is False and silent["music"] is None
    assert not probe(Path(silent["final"]["uri"])).has_audio
    assert [c["generated_duration"] for c in scored["chunks"]] == [5.0, 5.0, 5.0]
    assert scored["stitched"]["reencoded"] is False
    assert scored["total_cost_without_cache"] == scored["total_cost"] == 0.0


OUR_CHECKS = (STORYBOARD_CHECK, CHUNKS_CHECK, FINAL_DURATION_CHECK, FINAL_AUDIO_CHECK)


def _evaluations(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[bool, str | None]]:
    """The four video checks' verdicts in the run, with the partition each was evaluated on."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluations = [r.dagster_event.event_specific_data for r in records]
    return {
        e.check_name: (e.passed, e.partition) for e in evaluations if e.check_name in OUR_CHECKS
    }


def test_each_asset_check_fails_for_what_it_guards_on_that_video_only(rendered) -> None:
    instance, root, store_root = rendered["instance"], rendered["root"], rendered["store_root"]
    for video_id, run in rendered["runs"].items():
        assert _evaluations(instance, run.run_id) == {
            STORYBOARD_CHECK: (True, video_id),
            CHUNKS_CHECK: (True, video_id),
            FINAL_DURATION_CHECK: (True, video_id),
            FINAL_AUDIO_CHECK: (True, video_id),
        }

    # A storyboard image goes missing from the store.
    (store_root / layout.storyboard_image(BROKEN, 1)).unlink()
    # The materialized chunk set has a gap: chunk 1 is gone, chunk 2 is still there.
    chunks_output = Path(instance.storage_directory()) / "chunks" / BROKEN
    chunk_set = pickle.loads(chunks_output.read_bytes())
    gapped = chunk_set.model_copy(update={"chunks": chunk_set.chunks[::2]})
    chunks_output.write_bytes(pickle.dumps(gapped))
    # The spec now asks for 20 s with music; the stitched video (15 s) and the music asset
    # (none: music was off) are not made again, so the final video is neither.
    edited = SPEC.format(music="{prompt: wind chimes}").replace("duration: 15", "duration: 20")
    register_spec_file(
        write_spec(root / "edited", f"{BROKEN}.yaml", edited), LocalStore(store_root)
    )

    broken = execute(instance, store_root, BROKEN, job=recheck_job)
    intact = execute(instance, store_root, INTACT, job=recheck_job)

    assert _evaluations(instance, broken.run_id) == {
        STORYBOARD_CHECK: (False, BROKEN),
        CHUNKS_CHECK: (False, BROKEN),
        FINAL_DURATION_CHECK: (False, BROKEN),
        FINAL_AUDIO_CHECK: (False, BROKEN),
    }
    assert _evaluations(instance, intact.run_id) == {
        STORYBOARD_CHECK: (True, INTACT),
        CHUNKS_CHECK: (True, INTACT),
        FINAL_DURATION_CHECK: (True, INTACT),
        FINAL_AUDIO_CHECK: (True, INTACT),
    }
    # Each failed for its own reason, shown in its metadata.
    metadata = {
        r.dagster_event.event_specific_data.check_name: {
            k: v.value for k, v in r.dagster_event.event_specific_data.metadata.items()
        }
        for r in instance.all_logs(
            broken.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
    }
    assert metadata[STORYBOARD_CHECK]["missing_files"] == str([layout.storyboard_image(BROKEN, 1)])
    assert metadata[STORYBOARD_CHECK]["image_count"] == metadata[STORYBOARD_CHECK]["beat_count"]
    assert metadata[CHUNKS_CHECK]["missing_files"] == "[]"
    assert metadata[CHUNKS_CHECK]["chunk_count"] == 2
    assert metadata[FINAL_DURATION_CHECK]["final_s"] == pytest.approx(15.0)
    assert metadata[FINAL_DURATION_CHECK]["spec_s"] == 20.0
    audio = metadata[FINAL_AUDIO_CHECK]
    assert (audio["music_on"], audio["has_audio"]) == (True, False)
