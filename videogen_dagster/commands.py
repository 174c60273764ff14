"""What ``videogen register`` and ``videogen render`` do, as functions the CLI and tests call.

``render`` registers each spec (copies it into the store, adds its partition) and submits a
``render_video`` run per video to the run queue of the instance in ``$DAGSTER_HOME``
(``./dagster_home`` when unset), so the runs show up in ``dagster dev`` and obey its run and
pool limits; with no daemon running, the command starts its queued runs itself (``run_queue``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import dagster as dg

from videogen_dagster import fork_server
from videogen_dagster.defs.jobs import STORYBOARD_ONLY
from videogen_dagster.defs.storyboard_chunks import VIDEO_POOL
from videogen_dagster.domain.errors import SpecError, SpecProblem
from videogen_dagster.instance import prepare_instance
from videogen_dagster.pipeline.specs import register_spec_file
from videogen_dagster.progress import RenderProgress, spec_notes
from videogen_dagster.providers.registry import DEFAULT_POOL_LIMITS
from videogen_dagster.run_queue import RunQueue
from videogen_dagster.settings import STORE_TAG, s3_settings_from_env
from videogen_dagster.store import layout
from videogen_dagster.store.factory import open_store


def register(
    paths: Sequence[Path], store_uri: str, instance: dg.DagsterInstance
) -> tuple[list[str], list[SpecError]]:
    """Register every valid spec and add its partition; a bad file does not stop the others.

    Each file succeeds or fails on its own, whatever it raises; a failed registration leaves
    the video's previous one as it was. Two files of one video id (``a/x.yaml b/x.yaml``,
    ``y.yaml y.json``) are both refused, each error naming the other file.
    """
    from videogen_dagster.defs.partitions import videos

    store = open_store(store_uri, **s3_settings_from_env())
    video_ids: list[str] = []
    errors: list[SpecError] = []
    # One file named twice (``a.yaml ./a.yaml``) is registered once, under its first spelling.
    files: dict[Path, Path] = {}
    for path in map(Path, paths):
        files.setdefault(Path(os.path.realpath(path)), path)  # realpath never raises
    by_stem: dict[str, list[Path]] = {}
    for path in files.values():
        by_stem.setdefault(path.stem, []).append(path)
    for path in files.values():
        twins = [str(other) for other in by_stem[path.stem] if other != path]
        if twins:
            message = (
                f"has the same video id {path.stem!r} as {', '.join(twins)}; one command "
                "registers a video once: rename one of them"
            )
            errors.append(SpecError(path, [SpecProblem("", message)]))
            continue
        try:
            video_id, _ = register_spec_file(path, store)
        except SpecError as exc:
            errors.append(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - one file's failure is reported as its own
            reason = " ".join(str(exc).split()) or type(exc).__name__
            errors.append(SpecError(path, [SpecProblem("", f"cannot be registered: {reason}")]))
            continue
        video_ids.append(video_id)
    known = set(instance.get_dynamic_partitions(videos.name))
    new = [video_id for video_id in dict.fromkeys(video_ids) if video_id not in known]
    if new:
        instance.add_dynamic_partitions(videos.name, new)
    return video_ids, errors


def _paid_pool_limits(run_config: Mapping[str, Any] | None) -> dict[str, int]:
    """The clip pool's first limit: the clips backend's tier (Runway 2), not the default 64."""
    resources = (run_config or {}).get("resources", {})
    generation = resources.get("generation", {}).get("config", {})
    clips = generation.get("clips") or os.environ.get("VIDEOGEN_CLIPS", "local")
    limit = DEFAULT_POOL_LIMITS.get(clips)
    return {VIDEO_POOL: limit} if limit else {}


def render_job() -> dg.JobDefinition:
    """The render job, reconstructable by module and function name."""
    from videogen_dagster.definitions import defs

    return defs.resolve_job_def("render_video")


@dataclass
class RenderOutcome:
    video_id: str
    run_id: str = ""
    success: bool = False
    final_uri: str = ""
    errors: list[str] = field(default_factory=list)
    #: Why its run is not running yet (queued, waiting for a pool's slot); '' when it is.
    waiting: str = ""


def render(
    paths: Sequence[Path],
    store_uri: str,
    instance: dg.DagsterInstance,
    *,
    run_config: Mapping[str, Any] | None = None,
    out: TextIO = sys.stderr,
    poll_seconds: float = 0.5,
    storyboard_only: bool = False,
) -> tuple[list[RenderOutcome], list[SpecError]]:
    """Register and render every spec concurrently, printing progress per video to ``out``.

    ``storyboard_only`` materializes only ``STORYBOARD_ONLY`` (images and contact sheet, no
    clip is paid for); each outcome's ``final_uri`` is then the contact sheet.

    A bad spec is printed to ``out`` as soon as registration is done, before any run starts.
    Each video's run executes in a process of its own (``run_launcher``), so a crash or Ctrl-C
    ends every run the way Dagster handles it in a run process (Dagster's interrupt handling
    works in a process's main thread only), and a run ends when this process does. The
    processes are forked from a server that has imported the project once, so a video costs
    no imports (about 2 s of CPU each otherwise). As with any ``multiprocessing`` code, a
    script that calls this must do so under ``if __name__ == "__main__":`` (the ``videogen``
    command does).
    """
    fork_server.start()  # its imports overlap the registration and the instance's preparation
    s3 = s3_settings_from_env()  # registration reads the same; the runs get it in full below
    video_ids, spec_errors = register(paths, store_uri, instance)
    for error in spec_errors:  # now, not after the good specs have rendered
        print(error, file=out, flush=True)
    for note in spec_notes(paths):  # truncated beats, fitted durations: as `videogen validate`
        print(note, file=out, flush=True)
    prepare_instance(instance, render_job(), _paid_pool_limits(run_config))
    outcomes = [RenderOutcome(video_id) for video_id in dict.fromkeys(video_ids)]
    # Run config replaces a resource's whole config: give every field of the store's, or the
    # runs would fall back to defaults (AWS's public endpoint) for the ones left out. A folder
    # as an absolute path: a daemon may start the run in another working folder.
    uri = store_uri if "://" in store_uri else os.path.abspath(store_uri)
    store_config = {"uri": uri, **s3}
    config = _merge(dict(run_config or {}), {"resources": {"store": {"config": store_config}}})
    tags = {STORE_TAG: json.dumps(store_config, sort_keys=True)}  # as the job's own runs say
    store = open_store(store_uri, **s3)
    with RunQueue(instance, render_job) as queue:
        for outcome in outcomes:
            outcome.run_id = queue.submit(
                outcome.video_id, config, STORYBOARD_ONLY if storyboard_only else None, tags
            )
        progress = RenderProgress(instance, outcomes, out)
        while True:
            queue.advance()
            for outcome in outcomes:
                outcome.waiting = queue.waiting(outcome.run_id)
            progress.show()
            if queue.finished():
                break
            queue.wait(poll_seconds)
        progress.finish()
        for outcome in outcomes:
            run = instance.get_run_by_id(outcome.run_id)
            outcome.success = run is not None and run.status == dg.DagsterRunStatus.SUCCESS
            if outcome.success:
                made = layout.contact_sheet if storyboard_only else layout.final_video
                outcome.final_uri = store.uri(made(outcome.video_id))
            else:
                outcome.errors = _failure_messages(instance, outcome.run_id) or [
                    queue.death_note(outcome.run_id)
                ]
    return outcomes, spec_errors


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, nested mappings merged key by key."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            base[key] = _merge(dict(base[key]), value)
        else:
            base[key] = value
    return base


def _failure_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    messages = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        data = event.step_failure_data if event else None
        error = data.error if data else None
        user_error = error.cause if error and error.cause else error
        # A user error (budget, refusal, store) is a Failure whose description is the message.
        described = data.user_failure_data.description if data and data.user_failure_data else None
        text = described or (user_error.message.strip() if user_error else record.message)
        messages.append(f"{event.step_key if event else '?'}: {text}")
    if not messages:  # failed around the steps (the config, a resource, a dead process)
        for record in instance.all_logs(
            run_id, of_type={dg.DagsterEventType.ENGINE_EVENT, dg.DagsterEventType.RUN_FAILURE}
        ):
            event = record.dagster_event
            error = getattr(event.event_specific_data if event else None, "error", None)
            if error is not None:
                # Dagster's config errors append their cause's stack: the words come first.
                messages.append(" ".join(error.message.split("Stack Trace:")[0].split()))
            elif event and event.event_type == dg.DagsterEventType.RUN_FAILURE and not messages:
                messages.append(record.message)
    return messages
