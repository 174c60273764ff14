"""What the generator records when a provider refuses an input, a paid plan, and a torn ledger.

A refusal must leave the user the one thing to edit (the prompt text or the image's URI) in
the manifest's `failures[]`; a planner that charges must be counted like any other paid call,
once; a cost ledger whose last line was torn by a kill must be read without that line.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import pytest

from videogen_dagster.domain.spec import BeatSpec
from videogen_dagster.generation import Budget, BudgetExceededError, Generator, RefusedInputError
from videogen_dagster.providers.base import (
    ClipRequest,
    Generated,
    ImageGenerator,
    ImageRequest,
    MusicRequest,
    Size,
)
from videogen_dagster.providers.errors import PermanentProviderError
from videogen_dagster.providers.local import (
    LocalClips,
    LocalImages,
    LocalMusic,
    LocalPlanner,
    LocalSettings,
    local_provider,
)
from videogen_dagster.store import layout
from videogen_dagster.store.local import LocalStore

SETTINGS = LocalSettings(short_side=32, price_per_image=0.04)
REQUEST = ImageRequest(prompt="A storm over the sea", size=Size(32, 32), seed=1)


class RefusingImages(ImageGenerator):
    """A backend that refuses every call for ``input_kind``, as a moderation filter does."""

    name = "refusing"
    model = "m1"

    def __init__(self, input_kind: str) -> None:
        self.input_kind = input_kind

    def generate_image(self, request: ImageRequest) -> Generated:
        raise PermanentProviderError("blocked by the safety system", input_kind=self.input_kind)


class RefusingClips(LocalClips):
    """Clips refused for their start image until ``allow`` is set, as moderation would."""

    def __init__(self, settings: LocalSettings) -> None:
        super().__init__(settings)
        self.allow = False

    def generate_clip(self, request: ClipRequest, journal=None) -> Generated:
        if not self.allow:
            raise PermanentProviderError("the start image was flagged", input_kind="image")
        return super().generate_clip(request, journal)


class RefusingMusic(LocalMusic):
    def generate_music(self, request: MusicRequest) -> Generated:
        raise PermanentProviderError("the prompt was flagged", input_kind="prompt")


class PricedPlanner(LocalPlanner):
    """The local planner at a price, recording what it was asked."""

    def __init__(self, price: float) -> None:
        self.price = price
        self.asked: list[tuple[str, float, str | None]] = []

    def plan_beats(self, prompt: str, duration: float, style: str | None) -> list[BeatSpec]:
        self.asked.append((prompt, duration, style))
        self.last_cost = self.price
        return super().plan_beats(prompt, duration, style)


def _generator(tmp_path: Path, **roles) -> Generator:
    provider = local_provider(SETTINGS)
    provider = type(provider)(**{**vars(provider), **roles})
    return Generator(provider, LocalStore(tmp_path / "store"), "storm")


@pytest.mark.parametrize(
    ("kind", "shown"),
    [("prompt", "A storm over the sea"), ("image", "/refs/palette.png")],
)
def test_a_refusal_names_the_beat_and_the_refused_input_in_the_manifest(
    tmp_path, kind, shown
) -> None:
    generator = _generator(tmp_path, images=RefusingImages(kind))
    with pytest.raises(RefusedInputError) as refused:
        generator.image(
            REQUEST, label="beat 2 storyboard image", beat_index=2, image_inputs="/refs/palette.png"
        )
    error = refused.value
    assert (error.input_kind, error.beat_index, error.refused_input) == (kind, 2, shown)
    assert f"the provider refused the {kind}" in str(error) and shown in str(error)
    manifest = json.loads((tmp_path / "store" / layout.manifest("storm")).read_text())
    assert error.manifest_uri.endswith(layout.manifest("storm"))
    [failure] = manifest["failures"]
    assert {k: v for k, v in failure.items() if k != "at"} == {
        "what": "beat 2 storyboard image",
        "beat_index": 2,
        "reason": "refused",
        "input": kind,
        "message": "blocked by the safety system",
        kind: shown,
    }


@pytest.mark.parametrize(
    ("length", "quoted"), [(300, 300), (301, 301)], ids=["300 chars", "301 chars"]
)
def test_a_refused_prompt_is_quoted_whole_up_to_300_characters(tmp_path, length, quoted) -> None:
    prompt = "wave " * 60 + "x" * (length - 300)
    generator = _generator(tmp_path, images=RefusingImages("prompt"))
    with pytest.raises(RefusedInputError):
        generator.image(ImageRequest(prompt=prompt, size=Size(32, 32), seed=1), label="image")
    manifest = json.loads((tmp_path / "store" / layout.manifest("storm")).read_text())
    shown = manifest["failures"][0]["prompt"]
    assert len(shown) == quoted
    assert shown == (prompt if length <= 300 else prompt[:300] + "…")


def test_a_refused_clip_names_its_start_image_and_goes_once_it_succeeds(tmp_path) -> None:
    clips = RefusingClips(SETTINGS)
    generator = _generator(tmp_path, clips=clips)
    start = LocalImages(SETTINGS).generate_image(REQUEST).data
    clip = ClipRequest(
        start_image=start, prompt="waves", size=Size(32, 32), fps=4, duration=5.0, seed=1
    )
    label = "beat 1 chunk 3 (continuous)"
    with pytest.raises(RefusedInputError) as refused:
        generator.clip(clip, label=label, beat_index=1, start_image_uri="/store/frames/3.png")
    assert refused.value.refused_input == "/store/frames/3.png"
    manifest_path = tmp_path / "store" / layout.manifest("storm")
    [failure] = json.loads(manifest_path.read_text())["failures"]
    assert (failure["what"], failure["beat_index"], failure["input"], failure["image"]) == (
        label,
        1,
        "image",
        "/store/frames/3.png",
    )
    # The user replaced the image; the same generation now succeeds and its entry goes.
    clips.allow = True
    generator.clip(clip, label=label, beat_index=1, start_image_uri="/store/frames/3.png")
    assert json.loads(manifest_path.read_text())["failures"] == []


def test_refused_music_names_its_prompt(tmp_path) -> None:
    generator = _generator(tmp_path, music=RefusingMusic(SETTINGS))
    with pytest.raises(RefusedInputError, match="the provider refused the prompt 'storm drums'"):
        generator.music(MusicRequest(prompt="storm drums", duration=2.0, seed=1), label="music")
    [failure] = json.loads((tmp_path / "store" / layout.manifest("storm")).read_text())["failures"]
    assert (failure["what"], failure["prompt"], failure["beat_index"]) == (
        "music",
        "storm drums",
        None,
    )


def test_a_paid_plan_is_charged_once_and_then_served_from_the_cache(tmp_path) -> None:
    planner = PricedPlanner(0.002)
    generator = _generator(tmp_path, planner=planner)
    beats = generator.plan_beats("A fox crosses a frozen lake", 15.0, "ink")
    assert planner.asked == [("A fox crosses a frozen lake", 15.0, "ink")]
    planning = generator.planning
    assert (planning.cost, planning.original_cost, planning.cache_hit) == (0.002, 0.002, False)
    assert (planning.provider, planning.model) == ("local", "scene-splitter")
    assert planning.uri == generator.store.uri(planning.key)

    again = _generator(tmp_path, planner=planner)
    assert again.plan_beats("A fox crosses a frozen lake", 15.0, "ink") == beats
    assert len(planner.asked) == 1
    cached = again.planning
    assert (cached.cost, cached.original_cost, cached.cache_hit) == (0.0, 0.002, True)
    assert cached.fingerprint == planning.fingerprint and cached.key == planning.key

    for ledger in (layout.cost_ledger("storm"), "logs/costs.jsonl"):
        [line] = [json.loads(x) for x in (tmp_path / "store" / ledger).read_text().splitlines()]
        assert (line["what"], line["video_id"], line["cost"]) == ("beat planning", "storm", 0.002)
        assert line["fingerprint"] == planning.fingerprint
        assert (line["provider"], line["model"]) == ("local", "scene-splitter")
        assert datetime.fromisoformat(line["timestamp"]).tzinfo is not None


def test_the_planning_cache_key_is_stable_across_releases(tmp_path) -> None:
    generator = _generator(tmp_path)
    generator.plan_beats("A fox crosses a frozen lake", 15.0, "ink")
    assert generator.planning.fingerprint == PLANNING_KEY, (
        "the planning cache key formula changed: every store's plans would be made (and paid "
        "for) again; if that is intended, update PLANNING_KEY and say so in the release notes"
    )


PLANNING_KEY = "65a73ae36a0e60f15d05d88247c1d6c5782c98b67044df8299417a905302ada8"


def test_a_torn_last_ledger_line_is_ignored_and_later_lines_still_count(tmp_path, caplog) -> None:
    """A process killed mid-append leaves half a line: the budget counts whole lines only, the
    next paid call's line is not glued to the torn one, and later checks still read the file."""
    store = LocalStore(tmp_path / "store")
    whole = json.dumps({"cost": 0.04, "fingerprint": "a"})
    torn = '{"cost": 9'
    ledger = tmp_path / "store" / layout.cost_ledger("storm")
    ledger.parent.mkdir(parents=True)
    ledger.write_text(f"{whole}\n{whole}\n{torn}")
    generator = Generator(
        local_provider(SETTINGS), store, "storm", budget=Budget(per_video=4 * 0.04 + 0.001)
    )
    with caplog.at_level(logging.WARNING, logger="videogen_dagster.generation"):
        generator.image(REQUEST, label="image")  # 2 whole lines + this one fit the cap
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{layout.cost_ledger('storm')}: ignoring an unfinished last line {torn!r}"]
    lines = ledger.read_text().split("\n")
    assert lines[:3] == [whole, whole, torn] and json.loads(lines[3])["what"] == "image"
    # The torn line is now a middle line: skipped, and the 4th call still fits the cap.
    generator.image(ImageRequest(prompt="calm", size=Size(32, 32), seed=1), label="image 2")
    with pytest.raises(BudgetExceededError, match=r"\$0\.1600 of its \$0\.16 cap"):
        generator.image(ImageRequest(prompt="dawn", size=Size(32, 32), seed=1), label="image 3")
