"""How ``videogen render`` gets its runs through the instance's run queue, with or without a
daemon, and how it keeps dead runs from blocking it.

Runs are created and submitted the way Dagster's own tools do (``create_run_for_job`` with the
code location's origin, then ``submit_run`` to the instance's run coordinator), so the queue's
``max_concurrent_runs`` and the pools' limits apply to them as to the sensor's runs. When a
``dagster-daemon`` (``dagster dev``) is alive, it dequeues and launches them in the
``videogen_dagster`` code location; when none is, the command dequeues its own runs, in order,
as far as ``max_concurrent_runs`` allows counting every run in progress on the instance, and
launches them with ``ForkServerRunLauncher``. Tag concurrency limits and run blocking by pool
(``block_op_concurrency_limited_runs``) are the daemon's alone.

A run whose launching command and run process are both gone (``kill -9``) is marked failed (a
queued one canceled) and its pool slots are freed, by any later command, without a daemon;
orphaned work folders are removed then too.

Private Dagster names used: ``dagster._core.remote_origin`` (``InProcessCodeLocationOrigin``,
``RemoteRepositoryOrigin``, ``RemoteJobOrigin``) and
``dagster._core.types.loadable_target_origin.LoadableTargetOrigin``: the origin that names the
code location a daemon finds the job in (``dagster job launch`` builds the same);
``dagster._core.launcher.LaunchRunContext``: what a launcher is given, as the daemon does.
"""

from __future__ import annotations

import multiprocessing.connection
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import dagster as dg
from dagster._core.launcher import LaunchRunContext

from videogen_dagster.run_launcher import (
    LAUNCHER_TAG,
    WORKER_TAG,
    ForkServerRunLauncher,
    is_alive,
    process_identity,
    remove_orphan_work_folders,
)

#: The code location of the definitions (``[tool.dagster]`` in pyproject.toml, workspace.yaml).
LOCATION_NAME = "videogen_dagster"
DEFINITIONS_MODULE = "videogen_dagster.definitions"
#: A daemon whose last heartbeat is older than this is taken for gone (it beats every 30 s).
DAEMON_HEARTBEAT_TOLERANCE_SECONDS = 70.0
#: How often the command looks for dead runs while it waits.
REAP_EVERY_SECONDS = 2.0

_ACTIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
_UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, *_ACTIVE]
_FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


#: Tag naming the ``videogen`` command that submitted a run: ``host:pid:start``.
SUBMITTER_TAG = "videogen/submitter"


def daemon_alive(instance: dg.DagsterInstance) -> bool:
    """Whether a daemon dequeues this instance's runs (its heartbeat is recent)."""
    beat = instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")
    return beat is not None and time.time() - beat.timestamp < DAEMON_HEARTBEAT_TOLERANCE_SECONDS


def reap_dead_runs(instance: dg.DagsterInstance, *, daemon: bool | None = None) -> list[str]:
    """End the runs of this host that nothing will carry on, and free their pool slots: a run
    ``ForkServerRunLauncher`` launched whose launching and run processes are both gone (failed),
    and a queued run whose ``videogen`` command is gone while no daemon would start it
    (canceled). Their ids."""
    daemon = daemon_alive(instance) if daemon is None else daemon
    reaped = []
    for run in instance.get_runs(dg.RunsFilter(statuses=_UNFINISHED)):
        if run.status == dg.DagsterRunStatus.QUEUED:
            submitter = run.tags.get(SUBMITTER_TAG)
            if daemon or submitter is None or is_alive(submitter) is not False:
                continue
            command = submitter.rsplit(":", 2)[1]
            instance.report_run_canceled(run, f"videogen (pid {command}) ended before it started")
        else:
            launcher, worker = run.tags.get(LAUNCHER_TAG), run.tags.get(WORKER_TAG)
            if launcher is None or is_alive(launcher) is not False:
                continue
            if worker is not None and is_alive(worker) is not False:
                continue  # interrupted by its launcher's end: it is ending itself
            process = f"run process (pid {worker.rsplit(':', 2)[1]})" if worker else "run process"
            command = launcher.rsplit(":", 2)[1]
            instance.report_run_failed(
                run, f"its {process} and its launcher (pid {command}) ended without finishing it"
            )
        reaped.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holding = storage.get_concurrency_run_ids()
        if holding:
            for run in instance.get_runs(dg.RunsFilter(run_ids=list(holding), statuses=_FINISHED)):
                if LAUNCHER_TAG in run.tags:
                    storage.free_concurrency_slots_for_run(run.run_id)
    return reaped


class RunQueue:
    """The runs one ``videogen render`` submitted, carried to their end.

    Use as a context manager: entering reaps dead runs and orphaned work folders; leaving
    cancels runs of its own still queued and removes its work folder. ``advance`` reads the
    instance once per call (runs, queue, pools); ``waiting`` and ``finished`` answer from that.
    """

    def __init__(self, instance: dg.DagsterInstance, job: Callable[[], dg.JobDefinition]):
        self._instance, self._job = instance, job
        self._launcher = ForkServerRunLauncher()
        self._launcher.register_instance(instance)
        self._identity = process_identity()
        self._run_ids: list[str] = []
        self._reaped_at = 0.0
        self._runs_now: dict[str, dg.DagsterRun] = {}
        self._waiting: dict[str, str] = {}

    def __enter__(self) -> RunQueue:
        reap_dead_runs(self._instance)
        remove_orphan_work_folders()
        self._reaped_at = time.monotonic()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for run in self._runs([dg.DagsterRunStatus.QUEUED]):
            self._instance.report_run_canceled(run, "videogen stopped before it started")
        self._launcher.dispose()

    def submit(
        self,
        video_id: str,
        run_config: Mapping[str, Any],
        asset_selection: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Create the run of one video (with the job's tags, as Dagster's own launches have,
        and ``tags``) and put it in the instance's queue; its id."""
        job = dg.reconstructable(self._job)
        keys = {dg.AssetKey(key) for key in asset_selection} if asset_selection else None
        if keys:
            job = job.get_subset(asset_selection=keys)
        definition = job.get_definition()
        run = self._instance.create_run_for_job(
            job_def=definition,
            run_config=run_config,
            tags={
                **definition.run_tags,
                **(tags or {}),
                "dagster/partition": video_id,
                SUBMITTER_TAG: self._identity,
            },
            asset_selection=frozenset(keys) if keys else None,
            remote_job_origin=_remote_origin(definition.name),
            job_code_origin=job.get_python_origin(),
        )
        self._run_ids.append(run.run_id)
        if isinstance(self._instance.run_coordinator, dg.QueuedRunCoordinator):
            self._instance.submit_run(run.run_id, workspace=None)  # type: ignore[arg-type]
        else:  # a coordinator that launches at once would need a code server: launch it here
            self._launch(run)
        return run.run_id

    def advance(self) -> None:
        """End the runs of ours whose process died, launch those the queue has room for (when
        no daemon does), and note why each waiting run waits."""
        daemon = daemon_alive(self._instance)
        if time.monotonic() - self._reaped_at >= REAP_EVERY_SECONDS:
            reap_dead_runs(self._instance, daemon=daemon)
            self._reaped_at = time.monotonic()
        runs = {run.run_id: run for run in self._runs(_UNFINISHED)}
        for run_id, run in runs.items():
            worker = self._launcher.worker(run_id)
            if worker is None or worker.exitcode is None:
                continue
            ended = self._instance.get_run_by_id(run_id)  # it may have finished meanwhile
            if ended is not None and not ended.is_finished:
                self._instance.report_run_failed(
                    run, f"its run process ended (exit code {worker.exitcode}) before the run did"
                )
                self._instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        queued = [run for run in runs.values() if run.status == dg.DagsterRunStatus.QUEUED]
        limit = self._max_concurrent_runs()
        active = self._instance.get_runs_count(dg.RunsFilter(statuses=_ACTIVE))
        if not daemon:
            room = len(queued) if limit < 0 else max(limit - active, 0)
            for run in queued[:room]:
                self._launch(run)
            active += len(queued[:room])
            queued = queued[room:]
        self._runs_now = {run.run_id: run for run in self._runs(_UNFINISHED)}
        self._waiting = {run.run_id: self._queued_note(daemon, active, limit) for run in queued}
        started = [r for r in self._runs_now.values() if r.status == dg.DagsterRunStatus.STARTED]
        self._waiting.update(self._waiting_for_slots([run.run_id for run in started]))

    def finished(self) -> bool:
        """Whether every run of ours has ended (as of the last ``advance``)."""
        return not self._runs_now

    def wait(self, seconds: float) -> None:
        """Sleep until a run process of ours ends, or ``seconds``."""
        workers = [self._launcher.worker(run_id) for run_id in self._run_ids]
        sentinels = [w.sentinel for w in workers if w is not None and w.exitcode is None]
        if sentinels:
            multiprocessing.connection.wait(sentinels, timeout=seconds)
        else:
            time.sleep(seconds)

    def waiting(self, run_id: str) -> str:
        """Why a run of ours is not running yet ('' when it is, or when it has ended)."""
        return self._waiting.get(run_id, "")

    def death_note(self, run_id: str) -> str:
        """Why a run's process ended without a failure in the run's log: its last line."""
        text = self._launcher.log(run_id).strip()
        return text.splitlines()[-1] if text else "the run process died before it said why"

    @staticmethod
    def _queued_note(daemon: bool, active: int, limit: int) -> str:
        if daemon:
            return "queued: the daemon starts it"
        return f"queued: {active} run(s) in progress, max_concurrent_runs {limit}"

    def _waiting_for_slots(self, run_ids: list[str]) -> dict[str, str]:
        """'waiting for a slot of pool P' for each run with steps waiting and no slot held."""
        storage = self._instance.event_log_storage
        if not run_ids or not storage.supports_global_concurrency_limits:
            return {}
        infos = [
            storage.get_concurrency_info(pool) for pool in sorted(storage.get_concurrency_keys())
        ]
        holding = set().union(*(info.active_run_ids for info in infos))
        notes = {}
        for run_id in run_ids:
            pools = [
                f"{info.concurrency_key} (limit {info.limit}, held by "
                f"{len(info.active_run_ids)} other run(s))"
                for info in infos
                # Pending with no holder: the slot was just freed and is about to be granted.
                if run_id in info.pending_run_ids and info.active_run_ids
            ]
            if pools and run_id not in holding:
                notes[run_id] = f"waiting for a slot of pool {', '.join(pools)}"
        return notes

    def _runs(self, statuses: Sequence[dg.DagsterRunStatus]) -> list[dg.DagsterRun]:
        if not self._run_ids:
            return []
        runs = self._instance.get_runs(dg.RunsFilter(run_ids=self._run_ids, statuses=statuses))
        order = {run_id: i for i, run_id in enumerate(self._run_ids)}
        return sorted(runs, key=lambda run: order[run.run_id])

    def _launch(self, run: dg.DagsterRun) -> None:
        """What the daemon does to dequeue a run: mark it starting, then launch it."""
        current = self._instance.get_run_by_id(run.run_id)
        if current is None or current.status not in (
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.NOT_STARTED,
        ):
            return
        self._instance.report_dagster_event(
            dg.DagsterEvent(
                event_type_value=dg.DagsterEventType.RUN_STARTING.value, job_name=run.job_name
            ),
            run_id=run.run_id,
        )
        starting = self._instance.get_run_by_id(run.run_id)
        assert starting is not None
        self._launcher.launch_run(LaunchRunContext(dagster_run=starting, workspace=None))

    def _max_concurrent_runs(self) -> int:
        queue = self._instance.get_concurrency_config().run_queue_config
        return queue.max_concurrent_runs if queue else -1


def _remote_origin(job_name: str) -> Any:
    """The origin of the job in the ``videogen_dagster`` code location, as a daemon loads it."""
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name=DEFINITIONS_MODULE,
            working_directory=os.getcwd(),
        ),
        location_name=LOCATION_NAME,
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job_name)
