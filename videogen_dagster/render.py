"""What ``videogen register`` and ``videogen render`` do, as functions the CLI and tests call.

``render`` registers each spec (copies it into the store, adds its partition) and runs the
``render_video`` job for every video at once, in this process, on the instance in
``$DAGSTER_HOME`` (``./dagster_home`` when unset), so the runs show up in ``dagster dev``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg

from videogen_dagster.domain.errors import SpecError
from videogen_dagster.pipeline.specs import register_spec_file
from videogen_dagster.store import layout
from videogen_dagster.store.factory import open_store

_STEP_EVENTS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}


def register(
    paths: Sequence[Path], store_uri: str, instance: dg.DagsterInstance
) -> tuple[list[str], list[SpecError]]:
    """Register every valid spec and add its partition; a bad file does not stop the others."""
    from videogen_dagster.defs.partitions import videos

    store = open_store(store_uri)
    video_ids, errors = [], []
    for path in paths:
        try:
            video_id, _ = register_spec_file(Path(path), store)
        except SpecError as exc:
            errors.append(exc)
            continue
        video_ids.append(video_id)
    known = set(instance.get_dynamic_partitions(videos.name))
    new = [video_id for video_id in dict.fromkeys(video_ids) if video_id not in known]
    if new:
        instance.add_dynamic_partitions(videos.name, new)
    return video_ids, errors


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


def render(
    paths: Sequence[Path],
    store_uri: str,
    instance: dg.DagsterInstance,
    *,
    out: TextIO = sys.stderr,
    poll_seconds: float = 0.5,
) -> tuple[list[RenderOutcome], list[SpecError]]:
    """Register and render every spec concurrently, printing progress per video to ``out``."""
    video_ids, spec_errors = register(paths, store_uri, instance)
    run_config = {"resources": {"store": {"config": {"uri": store_uri}}}}
    outcomes = [RenderOutcome(video_id) for video_id in dict.fromkeys(video_ids)]
    job = dg.reconstructable(render_job)

    def run_one(outcome: RenderOutcome) -> None:
        try:
            with dg.execute_job(
                job,
                instance=instance,
                run_config=run_config,
                tags={"dagster/partition": outcome.video_id},
            ) as result:
                outcome.run_id = result.run_id
                outcome.success = result.success
                if not result.success:
                    outcome.errors = _failure_messages(instance, result.run_id)
        except Exception as exc:  # an error outside any step: report it, keep the others going
            outcome.errors = [f"{type(exc).__name__}: {exc}"]

    threads = [threading.Thread(target=run_one, args=(o,), daemon=True) for o in outcomes]
    for thread in threads:
        thread.start()
    progress = _Progress(instance, outcomes, out)
    while any(thread.is_alive() for thread in threads):
        progress.show()
        time.sleep(poll_seconds)
    for thread in threads:
        thread.join()
    progress.show()

    store = open_store(store_uri)
    for outcome in outcomes:
        if outcome.success:
            outcome.final_uri = store.uri(layout.final_video(outcome.video_id))
    return outcomes, spec_errors


def _failure_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    messages = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        error = event.step_failure_data.error if event and event.step_failure_data else None
        user_error = error.cause if error and error.cause else error
        text = user_error.message.strip() if user_error else record.message
        messages.append(f"{event.step_key if event else '?'}: {text}")
    return messages


class _Progress:
    """One line per video whenever its progress changes: images and chains done, stages reached."""

    def __init__(self, instance: dg.DagsterInstance, outcomes: list[RenderOutcome], out: TextIO):
        self._instance, self._outcomes, self._out = instance, outcomes, out
        self._last: dict[str, str] = {}

    def _run_id(self, outcome: RenderOutcome) -> str | None:
        if not outcome.run_id:
            runs = self._instance.get_run_records(
                dg.RunsFilter(tags={"dagster/partition": outcome.video_id}), limit=1
            )
            if runs:
                outcome.run_id = runs[0].dagster_run.run_id
        return outcome.run_id or None

    def show(self) -> None:
        for outcome in self._outcomes:
            run_id = self._run_id(outcome)
            if run_id:
                self._print_if_changed(outcome.video_id, self._line(outcome.video_id, run_id))

    def _line(self, video_id: str, run_id: str) -> str:
        done: dict[str, int] = {}
        failed = 0
        for record in self._instance.all_logs(run_id, of_type=_STEP_EVENTS):
            event = record.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                failed += 1
                continue
            op = event.step_key.split("[")[0].split(".")[-1]
            done[op] = done.get(op, 0) + 1
        beats = "?" if not done.get("spec") else str(self._beat_count(run_id))
        parts = [
            f"storyboard {done.get('storyboard_image', 0)}/{beats}",
            f"chains {done.get('continuous_chunks', 0)}/{beats}",
        ]
        parts += [name for name in ("stitched_video", "music", "final_video") if done.get(name)]
        if failed:
            parts.append(f"{failed} step(s) failed")
        return f"[{video_id}] " + " · ".join(parts)

    def _beat_count(self, run_id: str) -> int:
        for record in self._instance.all_logs(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ):
            materialization = record.asset_materialization
            if materialization and materialization.asset_key == dg.AssetKey("spec"):
                return int(materialization.metadata["beat_count"].value)
        return 0

    def _print_if_changed(self, video_id: str, line: str) -> None:
        if self._last.get(video_id) != line:
            self._last[video_id] = line
            print(line, file=self._out, flush=True)
