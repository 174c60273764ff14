"""Registering a spec file with the store, and turning the registered copy into a validated spec.

Registration copies the spec and its reference images into ``<video_id>/input/`` after the
file has passed every check, so a bad file leaves nothing behind (and a previous registration
of the same video intact), the user's file stays where it was, and a run reads only the
store: editing the file mid-run cannot change that run. Each input is read exactly once and
the bytes checked are the bytes stored, so a file swapped during registration is either
stored as validated or refused.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from videogen_dagster.domain.spec import (
    SpecFile,
    VideoSpec,
    parse_spec,
    read_spec_file,
)
from videogen_dagster.domain.spec_files import SPEC_SUFFIXES
from videogen_dagster.domain.validation import (
    TRUNCATION_LOG_KEY,
    TruncationRecord,
    ValidatedSpec,
    validate_spec,
)
from videogen_dagster.generation import Generator
from videogen_dagster.store import failed_manifest, layout
from videogen_dagster.store.base import Store

_CONTENT_TYPES = {
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
}


class NotRegisteredError(LookupError):
    """A run asked for a video whose spec was never registered with this store."""


def register_spec_file(path: Path, store: Store) -> tuple[str, VideoSpec]:
    """Validate ``path`` (references included) and store the bytes validated; its id and spec."""
    loaded = read_spec_file(path)
    write_registration(store, loaded)
    return loaded.video_id, loaded.spec


def write_registration(store: Store, loaded: SpecFile) -> None:
    """Store a spec read and checked once (its bytes, and its references' bytes).

    Every key is built before anything is written, so a name the store refuses fails before
    the previous registration is touched; the spec is written after its references (its
    presence marks a complete registration) and the previous registration's other files are
    removed last.
    """
    video_id = loaded.video_id
    reference_keys = [
        layout.input_reference(video_id, index, reference)
        for index, reference in enumerate(loaded.spec.references)
    ]
    spec_key = layout.spec_source(video_id, loaded.suffix)
    stale = set(store.list_keys(layout.input_prefix(video_id))) - {spec_key, *reference_keys}
    for key, content in zip(reference_keys, loaded.references, strict=True):
        store.write_bytes(key, content)
    store.write_bytes(spec_key, loaded.data, _CONTENT_TYPES.get(loaded.suffix))
    for key in sorted(stale):
        store.delete(key)


def registered_spec_key(store: Store, video_id: str) -> str:
    for suffix in SPEC_SUFFIXES:
        key = layout.spec_source(video_id, suffix)
        if store.exists(key):
            return key
    raise NotRegisteredError(
        f"video {video_id!r} has no registered spec in {store!r}: register it with "
        f"`videogen register SPEC` (or drop the file in the sensor's inbox) before running"
    )


def load_registered_spec(store: Store, video_id: str) -> VideoSpec:
    key = registered_spec_key(store, video_id)
    source = f"{video_id}{PurePosixPath(key).suffix}"
    return parse_spec(store.read_bytes(key), source=source, base_dir=None)


def build_validated_spec(store: Store, generator: Generator) -> ValidatedSpec:
    """The registered spec, planned and validated; the truncation record goes to the store's log."""
    video_id = generator.video_id

    def record_truncation(record: TruncationRecord) -> None:
        store.append_line(TRUNCATION_LOG_KEY, record.model_dump_json())

    spec = load_registered_spec(store, video_id)
    # A new run: failures a previous run recorded are its own; this run records its own.
    failed_manifest.reset(store, video_id)
    validated = validate_spec(
        spec, video_id, planner=generator.plan_beats, record_truncation=record_truncation
    )
    store.write_text(
        layout.validated_spec(video_id), validated.model_dump_json(indent=2), "application/json"
    )
    if generator.planning is None:
        store.delete(layout.planning(video_id))
    else:
        store.write_text(
            layout.planning(video_id), json.dumps(generator.planning.as_dict()), "application/json"
        )
    return validated
