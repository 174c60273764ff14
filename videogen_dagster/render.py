"""What ``videogen register`` and ``videogen render`` do, as functions the CLI and tests call.

``render`` registers each spec (copies it into the store, adds its partition) and runs the
``render_video`` job for every video at once, a process per video, on the instance in
``$DAGSTER_HOME`` (``./dagster_home`` when unset), so the runs show up in ``dagster dev``.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster_shared.serdes import deserialize_value, serialize_value

from videogen_dagster import fork_server
from videogen_dagster.domain.errors import SpecError
from videogen_dagster.instance import prepare_instance
from videogen_dagster.pipeline.specs import register_spec_file
from videogen_dagster.settings import s3_settings_from_env
from videogen_dagster.store import layout
from videogen_dagster.store.factory import open_store

_PROGRESS_EVENTS = {
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
}


def register(
    paths: Sequence[Path], store_uri: str, instance: dg.DagsterInstance
) -> tuple[list[str], list[SpecError]]:
    """Register every valid spec and add its partition; a bad file does not stop the others."""
    from videogen_dagster.defs.partitions import videos

    store = open_store(store_uri, **s3_settings_from_env())
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
    run_config: Mapping[str, Any] | None = None,
    out: TextIO = sys.stderr,
    poll_seconds: float = 0.5,
) -> tuple[list[RenderOutcome], list[SpecError]]:
    """Register and render every spec concurrently, printing progress per video to ``out``.

    Each video's run executes in a process of its own, so a crash or Ctrl-C ends every run
    the way Dagster handles it in a run process (Dagster's interrupt handling works in a
    process's main thread only). The processes are forked from a server that has imported
    the project once, so a video costs no imports (about 2 s of CPU each otherwise). As with
    any ``multiprocessing`` code, a script that calls this must do so under
    ``if __name__ == "__main__":`` (the ``videogen`` command does).
    """
    fork_server.start()  # its imports overlap the registration and the instance's preparation
    video_ids, spec_errors = register(paths, store_uri, instance)
    prepare_instance(instance, render_job())
    outcomes = [RenderOutcome(video_id) for video_id in dict.fromkeys(video_ids)]
    config = _merge(
        dict(run_config or {}), {"resources": {"store": {"config": {"uri": store_uri}}}}
    )
    store = open_store(store_uri, **s3_settings_from_env())
    with tempfile.TemporaryDirectory(prefix="videogen-render-") as tmp:
        children = {
            outcome.video_id: _start_child(Path(tmp), outcome.video_id, config, instance)
            for outcome in outcomes
        }
        progress = _Progress(instance, outcomes, out)
        running = [child.sentinel for child in children.values()]
        while running:
            progress.show()
            ended = multiprocessing.connection.wait(running, timeout=poll_seconds)
            running = [sentinel for sentinel in running if sentinel not in ended]
        for outcome in outcomes:
            outcome.run_id = (Path(tmp) / f"{outcome.video_id}.run").read_text().strip()
            outcome.success = children[outcome.video_id].exitcode == 0
            if outcome.success:
                outcome.final_uri = store.uri(layout.final_video(outcome.video_id))
            elif outcome.run_id:
                outcome.errors = _failure_messages(instance, outcome.run_id)
            if not outcome.success and not outcome.errors:
                outcome.errors = [_death_note(Path(tmp), outcome.video_id)]
        progress.show()
    return outcomes, spec_errors


def _start_child(
    folder: Path, video_id: str, run_config: Mapping[str, Any], instance: dg.DagsterInstance
) -> multiprocessing.process.BaseProcess:
    request = folder / f"{video_id}.json"
    request.write_text(
        json.dumps(
            {
                "video_id": video_id,
                "run_config": run_config,
                "instance_ref": serialize_value(instance.get_ref()),
                "run_id_file": str(folder / f"{video_id}.run"),
            }
        )
    )
    (folder / f"{video_id}.run").touch()
    child = fork_server.processes().Process(
        target=_child_main,
        args=(str(request), str(folder / f"{video_id}.log"), os.getcwd(), dict(os.environ)),
        name=f"videogen-render:{video_id}",
    )
    child.start()
    return child


def _child_main(request_path: str, log_path: str, cwd: str, environ: dict[str, str]) -> None:
    """A render process: it runs where ``render`` was called, with its environment (the fork
    server has the one it started with), its output goes to its log, and its exit code says
    how the run went."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environ)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    try:
        code = run_child(request_path)
    except Exception as exc:  # before or around the run: Dagster has no record to show
        traceback.print_exc()
        Path(request_path).with_suffix(".error").write_text(f"{type(exc).__name__}: {exc}")
        code = 1
    sys.exit(code)


def _death_note(folder: Path, video_id: str) -> str:
    """Why a render process ended without a run to ask: its error, else its log's last line."""
    error, log = folder / f"{video_id}.error", folder / f"{video_id}.log"
    if error.exists():
        # Dagster's config errors append the stack trace of their cause: the words come first.
        return " ".join(error.read_text().split("Stack Trace:")[0].split())
    text = log.read_text().strip() if log.exists() else ""
    return text.splitlines()[-1] if text else "the render process died before it said why"


def run_child(request_path: str) -> int:
    """A child process's side of ``render``: run one video on the parent's instance."""
    request = json.loads(Path(request_path).read_text())
    instance_ref = deserialize_value(request["instance_ref"], InstanceRef)
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        # Not entered as a context manager: that would build every resource again, to load
        # outputs nobody reads here (the result's id and status need none).
        result = dg.execute_job(
            dg.reconstructable(render_job),
            instance=instance,
            run_config=request["run_config"],
            tags={"dagster/partition": request["video_id"]},
        )
        Path(request["run_id_file"]).write_text(result.run_id)
        return 0 if result.success else 1


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
        error = event.step_failure_data.error if event and event.step_failure_data else None
        user_error = error.cause if error and error.cause else error
        text = user_error.message.strip() if user_error else record.message
        messages.append(f"{event.step_key if event else '?'}: {text}")
    return messages


class _Progress:
    """One line per video whenever its progress changes: images and chains done, stages reached.

    Each poll reads only the events it has not seen yet (a cursor per run): reading every run's
    whole log at every poll costs the parent CPU that grows with the runs' length and number.
    """

    def __init__(self, instance: dg.DagsterInstance, outcomes: list[RenderOutcome], out: TextIO):
        self._instance, self._outcomes, self._out = instance, outcomes, out
        self._last: dict[str, str] = {}
        self._tallies: dict[str, _Tally] = {}
        self._started = datetime.now(UTC)

    def _run_id(self, outcome: RenderOutcome) -> str | None:
        if not outcome.run_id:
            runs = self._instance.get_run_records(
                dg.RunsFilter(
                    tags={"dagster/partition": outcome.video_id}, created_after=self._started
                ),
                limit=1,
            )
            if runs:
                outcome.run_id = runs[0].dagster_run.run_id
        return outcome.run_id or None

    def show(self) -> None:
        for outcome in self._outcomes:
            run_id = self._run_id(outcome)
            if run_id:
                tally = self._tallies.setdefault(run_id, _Tally())
                tally.read(self._instance, run_id)
                self._print_if_changed(outcome.video_id, f"[{outcome.video_id}] {tally}")

    def _print_if_changed(self, video_id: str, line: str) -> None:
        if self._last.get(video_id) != line:
            self._last[video_id] = line
            print(line, file=self._out, flush=True)


@dataclass
class _Tally:
    """What a run has done so far, from the events read up to ``cursor``."""

    cursor: str | None = None
    done: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    beats: int | None = None

    def read(self, instance: dg.DagsterInstance, run_id: str) -> None:
        new = instance.get_records_for_run(run_id, cursor=self.cursor, of_type=_PROGRESS_EVENTS)
        self.cursor = new.cursor
        for record in new.records:
            event = record.event_log_entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                self.failed += 1
            elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                self.done[event.step_key.split("[")[0].split(".")[-1]] += 1
            elif event.asset_key == dg.AssetKey("spec"):
                metadata = event.step_materialization_data.materialization.metadata
                self.beats = int(metadata["beat_count"].value)

    def __str__(self) -> str:
        beats = "?" if self.beats is None else str(self.beats)
        parts = [
            f"storyboard {self.done['storyboard_image']}/{beats}",
            f"chains {self.done['continuous_chunks']}/{beats}",
        ]
        parts += [name for name in ("stitched_video", "music", "final_video") if self.done[name]]
        if self.failed:
            parts.append(f"{self.failed} step(s) failed")
        return " · ".join(parts)
