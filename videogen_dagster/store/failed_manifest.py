"""The manifest a run leaves when generation stops: what was refused (or over budget), and why.

``<video_id>/manifest.json`` is the one file a user reads about a video, so a stopped run says
there what to edit, instead of leaving only a log line in Dagster:

- ``status: "failed"`` and ``failures``: one entry per stopped generation (``what``,
  ``beat_index``, ``reason`` ``"refused"`` or ``"budget"``, the refused ``input`` kind and the
  input itself: the ``prompt`` text or the ``image`` URI, and the provider's ``message``).
- A previous complete render is not lost: ``final.mp4`` is never touched here, and its manifest
  is kept whole under ``last_complete`` (``null`` when the video never completed).

A failure entry is replaced when the same generation fails again, and removed when it later
succeeds (a re-execution from failure). The next run of the video starts from the last complete
manifest (``reset``), and a completed render overwrites the file with a complete manifest.

Steps of one run write from several threads: a lock serialises them within the process. The
multiprocess executor could interleave two writers; the last one wins, and each entry is
written again whenever its step fails again.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from videogen_dagster.store import layout
from videogen_dagster.store.base import Store

FAILED = "failed"
COMPLETE = "complete"
#: Prompts are quoted in full up to this many characters.
PROMPT_CHARS = 300

_lock = threading.Lock()


def _read(store: Store, video_id: str) -> dict[str, Any] | None:
    key = layout.manifest(video_id)
    if not store.exists(key):
        return None
    return json.loads(store.read_text(key))


def _write(store: Store, video_id: str, manifest: dict[str, Any]) -> str:
    return store.write_text(
        layout.manifest(video_id), json.dumps(manifest, indent=2), "application/json"
    )


def record_failure(store: Store, video_id: str, failure: dict[str, Any]) -> str:
    """Add ``failure`` (keyed by its ``what``) to the video's failed manifest; its URI."""
    with _lock:
        current = _read(store, video_id)
        if current is not None and current.get("status") == FAILED:
            last_complete = current.get("last_complete")
            failures = [f for f in current.get("failures", []) if f["what"] != failure["what"]]
        else:
            last_complete, failures = current, []
        failures.append({**failure, "at": datetime.now(UTC).isoformat()})
        failures.sort(key=lambda f: (f.get("beat_index") is None, f.get("beat_index"), f["what"]))
        manifest = {
            "manifest_version": 1,
            "video_id": video_id,
            "status": FAILED,
            "updated_at": datetime.now(UTC).isoformat(),
            "failures": failures,
            "final": (last_complete or {}).get("final"),
            "last_complete": last_complete,
        }
        return _write(store, video_id, manifest)


def resolve_failure(store: Store, video_id: str, what: str) -> None:
    """Drop ``what`` from a failed manifest now that it succeeded; the rest stays."""
    with _lock:
        current = _read(store, video_id)
        if current is None or current.get("status") != FAILED:
            return
        failures = [f for f in current.get("failures", []) if f["what"] != what]
        if len(failures) != len(current.get("failures", [])):
            _write(store, video_id, {**current, "failures": failures})


def reset(store: Store, video_id: str) -> None:
    """At the start of a run: a failed manifest gives way to the last complete one (or none)."""
    with _lock:
        current = _read(store, video_id)
        if current is None or current.get("status") != FAILED:
            return
        if current.get("last_complete"):
            _write(store, video_id, current["last_complete"])
        else:
            store.delete(layout.manifest(video_id))


def prompt_excerpt(prompt: str) -> str:
    return prompt if len(prompt) <= PROMPT_CHARS else prompt[:PROMPT_CHARS] + "…"
