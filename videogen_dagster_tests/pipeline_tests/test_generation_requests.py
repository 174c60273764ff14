"""Each generation step on its own: what it asks for, and what its ledger line is called.

References, the generated style frame, a storyboard image, a beat's clips and the music, with
no video stitched, so these run in a second or two. They check that the spec's seed and style
reach each request (so its cache key) and the names on the ledger: a rendered video cannot
tell these apart from a mistake (see docs/testing.md, "Mutation testing").
"""

from __future__ import annotations

import json
from pathlib import Path

from videogen_dagster.domain.chunk_plan import plan_chunks
from videogen_dagster.generation import Generator
from videogen_dagster.media import ContinuityPolicy
from videogen_dagster.pipeline import assembly, chunks, specs, storyboard
from videogen_dagster.providers.base import (
    ClipRequest,
    ImageRequest,
    MusicRequest,
    request_fingerprint,
)
from videogen_dagster.providers.local import LocalImages, local_provider
from videogen_dagster.store import layout
from videogen_dagster.store.local import LocalStore
from videogen_dagster_tests.pipeline_tests.support import SETTINGS, write_spec


def _prepare(tmp_path: Path, text: str, *, generate: bool):
    store = LocalStore(tmp_path / "store")
    video_id, _ = specs.register_spec_file(write_spec(tmp_path / "specs", "frog.yaml", text), store)
    generator = Generator(local_provider(SETTINGS), store, video_id)
    spec = specs.build_validated_spec(store, generator)
    size = generator.provider.size_for(spec.aspect_ratio)
    references = storyboard.prepare_references(
        generator, spec, size, generate_when_missing=generate
    )
    return store, generator, spec, size, references


def _ledger(store: LocalStore, video_id: str) -> list[dict]:
    path = store.root / layout.cost_ledger(video_id)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_generated_style_frame_is_asked_for_with_the_specs_prompt_seed_and_style(
    tmp_path,
) -> None:
    store, generator, spec, size, [reference] = _prepare(
        tmp_path,
        "prompt: A frog on a lily pad.\nduration: 5\nseed: 7\nstyle: woodcut\n",
        generate=True,
    )
    asked = ImageRequest(prompt="A frog on a lily pad.", size=size, seed=7, style="woodcut")
    assert (spec.seed, spec.style) == (7, "woodcut")
    assert reference.source == "generated" and reference.index == 0
    assert reference.generation.fingerprint == request_fingerprint(generator.provider.images, asked)
    assert reference.key == layout.reference_image("frog", 0)
    assert (store.root / reference.key).read_bytes() == store.read_bytes(reference.generation.key)
    # The paid call is on the ledger under the name a user reads there.
    [line] = _ledger(store, "frog")
    assert line["what"] == "style reference image"
    assert line["fingerprint"] == reference.generation.fingerprint


def test_a_spec_with_references_uses_only_them_even_when_generation_is_on(tmp_path) -> None:
    palette = ImageRequest(prompt="palette", size=SETTINGS.sizes()["1:1"], seed=1)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "palette.png").write_bytes(
        LocalImages(SETTINGS).generate_image(palette).data
    )
    store, _, _, size, [reference] = _prepare(
        tmp_path,
        "prompt: A frog on a lily pad.\nduration: 5\nreferences: [palette.png]\n",
        generate=True,
    )
    assert (reference.source, reference.index, reference.generation) == ("palette.png", 0, None)
    assert _ledger(store, "frog") == []  # nothing paid for


def test_without_references_or_generation_there_are_none(tmp_path) -> None:
    store, _, _, _, references = _prepare(
        tmp_path, "prompt: A frog on a lily pad.\nduration: 5\n", generate=False
    )
    assert references == [] and _ledger(store, "frog") == []


def _frog_storyboard_image(tmp_path: Path):
    """Beat 1 of a two-beat 6 s spec with a seed, a style and a reference: its image."""
    palette = ImageRequest(prompt="palette", size=SETTINGS.sizes()["1:1"], seed=1)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "palette.png").write_bytes(
        LocalImages(SETTINGS).generate_image(palette).data
    )
    store, generator, spec, size, references = _prepare(
        tmp_path,
        "duration: 6\nseed: 11\nstyle: ink wash\nreferences: [palette.png]\n"
        "beats:\n  - description: A frog jumps\n    duration: 3\n"
        "  - description: A frog lands\n    duration: 3\n",
        generate=False,
    )
    tasks = storyboard.beat_tasks(spec, plan_chunks(spec, SETTINGS.clip_lengths), references, size)
    [task] = [task for task in tasks if task.beat.index == 1]
    image = storyboard.make_storyboard_image(generator, task)
    return store, generator, spec, size, references, image


def test_a_storyboard_image_is_asked_for_with_the_beat_the_seed_the_style_and_references(
    tmp_path,
) -> None:
    store, generator, _, size, references, image = _frog_storyboard_image(tmp_path)
    asked = ImageRequest(
        prompt="A frog lands",
        size=size,
        seed=11,
        style="ink wash",
        references=(store.read_bytes(references[0].key),),
    )
    assert image.generation.fingerprint == request_fingerprint(generator.provider.images, asked)
    assert image.key == layout.storyboard_image("frog", 1)
    assert (store.root / image.key).read_bytes() == store.read_bytes(image.generation.key)
    [line] = _ledger(store, "frog")
    assert line["what"] == "beat 1 storyboard image"


def test_each_clip_is_asked_for_with_its_start_frame_the_beat_its_own_seed_and_the_style(
    tmp_path,
) -> None:
    """Beat 1 (3 s) is a 2 s clip from the storyboard image, then one from its last frame."""
    store, generator, spec, size, _, image = _frog_storyboard_image(tmp_path)
    chain = chunks.make_continuous_chunks(
        generator, chunks.make_reference_image_chunk(generator, image), ContinuityPolicy()
    )
    first, second = chain.chunks
    assert store.read_bytes(first.start_frame_key) == store.read_bytes(image.key)
    for index, record in enumerate(chain.chunks):
        asked = ClipRequest(
            start_image=store.read_bytes(record.start_frame_key),
            prompt="A frog lands",
            size=size,
            fps=spec.fps,
            duration=record.chunk.generate_duration,
            seed=11 + index,  # per chunk of the beat, so another beat's edit changes nothing
            style="ink wash",
        )
        assert record.generation.fingerprint == request_fingerprint(generator.provider.clips, asked)
    whats = [line["what"] for line in _ledger(store, "frog")]
    assert whats[1:] == [
        f"beat 1 chunk {first.chunk.chunk_num} (reference_image)",
        f"beat 1 chunk {second.chunk.chunk_num} (continuous)",
    ]


def test_the_music_is_asked_for_with_its_prompt_the_videos_length_and_the_seed(tmp_path) -> None:
    store, generator, spec, _, _ = _prepare(
        tmp_path,
        "prompt: A frog on a lily pad.\nduration: 5\nseed: 5\nmusic: {prompt: a kazoo}\n",
        generate=False,
    )
    music = assembly.make_music(generator, spec)
    asked = MusicRequest(prompt="a kazoo", duration=5.0, seed=5)
    assert music.generation.fingerprint == request_fingerprint(generator.provider.music, asked)
    [line] = _ledger(store, "frog")
    assert line["what"] == "music"
