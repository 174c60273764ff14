"""Storyboard first: review the images before paying for clips, then pay only for the clips.

``videogen render --storyboard-only`` runs the same job on a subset of its assets (the graph-
backed ``storyboard``/``chunks`` asset is subsettable); the full render that follows finds every
image in the cache. Calls are counted on the fake vendors, through the real OpenAI and Runway
clients.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from videogen_dagster.commands import render
from videogen_dagster.media import probe
from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests.support import step_events, write_spec
from videogen_dagster_tests.graph_tests.test_estimate import estimate_file, remote_generation

SPEC = """\
prompt: Paper boats on a canal
duration: 6
fps: 8
music: false
beats:
  - description: A paper boat is set on the water
    duration: 3
  - description: The boats drift under a bridge
"""


def _remote_config(openai_server, runway_server) -> dict:
    generation = remote_generation(openai_server, runway_server)
    return {"resources": {"generation": {"config": generation}}}


def _ledger(store_root: Path, video_id: str) -> list[dict]:
    path = store_root / layout.cost_ledger(video_id)
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_storyboard_only_then_full_render_pays_for_no_image_twice(
    instance, tmp_path, openai_server, runway_server
):
    store_root = tmp_path / "store"
    spec_path = write_spec(tmp_path, "boats.yaml", SPEC)
    config = _remote_config(openai_server, runway_server)

    (board,), errors = render(
        [spec_path], str(store_root), instance, run_config=config, out=io.StringIO(),
        storyboard_only=True,
    )  # fmt: skip
    assert not errors and board.success, board.errors
    # What a user reviews: the contact sheet, printed instead of a final video.
    assert board.final_uri == str(store_root / layout.contact_sheet("boats"))
    assert Image.open(board.final_uri).size[0] > 0
    assert openai_server.count("POST", "/v1/images") == 2  # one image per beat
    assert runway_server.count("POST", "/v1/image_to_video") == 0
    assert not (store_root / layout.final_video("boats")).exists()
    steps = set(step_events(instance, board.run_id, dg.DagsterEventType.STEP_SUCCESS))
    assert not [key for key in steps if "clip" in key or key == "beats.chunks"]
    assert {"beats.image[beat_000]", "beats.image[beat_001]", "beats.storyboard"} <= steps
    storyboard_spend = _ledger(store_root, "boats")
    assert {line["provider"] for line in storyboard_spend} == {"openai"}
    # What is left to pay: the clips alone; the estimate finds the images in the cache.
    left = estimate_file(spec_path, store_root, remote_generation(openai_server, runway_server))
    assert {call.role for call in left.calls if call.cached} == {"images"}
    assert {call.role for call in left.calls if call.cost > 0} == {"clips"}

    (full,), _ = render(
        [spec_path], str(store_root), instance, run_config=config, out=io.StringIO()
    )
    assert full.success, full.errors
    assert openai_server.count("POST", "/v1/images") == 2  # zero image calls this time
    manifest = json.loads((store_root / layout.manifest("boats")).read_text())
    assert runway_server.count("POST", "/v1/image_to_video") == len(manifest["chunks"]) == 2
    assert all(beat["image"]["cache_hit"] for beat in manifest["beats"])
    # The second run's ledger lines are the clips only.
    new_lines = _ledger(store_root, "boats")[len(storyboard_spend) :]
    assert [line["provider"] for line in new_lines] == ["runway", "runway"]
    assert sum(line["cost"] for line in new_lines) == pytest.approx(left.total, abs=1e-6)
    assert probe(Path(full.final_uri)).duration == pytest.approx(6, abs=1 / 8)


def test_the_storyboard_alone_runs_only_the_image_steps():
    """What "Materialize" on the storyboard asset alone in the UI launches: the fan-out up to
    the images and the contact sheet, and its check; no clip step, no chunk check."""
    from videogen_dagster.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey("storyboard")}
    )
    steps = {str(handle) for handle in job.graph.iterate_node_handles()}
    ops = {step.split(".")[-1] for step in steps if step.startswith("beats.")}
    assert ops == {"split", "image", "storyboard"}
    assert "chunks_chunk_numbers_contiguous" not in steps
    assert "storyboard_one_image_per_beat_in_order" in steps
