"""Registering a spec again replaces the previous registration whole (no Dagster, no render).

The graph tests register through the CLI; this is the step itself, cheap enough to run under
mutation testing (docs/testing.md): a stale file left in ``input/`` would be read by the next
run (a stale ``spec.yaml`` wins over a new ``spec.json``).
"""

from __future__ import annotations

import json

from videogen_dagster.generation import Generator
from videogen_dagster.pipeline import specs
from videogen_dagster.providers.base import ImageRequest
from videogen_dagster.providers.local import LocalImages, local_provider
from videogen_dagster.store import layout
from videogen_dagster.store.local import LocalStore
from videogen_dagster_tests.pipeline_tests.support import SETTINGS, write_spec


def _png(folder, name: str, seed: int) -> bytes:
    request = ImageRequest(prompt=name, size=SETTINGS.sizes()["1:1"], seed=seed)
    data = LocalImages(SETTINGS).generate_image(request).data
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return data


def test_registering_again_replaces_the_spec_and_references_and_removes_the_rest(
    tmp_path,
) -> None:
    store = LocalStore(tmp_path / "store")
    first, second = tmp_path / "first", tmp_path / "second"
    _png(first, "a.png", 1)
    _png(first, "b.png", 2)
    kept = _png(second, "c.png", 3)
    specs.register_spec_file(
        write_spec(first, "boats.yaml", "prompt: first\nduration: 5\nreferences: [a.png, b.png]\n"),
        store,
    )
    video_id, spec = specs.register_spec_file(
        write_spec(
            second, "boats.json", '{"prompt": "second", "duration": 5, "references": ["c.png"]}'
        ),
        store,
    )
    assert video_id == "boats" and spec.prompt == "second"
    reference = layout.input_reference("boats", 0, "c.png")
    assert sorted(store.list_keys(layout.input_prefix("boats"))) == sorted(
        [layout.spec_source("boats", ".json"), reference]
    )
    assert store.read_bytes(reference) == kept
    assert specs.registered_spec_key(store, "boats") == layout.spec_source("boats", ".json")
    assert specs.load_registered_spec(store, "boats").prompt == "second"


def test_the_validated_spec_is_stored_as_json_for_the_user(tmp_path) -> None:
    """The run's metadata links this file: the spec as the run used it, beats and all."""
    store = LocalStore(tmp_path / "store")
    path = write_spec(tmp_path, "pond.yaml", "prompt: A frog on a lily pad.\nduration: 7\n")
    video_id, _ = specs.register_spec_file(path, store)
    spec = specs.build_validated_spec(store, Generator(local_provider(SETTINGS), store, video_id))
    text = store.read_bytes(layout.validated_spec("pond")).decode()
    assert json.loads(text) == json.loads(spec.model_dump_json())
    assert text.startswith('{\n  "')  # indented, for reading
