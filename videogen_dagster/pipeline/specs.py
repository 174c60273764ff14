"""Registering a spec file with the store, and turning the registered copy into a validated spec.

Registration copies the spec and its reference images into ``<video_id>/input/`` after the
file has passed every check, so a bad file leaves nothing behind, the user's file stays where
it was, and a run reads only the store: editing the file mid-run cannot change that run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from videogen_dagster.domain.errors import SpecError, SpecProblem
from videogen_dagster.domain.references import reference_data_problem
from videogen_dagster.domain.spec import VideoSpec, load_spec, parse_spec, validate_video_id
from videogen_dagster.domain.spec_files import SPEC_SUFFIXES
from videogen_dagster.domain.validation import (
    TRUNCATION_LOG_KEY,
    TruncationRecord,
    ValidatedSpec,
    validate_spec,
)
from videogen_dagster.generation import Generator
from videogen_dagster.pipeline import failed_manifest
from videogen_dagster.store import layout
from videogen_dagster.store.base import Store

_CONTENT_TYPES = {
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
}


class NotRegisteredError(LookupError):
    """A run asked for a video whose spec was never registered with this store."""


def register_spec_file(path: Path, store: Store) -> tuple[str, VideoSpec]:
    """Validate ``path`` (references included) and copy it into the store; its id and spec."""
    video_id, spec = load_spec(path)
    _write_registration(
        store,
        video_id,
        path.suffix.lower(),
        path.read_bytes(),
        spec,
        lambda ref: (path.parent / ref).read_bytes(),
    )
    return video_id, spec


def register_spec_bytes(
    name: str,
    data: bytes,
    store: Store,
    *,
    read_reference: Callable[[str], bytes],
    describe: str | None = None,
) -> tuple[str, VideoSpec]:
    """Register spec content that is not a local file (an S3 inbox object)."""
    source = describe or name
    suffix = PurePosixPath(name).suffix.lower()
    try:
        video_id = validate_video_id(PurePosixPath(name).stem)
    except ValueError as exc:
        raise SpecError(source, [SpecProblem("", str(exc))]) from exc
    spec = parse_spec(data, source=source, base_dir=None)
    references: dict[str, bytes] = {}
    for i, ref in enumerate(spec.references):
        try:
            references[ref] = read_reference(ref)
        except (OSError, KeyError) as exc:
            problem = f"cannot read {ref!r}: {exc}"
        else:
            problem = reference_data_problem(ref, references[ref])
        if problem:
            raise SpecError(source, [SpecProblem(f"references[{i}]", problem)])
    _write_registration(store, video_id, suffix, data, spec, references.__getitem__)
    return video_id, spec


def _write_registration(
    store: Store,
    video_id: str,
    suffix: str,
    data: bytes,
    spec: VideoSpec,
    read_reference: Callable[[str], bytes],
) -> None:
    # Read every reference before writing anything, so a failure leaves no partial registration.
    references = [read_reference(ref) for ref in spec.references]
    for key in list(store.list_keys(layout.input_prefix(video_id))):
        store.delete(key)
    for index, (ref, content) in enumerate(zip(spec.references, references, strict=True)):
        store.write_bytes(layout.input_reference(video_id, index, ref), content)
    # The spec is written last: its presence marks a complete registration.
    store.write_bytes(layout.spec_source(video_id, suffix), data, _CONTENT_TYPES.get(suffix))


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
