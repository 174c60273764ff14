"""A Dagster run launcher that starts each run in a process forked from the fork server, and
ties that process's life to the process that launched it.

Why a launcher of our own: Dagster's ``DefaultRunLauncher`` starts runs only through a code
server (``dagster dev``'s gRPC server), which a laptop running ``videogen render`` has not
started, and each of its run processes imports Dagster and the project afresh (about 2 s of
CPU on a slow core), which the fork server pays once. A run launcher is Dagster's extension
point for exactly this: ``videogen render`` submits its runs to the instance's run queue and,
when no daemon is there to do it, dequeues them itself and launches them with this class
(``run_queue``). It can also be named in ``dagster.yaml`` (``run_launcher:``).

A run process watches the process that launched it: when that one is gone (``kill -9`` of
``videogen render``), the run is interrupted, so no run lives on after its command, waiting for
slots. Each run is tagged with the launching and the running process (host, pid and start time,
so that a reused pid is not taken for the same process): that is how ``check_run_worker_health``
and the next ``videogen render`` tell a dead run from a live one. A run process keeps its
temporary files (``TMPDIR``) inside its launcher's work folder, which the next command removes
when the launcher that made it is gone.

Private Dagster names used (this module is an extension point by nature):
- ``dagster._core.launcher``: ``RunLauncher``, ``LaunchRunContext``, ``CheckRunHealthResult``,
  ``WorkerStatus`` (the launcher interface).
- ``dagster._serdes``: ``ConfigurableClass``, ``ConfigurableClassData`` (for dagster.yaml).
- ``dagster._grpc.impl.core_execute_run`` and
  ``dagster._utils.hosted_user_process.recon_job_from_origin``: what ``dagster api execute_run``
  runs in its process.
- ``dagster._core.instance.ref.InstanceRef``: the instance handed to the run process.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Self

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._serdes import ConfigurableClass, ConfigurableClassData
from dagster_shared.serdes import deserialize_value, serialize_value

from videogen_dagster import fork_server

#: Tag naming the process that launched a run with this launcher: ``host:pid:start``.
LAUNCHER_TAG = "videogen/launcher"
#: Tag naming the process that runs it, set by that process when it starts.
WORKER_TAG = "videogen/worker"
#: Prefix of a launcher's work folder under the system's temporary folder, followed by the
#: launcher's ``pid-start-``: run logs and the run processes' temporary files.
WORK_PREFIX = "videogen-render-"
#: Seconds between the interrupts a run process gets once its launcher is gone: the first lets
#: its steps end as interrupted; the second (for a step blocked in a long call) abandons them
#: and ends the run as failed; the last, a SIGKILL, leaves the run to the next command's reaper.
INTERRUPT_GRACE_SECONDS = 5.0


def _start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` ('' where there is no such process or no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return "" if fields[0] in ("Z", "X") else fields[19]


def process_identity(pid: int | None = None) -> str:
    """``host:pid:start`` of a process (this one by default)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def is_alive(identity: str) -> bool | None:
    """Whether the process ``identity`` names is still running; None for another host's."""
    host, pid_text, start = identity.rsplit(":", 2)
    if host != socket.gethostname():
        return None
    pid = int(pid_text)
    if Path("/proc/self/stat").exists():
        return bool(start) and _start_time(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_work_folder() -> Path:
    """A new work folder named for this process, so a later command can tell it is orphaned."""
    pid = os.getpid()
    return Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{pid}-{_start_time(pid) or 0}-"))


def remove_orphan_work_folders() -> list[Path]:
    """Remove the work folders whose launcher process is gone (a killed render's)."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*-*-*"):
        pid, start = folder.name[len(WORK_PREFIX) :].split("-")[:2]
        if not (pid.isdigit() and start.isdigit()):
            continue
        start = "" if start == "0" else start  # made where there is no /proc: by pid alone
        if is_alive(f"{socket.gethostname()}:{pid}:{start}") is False:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class ForkServerRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a process forked from the project's fork server."""

    def __init__(self, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self._workers: dict[str, BaseProcess] = {}
        self._folder: Path | None = None
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: dict[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data)

    @property
    def folder(self) -> Path:
        """This launcher's work folder (made on first use): logs and run processes' TMPDIR."""
        if self._folder is None:
            self._folder = make_work_folder()
        return self._folder

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        self._instance.add_run_tags(run.run_id, {LAUNCHER_TAG: process_identity()})
        worker = fork_server.processes().Process(
            target=_run_worker,
            args=(
                run.run_id,
                serialize_value(self._instance.get_ref()),
                str(self.folder),
                os.getcwd(),
                dict(os.environ),
                process_identity(),
            ),
            name=f"videogen-run:{run.run_id}",
        )
        worker.start()
        self._workers[run.run_id] = worker

    def worker(self, run_id: str) -> BaseProcess | None:
        """The process of a run this launcher started, if it did."""
        return self._workers.get(run_id)

    def log(self, run_id: str) -> str:
        """What a run's process printed (Dagster's own lines, tracebacks), '' when nothing."""
        path = self.folder / f"{run_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def terminate(self, run_id: str) -> bool:
        worker, run = self._workers.get(run_id), self._instance.get_run_by_id(run_id)
        if worker is None or run is None or not worker.is_alive() or worker.pid is None:
            return False
        self._instance.report_run_canceling(run)
        os.kill(worker.pid, signal.SIGINT)  # Dagster's interrupt handling ends the run cleanly
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        worker = run.tags.get(WORKER_TAG)
        alive = is_alive(worker) if worker else is_alive(run.tags.get(LAUNCHER_TAG, "?:0:"))
        if alive is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "run process on another host")
        if alive:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        gone = f"run process {worker}" if worker else "launcher of a run that never started"
        return CheckRunHealthResult(WorkerStatus.FAILED, f"the {gone} is gone")

    def dispose(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def _run_worker(
    run_id: str, instance_ref: str, folder: str, cwd: str, environ: dict[str, str], launcher: str
) -> None:
    """A run's process: it runs where and with the environment its launcher had (the fork
    server has the ones it started with), prints into its log, keeps its temporary files in its
    launcher's work folder, and is interrupted when its launcher is gone."""
    from dagster._grpc.impl import core_execute_run
    from dagster._utils.hosted_user_process import recon_job_from_origin

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environ)
    scratch = Path(folder) / run_id
    scratch.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = tempfile.tempdir = str(scratch)
    log = os.open(Path(folder) / f"{run_id}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    _interrupt_when_gone(launcher)

    failed = False
    with dg.DagsterInstance.from_ref(deserialize_value(instance_ref, InstanceRef)) as instance:
        instance.add_run_tags(run_id, {WORKER_TAG: process_identity()})
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.job_code_origin is not None, run_id
        job = recon_job_from_origin(run.job_code_origin)
        # As `dagster api execute_run`: errors before or around the steps (bad config, a
        # resource that cannot start) are written to the run's event log as its failure.
        try:
            for event in core_execute_run(job, run, instance, inject_env_vars=False):
                failed = failed or event.event_type == dg.DagsterEventType.RUN_FAILURE
        except Exception:
            failed = True
    sys.exit(1 if failed else 0)


def _interrupt_when_gone(launcher: str) -> None:
    """Once ``launcher`` is gone, interrupt this process as Ctrl-C twice would (Dagster then
    ends the run as failed), and kill it if that has not ended it."""

    def watch() -> None:
        _wait_until_gone(launcher)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(INTERRUPT_GRACE_SECONDS)
        os.kill(os.getpid(), signal.SIGINT)  # a step blocked in a long call: abandon it
        time.sleep(3 * INTERRUPT_GRACE_SECONDS)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="videogen-launcher-watch", daemon=True).start()


def _wait_until_gone(identity: str) -> None:
    pid = int(identity.rsplit(":", 2)[1])
    try:
        handle = os.pidfd_open(pid)  # Linux: readable once the process has ended
    except (AttributeError, OSError):
        handle = None
    if handle is not None:
        if is_alive(identity):  # the handle is of the same process, not of a reused pid
            select.select([handle], [], [])
        os.close(handle)
        return
    while is_alive(identity):
        time.sleep(1.0)
