"""The pipeline's steps end to end without Dagster: the pictures, and every manifest field.

One small video is rendered once for the module (two beats of three 2 s clips each, a
reference image, music, a truncated and lengthened spec) and rendered again from the cache;
the tests read what a user gets: decoded frames, the manifest, the store's logs. The graph
tests (graph_tests/test_render_content.py) check the same pictures through a Dagster run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import ffmpeg
import pytest

from videogen_dagster.generation import Budget, BudgetExceededError
from videogen_dagster.media import ContinuityPolicy, probe
from videogen_dagster.media.ffmpeg import run
from videogen_dagster.pipeline import assembly
from videogen_dagster.providers.base import ImageRequest
from videogen_dagster.providers.local import LocalImages
from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests.content import (
    assert_chunks_continue_their_chain,
    assert_neighbouring_chunks_differ,
    assert_video_is_the_chunks_in_manifest_order,
)
from videogen_dagster_tests.pipeline_tests.support import (
    PROVIDERS,
    SETTINGS,
    Rendered,
    manifest,
    render,
    write_spec,
)

#: Three beats for a 10 s video: the third is truncated (ceil(10 / 5) = 2 kept) and the second
#: lengthened from 4 s to 5 s; each 5 s beat is clips of 2, 2 and 1 s (the last made at 2 s).
SPEC = """\
prompt: Two paper boats on a pond
duration: 10
fps: 8
style: gouache
references: [palette.png]
music: {prompt: a music box}
beats:
  - description: A red boat sets off across the pond
  - description: A blue boat follows under the reeds
    duration: 4
  - description: Both boats reach the far bank
"""
IMAGE, CLIP_SECOND, MUSIC_SECOND = (
    SETTINGS.price_per_image,
    SETTINGS.price_per_video_second,
    SETTINGS.price_per_music_second,
)
#: 2 images, 6 clips made at 2 s each, 10 s of music.
FULL_COST = round(2 * IMAGE + 6 * 2 * CLIP_SECOND + 10 * MUSIC_SECOND, 6)
CALLS = 2 + 6 + 1


#: The README's `final` fields.
FINAL_FIELDS = ("uri", "duration", "frame_count", "width", "height", "fps", "has_audio")


@dataclass(frozen=True)
class Renders:
    root: Path
    store_root: Path
    spec_path: Path
    first: dict[str, Any]
    again: dict[str, Any]
    rendered: Rendered


def _renders_scope(fixture_name: str, config: pytest.Config) -> str:
    """Once per module, except while mutmut collects which tests call which function: it
    credits a function to the test during which it ran, so a module fixture's renders would
    count only for the first test and a mutant in, say, the manifest's cost fields would
    never meet ``test_cost_fields_of_every_entry`` (see docs/testing.md)."""
    return "function" if os.environ.get("MUTANT_UNDER_TEST") == "stats" else "module"


@pytest.fixture(scope=_renders_scope)
def renders(tmp_path_factory) -> Renders:
    root = tmp_path_factory.mktemp("boats")
    palette = ImageRequest(prompt="palette", size=SETTINGS.sizes()["1:1"], seed=1)
    (root / "specs").mkdir()
    (root / "specs" / "palette.png").write_bytes(LocalImages(SETTINGS).generate_image(palette).data)
    spec_path = write_spec(root / "specs", "boats.yaml", SPEC)
    store_root = root / "store"
    render(store_root, spec_path)
    first = manifest(store_root, "boats")
    rendered = render(store_root, spec_path)
    return Renders(root, store_root, spec_path, first, manifest(store_root, "boats"), rendered)


def test_each_continuous_chunk_starts_on_the_previous_chunks_last_frame(renders) -> None:
    assert [c["kind"] for c in renders.first["chunks"]] == [
        "reference_image",
        "continuous",
        "continuous",
    ] * 2
    assert_chunks_continue_their_chain(renders.first)


def test_the_final_and_stitched_videos_are_the_chunks_in_manifest_order(renders) -> None:
    assert_neighbouring_chunks_differ(renders.first)
    m = renders.first
    assert_video_is_the_chunks_in_manifest_order(Path(m["stitched"]["uri"]), m)
    assert_video_is_the_chunks_in_manifest_order(Path(m["final"]["uri"]), m)
    assert m["stitched"]["reencoded"] is False  # same codec parameters: stream copy


def test_stitching_clips_of_other_parameters_is_reencoded_and_the_manifest_says_so(
    renders, tmp_path
) -> None:
    r = renders.rendered
    # A chunk from another encoder setting (as another provider's clip would be).
    odd = r.chunks.chunks[1]
    path = renders.store_root / odd.key
    original = path.read_bytes()
    try:
        reencoded = tmp_path / "odd.mp4"
        run(
            ffmpeg.input(str(path)).output(str(reencoded), vcodec="libx264", profile="baseline"),
            what="re-encode a chunk",
        )
        path.write_bytes(reencoded.read_bytes())
        stitched = assembly.stitch(r.store, r.chunks)
        final = assembly.assemble_final(
            r.store,
            r.spec,
            r.references,
            r.storyboard,
            r.chunks,
            stitched,
            r.music,
            providers=PROVIDERS,
        )
        m = manifest(renders.store_root, "boats")
        assert stitched.reencoded is True and m["stitched"]["reencoded"] is True
        assert final.frame_count == m["final"]["frame_count"] == 80
    finally:
        path.write_bytes(original)
        stitched = assembly.stitch(r.store, r.chunks)
        assembly.assemble_final(
            r.store,
            r.spec,
            r.references,
            r.storyboard,
            r.chunks,
            stitched,
            r.music,
            providers=PROVIDERS,
        )


def test_chunk_entries_say_what_was_kept_and_what_was_asked_for(renders) -> None:
    chunks = renders.first["chunks"]
    assert [c["chunk_num"] for c in chunks] == list(range(6))
    assert [c["beat_index"] for c in chunks] == [0, 0, 0, 1, 1, 1]
    assert [c["start"] for c in chunks] == [0.0, 2.0, 4.0, 5.0, 7.0, 9.0]
    assert [c["duration"] for c in chunks] == [2.0, 2.0, 1.0] * 2
    assert [c["generated_duration"] for c in chunks] == [2.0] * 6
    for chunk in chunks:
        info = probe(Path(chunk["uri"]))
        assert info.frame_count == round(chunk["duration"] * 8)
        start = chunk["started_from"]
        assert Path(start["uri"]).read_bytes()  # the start frame the clip was asked from
        assert start["uri"].endswith(layout.chunk_start_frame("boats", chunk["chunk_num"]))
    assert [c["started_from"]["kind"] for c in chunks] == [
        "storyboard_image",
        "previous_chunk_last_frame",
        "previous_chunk_last_frame",
    ] * 2


def _cost_fields(entry: dict[str, Any], cost: float, *, hit: bool) -> None:
    assert entry["cost"] == pytest.approx(0.0 if hit else cost)
    assert entry["original_cost"] == pytest.approx(cost)
    assert entry["cache_hit"] is hit
    assert entry["provider"] == "local"
    assert len(entry["fingerprint"]) == 64
    assert entry["job_id"] is None


@pytest.mark.parametrize("which", ["first", "again"])
def test_cost_fields_of_every_entry(renders, which) -> None:
    m = getattr(renders, which)
    hit = which == "again"
    for beat in m["beats"]:
        _cost_fields(beat["image"], IMAGE, hit=hit)
        assert beat["image"]["model"] == "seeded-painting-v1"
        assert Path(beat["image"]["uri"]).read_bytes()[:4] == b"\x89PNG"
    for chunk in m["chunks"]:
        _cost_fields(chunk, 2 * CLIP_SECOND, hit=hit)
        assert chunk["model"] == "zoom-v1"
    _cost_fields(m["music"], 10 * MUSIC_SECOND, hit=hit)
    assert m["music"]["prompt"] == "a music box"
    assert probe(Path(m["music"]["uri"])).has_audio
    assert m["calls"] == (0 if hit else CALLS)
    assert m["cache_hits"] == (CALLS if hit else 0)
    assert m["total_cost"] == pytest.approx(0.0 if hit else FULL_COST)
    assert m["total_cost_without_cache"] == pytest.approx(FULL_COST)
    # The same generations both times: the cache key of each entry is stable.
    fingerprints = [c["fingerprint"] for c in m["chunks"]]
    assert fingerprints == [c["fingerprint"] for c in renders.first["chunks"]]
    assert len(set(fingerprints)) == 6


def test_the_final_entry_describes_the_final_file(renders) -> None:
    m = renders.first
    final = m["final"]
    info = probe(Path(final["uri"]))
    assert {key: final[key] for key in FINAL_FIELDS} == {
        "uri": str(renders.store_root / layout.final_video("boats")),
        "duration": info.duration,
        "frame_count": info.frame_count,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "has_audio": True,
    }
    assert (final["frame_count"], final["width"], final["height"], final["fps"]) == (
        80,
        256,
        144,
        8.0,
    )
    assert info.has_audio and final["duration"] == pytest.approx(10.0, abs=1 / 8)
    poster = (renders.store_root / layout.poster("boats")).read_bytes()
    assert poster[:4] == b"\x89PNG"


def test_the_spec_truncation_and_adjustments(renders) -> None:
    m = renders.first
    assert m["manifest_version"] == 1 and m["video_id"] == "boats" and m["status"] == "complete"
    assert datetime.fromisoformat(m["created_at"]).tzinfo is not None
    assert m["providers"] == PROVIDERS
    assert m["planning"] is None  # the spec gave its beats
    assert [(b["index"], b["start"], b["duration"]) for b in m["beats"]] == [
        (0, 0.0, 5.0),
        (1, 5.0, 5.0),
    ]
    assert [b["description"] for b in m["beats"]] == [
        "A red boat sets off across the pond",
        "A blue boat follows under the reeds",
    ]
    assert [(b["index"], b["start"], b["duration"]) for b in m["spec"]["beats"]] == [
        (0, 0.0, 5.0),
        (1, 5.0, 5.0),
    ]
    truncation = m["truncation"]
    assert {k: truncation[k] for k in ("video_id", "original_count", "kept_count", "duration")} == {
        "video_id": "boats",
        "original_count": 3,
        "kept_count": 2,
        "duration": 10.0,
    }
    assert m["spec"]["truncation"] == truncation
    assert m["adjustments"] == m["spec"]["adjustments"]
    assert any(
        "lengthened" in note and "beats[1]" in note or "beat 1" in note for note in m["adjustments"]
    ), m["adjustments"]
    assert Path(m["contact_sheet"]).read_bytes()[:4] == b"\x89PNG"
    [reference] = m["references"]
    assert reference["index"] == 0 and reference["source"] == "palette.png"
    assert probe(Path(reference["uri"])).width == 256  # at clip size


def test_the_pipeline_itself_appends_the_truncation_log(renders) -> None:
    """Written by the spec step (not a test callback): once per validation, as in the manifest."""
    log = renders.store_root / "logs" / "beat_truncation.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 2  # the module renders the spec twice
    assert lines[0] == renders.first["truncation"]
    assert lines[1] == renders.again["truncation"]


def test_every_paid_call_is_a_line_of_both_cost_ledgers(renders) -> None:
    for ledger in ("logs/costs.jsonl", layout.cost_ledger("boats")):
        lines = [
            json.loads(line) for line in (renders.store_root / ledger).read_text().splitlines()
        ]
        assert len(lines) == CALLS, ledger  # the cached render added none
        assert sum(line["cost"] for line in lines) == pytest.approx(FULL_COST)
        assert {line["video_id"] for line in lines} == {"boats"}
        assert len({line["fingerprint"] for line in lines}) == CALLS
        # Each line names the call as the failures and logs do, so a user can tell them apart.
        m = renders.first
        assert sorted(line["what"] for line in lines) == sorted(
            [f"beat {beat['index']} storyboard image" for beat in m["beats"]]
            + [f"beat {c['beat_index']} chunk {c['chunk_num']} ({c['kind']})" for c in m["chunks"]]
            + ["music"]
        )


def test_colour_match_and_reanchor_settings_change_only_the_continuous_chunks(renders) -> None:
    """The start image is in the cache key: another continuity policy is a new generation of
    every continuous chunk it changes, and nothing else."""
    plain = render(
        renders.store_root, renders.spec_path, policy=ContinuityPolicy(colour_match=False)
    )
    hits = [record.generation.cache_hit for record in plain.chunks.chunks]
    assert hits == [True, False, False] * 2
    assert all(image.generation.cache_hit for image in plain.storyboard.images)
    anchored = render(
        renders.store_root,
        renders.spec_path,
        policy=ContinuityPolicy(colour_match=False, reanchor_after_hops=1),
    )
    kinds = [record.started_from for record in anchored.chunks.chunks]
    assert kinds == ["storyboard_image", "previous_chunk_last_frame", "storyboard_reanchor"] * 2
    # Re-anchored: started on the same picture as the beat's first clip, a new generation.
    for first, third in zip(anchored.chunks.chunks[::3], anchored.chunks.chunks[2::3], strict=True):
        assert not third.generation.cache_hit
        assert (renders.store_root / third.start_frame_key).read_bytes() == (
            renders.store_root / first.start_frame_key
        ).read_bytes()
    # Back to the default policy: all from the cache, the same pictures as before.
    back = render(renders.store_root, renders.spec_path)
    assert all(record.generation.cache_hit for record in back.chunks.chunks)
    assert [r.generation.fingerprint for r in back.chunks.chunks] == [
        c["fingerprint"] for c in renders.first["chunks"]
    ]


def test_a_failure_after_a_complete_render_keeps_it_under_last_complete(renders) -> None:
    store_root = renders.store_root
    complete = manifest(store_root, "boats")
    final_bytes = (store_root / layout.final_video("boats")).read_bytes()
    edited = write_spec(
        renders.root / "specs",
        "boats.yaml",
        SPEC.replace("A red boat sets off", "A green boat sets off"),
    )
    with pytest.raises(BudgetExceededError, match="budget"):
        render(store_root, edited, budget=Budget(per_video=FULL_COST))  # already spent in full
    failed = manifest(store_root, "boats")
    assert failed["status"] == "failed"
    assert failed["last_complete"] == complete
    assert failed["final"] == complete["final"]
    [failure] = failed["failures"]
    assert failure["what"] == "beat 0 storyboard image" and failure["beat_index"] == 0
    assert failure["reason"] == "budget" and "cap" in failure["message"]
    assert datetime.fromisoformat(failure["at"]).tzinfo is not None
    assert (store_root / layout.final_video("boats")).read_bytes() == final_bytes
    # Failing again (a new run starts from the last complete manifest): still one entry, and
    # the complete render still kept whole.
    with pytest.raises(BudgetExceededError):
        render(store_root, edited, budget=Budget(per_video=FULL_COST))
    again = manifest(store_root, "boats")
    assert again["last_complete"] == complete and len(again["failures"]) == 1

    # The original spec again: complete, from the cache, with no failure left behind.
    write_spec(renders.root / "specs", "boats.yaml", SPEC)
    render(store_root, renders.spec_path, budget=Budget(per_video=FULL_COST))
    done = manifest(store_root, "boats")
    assert done["status"] == "complete" and "last_complete" not in done and "failures" not in done
    assert done["calls"] == 0


def test_a_silent_planned_video_has_no_audio_and_records_its_planning(tmp_path) -> None:
    spec_path = write_spec(
        tmp_path, "pond.yaml", "prompt: A frog on a lily pad.\nduration: 5\nfps: 4\nmusic: false\n"
    )
    rendered = render(tmp_path / "store", spec_path, generate_reference=True)
    m = manifest(tmp_path / "store", "pond")
    # No reference in the spec: one style frame generated from the prompt, at clip size.
    [reference] = m["references"]
    assert (reference["index"], reference["source"], reference["cache_hit"]) == (
        0,
        "generated",
        False,
    )
    assert reference["cost"] == reference["original_cost"] == SETTINGS.price_per_image
    assert reference["uri"].endswith(layout.reference_image("pond", 0))
    assert probe(Path(reference["uri"])).width == 256
    assert reference["fingerprint"] != m["beats"][0]["image"]["fingerprint"]
    assert rendered.final.has_audio is False and m["final"]["has_audio"] is False
    assert not probe(Path(m["final"]["uri"])).has_audio
    assert m["music"] is None and m["truncation"] is None and m["adjustments"] == []
    assert m["spec"]["beats_source"] == "planned"
    planning = m["planning"]
    assert planning["cache_hit"] is False and planning["provider"] == "local"
    assert planning["model"] == "scene-splitter" and len(planning["fingerprint"]) == 64
    # The totals count the planning and the generated reference too, not only images and clips.
    entries = [planning, reference] + [b["image"] for b in m["beats"]] + m["chunks"]
    assert m["calls"] == len(entries) and m["cache_hits"] == 0
    assert m["total_cost"] == pytest.approx(sum(e["cost"] for e in entries))
    assert m["total_cost_without_cache"] == pytest.approx(m["total_cost"])
    again = render(tmp_path / "store", spec_path, generate_reference=True)
    assert again.spec.beats == rendered.spec.beats
    assert again.references[0].generation.cache_hit
    assert manifest(tmp_path / "store", "pond")["planning"]["cache_hit"] is True
