"""``videogen estimate``'s figures against what the render that follows really pays.

The estimate is computed with the same providers the render uses (the real OpenAI and Runway
clients, pointed at our fakes) and must call neither; the render's cost ledger is the truth it
is compared with, to the cent and call by call. A second estimate after the render finds every
request in the cache, which shows the estimate builds the very requests a render makes.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from videogen_dagster.defs.resources import GenerationResource
from videogen_dagster.domain.spec import load_spec
from videogen_dagster.pipeline.estimate import VideoEstimate, estimate_spec
from videogen_dagster.store import layout
from videogen_dagster.store.local import LocalStore
from videogen_dagster_tests.graph_tests.support import (
    execute,
    register,
    run_config,
    write_spec,
)

#: Beats of 2.5 and 3 s: clips of the lengths the model makes, one trimmed.
REMOTE_SPEC = """\
prompt: Lanterns over a harbour
duration: 5.5
fps: 8
beats:
  - description: A lantern is lit on the quay
    duration: 2.5
  - description: Lanterns rise over the boats
"""

#: A 12 s beat makes a chain of three 5 s clips with the local provider: two continuous ones;
#: the second beat is narrated (a priced voice).
CHAIN_SPEC = """\
prompt: A snail crosses a garden path
duration: 14
fps: 8
beats:
  - description: The snail leaves the lettuce
    duration: 12
  - description: It reaches the wall
    narration: At last, the wall.
"""

LOCAL_PRICES = {
    "price_per_image": 0.04,
    "price_per_video_second": 0.11,
    "price_per_music_second": 0.003,
    "price_per_speech_character": 0.001,
}


def remote_generation(openai_server, runway_server) -> dict:
    return {
        "images": "openai",
        "clips": "runway",
        "openai": {"api_key": openai_server.api_key, "base_url": f"{openai_server.url}/v1"},
        "runway": {
            "api_key": runway_server.api_key,
            "base_url": runway_server.url,
            "poll_interval": 0.01,
        },
    }


def estimate_file(spec_path: Path, store_root: Path, generation: dict) -> VideoEstimate:
    """The estimate with the provider the run config builds (as the render's resource does)."""
    config = run_config(store_root, **generation)["resources"]["generation"]["config"]
    video_id, spec = load_spec(spec_path)
    references = [(spec_path.parent / ref).read_bytes() for ref in spec.references]
    provider = GenerationResource(**config).provider()
    return estimate_spec(spec, video_id, references, provider, LocalStore(store_root))


def ledger(store_root: Path, video_id: str) -> list[dict]:
    path = store_root / layout.cost_ledger(video_id)
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def spec_metadata(instance: dg.DagsterInstance, video_id: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey("spec"))
    assert event is not None and event.dagster_event.partition == video_id
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_estimate_equals_the_ledger_of_the_render_that_follows(
    instance, tmp_path, openai_server, runway_server
):
    store_root = tmp_path / "store"
    spec_path = write_spec(tmp_path, "lanterns.yaml", REMOTE_SPEC)
    generation = remote_generation(openai_server, runway_server)

    before = estimate_file(spec_path, store_root, generation)
    assert openai_server.requests == [] and runway_server.requests == []  # nothing was called
    clips = [call for call in before.calls if call.role == "clips"]
    # Each beat is one clip of a length the model makes: 2.5 s is generated as 3 s, 3 s as 3 s.
    assert [(call.seconds, call.kept_seconds) for call in clips] == [(3.0, 2.5), (3.0, 3.0)]
    assert not any(call.cached for call in before.calls)

    video_id = register(instance, store_root, spec_path)
    result = execute(instance, store_root, video_id, **generation)
    assert result.success

    paid = ledger(store_root, video_id)
    assert f"{before.total:.2f}" == f"{sum(line['cost'] for line in paid):.2f}"
    assert before.total == pytest.approx(sum(line["cost"] for line in paid), abs=0.005)
    # Call by call: the same labels, clips to the micro-dollar (a price per second), images
    # within a tenth of a cent (their input tokens are counted by the server).
    by_label = {line["what"]: line["cost"] for line in paid}
    assert sorted(by_label) == sorted(call.what for call in before.calls if call.cost > 0)
    for call in before.calls:
        if call.role == "clips":
            assert by_label[call.what] == pytest.approx(call.cost, abs=1e-6)
        elif call.role == "images":
            assert by_label[call.what] == pytest.approx(call.cost, abs=0.001)
    # The UI showed the same figure on the `spec` asset before any image was made.
    shown = spec_metadata(instance, video_id)
    assert shown["estimated_cost_usd"] == pytest.approx(before.total)
    [row] = [row for row in shown["estimate"].splitlines() if row.startswith("| 0 |")]
    assert row.startswith("| 0 | 2.5 | $0.050") and "| 3 s $0.1500 |" in row  # image, clip

    after = estimate_file(spec_path, store_root, generation)
    assert after.total == 0
    assert all(call.cached for call in after.calls if call.role != "music")
    assert after.saved_by_cache == pytest.approx(sum(line["cost"] for line in paid), abs=1e-6)


def test_a_chain_of_continuous_chunks_is_estimated_and_then_found_in_the_cache(instance, tmp_path):
    store_root = tmp_path / "store"
    spec_path = write_spec(tmp_path, "snail.yaml", CHAIN_SPEC)
    generation = {"local": dict(LOCAL_PRICES)}

    before = estimate_file(spec_path, store_root, generation)
    kinds = [call.what.split("(")[-1] for call in before.calls if call.role == "clips"]
    assert kinds == ["reference_image)", "continuous)", "continuous)", "reference_image)"]
    # 2 images, 4 clips of 5 s, 14 s of music and 18 characters spoken, at the set prices.
    assert before.total == pytest.approx(2 * 0.04 + 4 * 5 * 0.11 + 14 * 0.003 + 18 * 0.001)

    video_id = register(instance, store_root, spec_path)
    assert execute(instance, store_root, video_id, **generation).success
    lines = ledger(store_root, video_id)
    paid = sum(line["cost"] for line in lines)
    assert before.total == pytest.approx(paid, abs=1e-9)
    assert sorted(line["what"] for line in lines) == sorted(c.what for c in before.calls if c.cost)
    assert spec_metadata(instance, video_id)["estimated_cost_usd"] == pytest.approx(paid)

    # Every request, continuous chunks included (their start frames come from the clips
    # before them), is the one the render made: all cached, nothing left to pay.
    after = estimate_file(spec_path, store_root, generation)
    assert [call.what for call in after.calls if not call.cached] == []
    assert after.total == 0 and after.saved_by_cache == pytest.approx(paid)


def test_a_planned_spec_is_estimated_with_the_beats_the_render_plans(instance, tmp_path):
    store_root = tmp_path / "store"
    spec_path = write_spec(
        tmp_path, "kites.yaml", "prompt: Kites over a hill. Then rain.\nduration: 9\nfps: 8\n"
    )
    generation = {"local": dict(LOCAL_PRICES)}
    before = estimate_file(spec_path, store_root, generation)
    assert not before.approximate  # the offline planner is free and deterministic
    video_id = register(instance, store_root, spec_path)
    assert execute(instance, store_root, video_id, **generation).success
    manifest = json.loads((store_root / layout.manifest(video_id)).read_text())
    assert [b.description for b in before.beats] == [b["description"] for b in manifest["beats"]]
    assert before.total == pytest.approx(sum(line["cost"] for line in ledger(store_root, video_id)))
