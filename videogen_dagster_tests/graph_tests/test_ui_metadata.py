"""What a person sees in the Dagster UI, read back from a real instance after real runs.

Every clip and the final video leave an animated preview a browser plays; ``chunks`` lists
every chunk; every check says what it checks and which video it belongs to; a failed run's
checks are that video's, not every video's; and the money a failed run spent shows beside
the next run's cost.
"""

from __future__ import annotations

import base64
import io
import re

import dagster as dg
import pytest
from PIL import Image

from videogen_dagster.defs.checks import CLIPS_PLAY_CHECK, FINAL_PLAYS_CHECK
from videogen_dagster.media.preview import MAX_PREVIEW_BYTES
from videogen_dagster_tests.graph_tests.support import execute, register, write_spec

SPEC = """\
prompt: Two paper boats
duration: 15
fps: 8
beats:
  - description: A red boat sets off – slowly
  - description: A blue boat follows the red one across the pond
    duration: 10
"""
PRICES = {"price_per_image": 0.01, "price_per_video_second": 0.01}
#: Room for both images and one 5 s clip, not the second beat's two: the run stops mid-way.
CAP = 0.02 + 0.05 + 0.01


def _metadata(instance: dg.DagsterInstance, key: str, partition: str) -> dict:
    event = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[partition]), limit=1
    ).records[0]
    return dict(event.asset_materialization.metadata)


def _evaluations(instance: dg.DagsterInstance, run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluations = [record.dagster_event.event_specific_data for record in records]
    return {evaluation.check_name: evaluation for evaluation in evaluations}


def _webps(markdown: str) -> list[Image.Image]:
    """The animated WebPs of the ``![alt](data:image/webp;base64,...)`` images in ``markdown``."""
    found = re.findall(r"!\[[^\]]*\]\(data:image/webp;base64,([A-Za-z0-9+/=]+)\)", markdown)
    images = [base64.b64decode(data) for data in found]
    assert all(len(data) <= MAX_PREVIEW_BYTES for data in images)
    return [Image.open(io.BytesIO(data)) for data in images]


def test_previews_chunk_list_descriptions_and_partition(instance, tmp_path):
    store_root = tmp_path / "store"
    video_id = register(instance, store_root, write_spec(tmp_path, "boats.yaml", SPEC))

    result = execute(instance, store_root, video_id)
    assert result.success

    evaluations = _evaluations(instance, result.run_id)
    assert all(e.passed for e in evaluations.values())
    # Every check result names its video, and Dagster records its partition.
    assert {e.metadata["video"].value for e in evaluations.values()} == {video_id}
    assert {e.partition for e in evaluations.values()} == {video_id}

    table = evaluations[CLIPS_PLAY_CHECK].metadata["previews"].value
    rows = [row.split("|")[1:4] for row in table.splitlines()[2:]]
    assert rows == [[" 0 ", " 0 ", " reference_image "], [" 1 ", " 1 ", " reference_image "]] + [
        [" 2 ", " 1 ", " continuous "]
    ]
    clips = _webps(table)
    assert len(clips) == 3
    assert all(image.format == "WEBP" and image.n_frames > 5 for image in clips)  # they move
    [final] = _webps(evaluations[FINAL_PLAYS_CHECK].metadata["preview"].value)
    assert final.n_frames > 10 and final.width == 240
    assert evaluations[FINAL_PLAYS_CHECK].metadata["frames_decoded"].value == 15 * 8

    table = _metadata(instance, "chunks", video_id)["chunks"].value.splitlines()
    assert [row.split("|")[1:4] for row in table[2:]] == [
        [" 0 ", " 0 ", " reference_image "],
        [" 1 ", " 1 ", " reference_image "],
        [" 2 ", " 1 ", " continuous "],
    ]
    assert "previous chunk last frame: `chunk-002-start.png`" in table[-1]
    for key in ("spec", "references", "storyboard", "chunks", "stitched_video", "final_video"):
        assert _metadata(instance, key, video_id)["video"].value == video_id


def test_every_check_has_a_description():
    from videogen_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    checks = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert {"one_image_per_beat_in_order", CLIPS_PLAY_CHECK, FINAL_PLAYS_CHECK} <= set(checks)
    assert {name: bool(spec.description) for name, spec in checks.items()} == dict.fromkeys(
        checks, True
    )


def test_a_failed_run_marks_only_its_own_video_and_its_spend_shows_after_the_rerun(
    instance, tmp_path
):
    store_root = tmp_path / "store"
    # Other words than the stopped video's, or its images would be cache hits, free of charge.
    other = SPEC.replace("paper boats", "tin boats").replace("red", "green")
    good = register(instance, store_root, write_spec(tmp_path, "good.yaml", other))
    stopped = register(instance, store_root, write_spec(tmp_path, "stopped.yaml", SPEC))
    assert execute(instance, store_root, good, local=PRICES).success

    failed = execute(instance, store_root, stopped, local=PRICES, budget_per_video=CAP)
    assert not failed.success

    # The failed run's checks are planned for its own partition only; the good video's latest
    # check executions still read succeeded.
    for asset, check in [("final_video", "duration_matches_spec"), ("chunks", CLIPS_PLAY_CHECK)]:
        key = dg.AssetCheckKey(dg.AssetKey(asset), check)
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
        by_run = {record.run_id: record for record in history}
        assert by_run[failed.run_id].partition == stopped
        latest_good = next(record for record in history if record.partition == good)
        assert latest_good.status.value == "SUCCEEDED"

    rerun = execute(instance, store_root, stopped, local=PRICES)
    assert rerun.success
    final = _metadata(instance, "final_video", stopped)
    # This run paid for the clips the budget stopped; the video's ledger also holds what the
    # failed run paid for (both images and one clip).
    assert final["total_cost_usd"].value == pytest.approx(0.10)
    assert final["video_spent_usd"].value == pytest.approx(0.07 + 0.10)
    chunks = _metadata(instance, "chunks", stopped)
    assert chunks["cost_usd"].value == pytest.approx(0.10)
    assert chunks["video_spent_usd"].value == pytest.approx(0.17)


def test_launching_from_the_asset_graph_runs_like_render_video():
    """The UI's "Materialize" runs ``__ASSET_JOB``: the same executor (set on the Definitions),
    steps, pools, priorities and retries as ``render_video``. Dagster 1.13 has no run tags on
    the Definitions, so only the job carries the store tag: the README says to launch the job
    when steps run on several machines."""
    from videogen_dagster.definitions import defs
    from videogen_dagster.settings import STORE_TAG

    asset_job = defs.resolve_implicit_global_asset_job_def()
    render_video = defs.resolve_job_def("render_video")

    assert asset_job.executor_def is render_video.executor_def
    assert {**asset_job.tags, STORE_TAG: render_video.tags[STORE_TAG]} == render_video.tags

    def ops(job: dg.JobDefinition) -> dict[str, tuple]:
        return {
            node.name: (dict(node.tags), getattr(node, "pool", None), node.retry_policy)
            for node in job.all_node_defs
            if isinstance(node, dg.OpDefinition)
        }

    assert ops(asset_job) == ops(render_video)
