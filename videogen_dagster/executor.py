"""A Dagster executor that runs ready steps concurrently on threads inside the run process.

Why: our steps (one per storyboard image, one per video chunk) spend seconds to minutes waiting
on generation APIs. Dagster's multiprocess executor starts a process per step (about 0.7 s of CPU
each, and at most one step per core by default), and its in-process executor runs one step at a
time. This executor keeps the in-process executor's run setup (resources built once per run,
run-level compute-log capture) and runs each launched step on its own thread.

Semantics come from Dagster's own machinery, not copies of it:
- ``ActiveExecution`` decides what runs next: dependencies, dynamic outputs/mapping/collect,
  skips and abandons downstream of a failure (independent branches carry on), RetryPolicy
  retries with their delay (a step waiting to retry holds no thread: the orchestrating loop
  wakes up when it is due), ``max_concurrent``, ``tag_concurrency_limits`` and concurrency
  pools through ``InstanceConcurrencyContext`` (a blocked step waits while others run; its slot
  is freed when it succeeds, fails or goes up for retry).
- ``dagster_event_sequence_for_step`` runs a step and emits its events exactly as the in-process
  executor does (STEP_START/STEP_RESTARTED, outputs, materializations, STEP_SUCCESS/FAILURE/
  UP_FOR_RETRY); hooks run on the step's thread after it, as in Dagster's own step loop.
- Re-execution (``ReexecutionOptions.from_failure``) needs nothing here: the plan carries the
  known state and ``ActiveExecution`` starts from it.

What threads change:
- Step code of one run shares a process: resources are built once and shared by all steps, so
  they must be thread-safe (ours hold clients and paths, not per-call state).
- Compute logs are captured once for the run, as the in-process executor does: fd redirection is
  process-global, so every step's stdout/stderr lands in the run's log, not a per-step log.
- Events are written from step threads; Dagster's SQLite storages serialise their connections
  with a lock, so concurrent writes are safe (tested with 40 parallel steps).
- Interrupts (SIGINT/SIGTERM, i.e. run termination, or ``KeyboardInterrupt``) reach the main
  thread only. The executor then stops launching steps and tells the running ones: each stops
  at its next wait (``videogen_dagster.waits.sleep``: a provider's pacing or polling, a retry's
  back-off) by raising ``DagsterExecutionInterruptedError`` there, so it emits its interrupted
  STEP_FAILURE through Dagster's handler, or it ends on its own; the executor waits for them,
  then the run ends as interrupted. Nothing is raised inside a thread from outside it: such an
  exception can land between a lock's acquire and its release (``logging.Handler.handle``) and
  leave the lock held, and the run hung for ever on its next log line (see ``waits``). A second
  interrupt stops waiting and abandons the remaining step threads (daemon threads; their pool
  slots are freed). An unexpected error in the orchestrating loop stops the steps the same way
  and then fails the run with that error.
- The first run in a process freezes the objects already loaded (``gc.freeze``), so no full
  garbage collection walks them while steps wait for the GIL (``_freeze_loaded_objects``).
- Pools: a blocked claim is re-checked as soon as a step of this run frees a slot, instead of
  after Dagster's 1 s..15 s back-off (which is meant for contention between runs).

Use: ``Definitions(..., executor=threaded_executor)``; run config
``execution: {config: {max_concurrent: 8, retries: {enabled: {}}}}``.
Switch back to one process per step with ``Definitions(executor=dagster.multiprocess_executor)``
(or ``executor_def=multiprocess_executor`` on one job, e.g. ``define_asset_job``); the run config
keys ``max_concurrent``, ``retries`` and ``tag_concurrency_limits`` are the same there.
``dagster.in_process_executor`` runs steps one at a time, for debugging.

Private Dagster imports (our upgrade risk; all exist in dagster 1.13):
- ``dagster._core.errors.DagsterExecutionInterruptedError``
- ``dagster._core.events.DagsterEvent``, ``EngineEventData``
- ``dagster._core.execution.api.ExecuteRunWithPlanIterable``
- ``dagster._core.execution.compute_logs.create_compute_log_file_key``
- ``dagster._core.execution.context.system.PlanExecutionContext``, ``PlanOrchestrationContext``,
  ``StepExecutionContext``
- ``dagster._core.execution.context_creation_job.PlanExecutionContextManager``
- ``dagster._core.execution.plan.active.ActiveExecution``
- ``dagster._core.execution.plan.execute_plan``: ``dagster_event_sequence_for_step``,
  ``_trigger_hook``, ``_handle_compute_log_setup_error``, ``_handle_compute_log_teardown_error``
- ``dagster._core.execution.plan.instance_concurrency_context.InstanceConcurrencyContext``
  (subclassed; reads its private ``_claims`` and ``_pending_timeouts``)
- ``dagster._core.execution.plan.plan.ExecutionPlan``
- ``dagster._core.execution.plan.step.ExecutionStep``
- ``dagster._core.execution.retries``: ``RetryMode``, ``get_retries_config``
- ``dagster._core.execution.tags.get_tag_concurrency_limits_config``
- ``dagster._utils.error.serializable_error_info_from_exc_info``
"""

from __future__ import annotations

import contextvars
import gc
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from dagster import Executor, Field, InitExecutorContext, executor
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.context.system import (
    PlanExecutionContext,
    PlanOrchestrationContext,
    StepExecutionContext,
)
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.execute_plan import (
    _handle_compute_log_setup_error,
    _handle_compute_log_teardown_error,
    _trigger_hook,
    dagster_event_sequence_for_step,
)
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.execution.tags import get_tag_concurrency_limits_config
from dagster._utils.error import serializable_error_info_from_exc_info

from videogen_dagster import waits

DEFAULT_MAX_CONCURRENT = 32
"""Steps wait on APIs, not CPU: the cap is about API politeness, not cores (pools do that)."""

POLL_SECONDS = 0.25
"""Longest the orchestrating loop sleeps: bounds how late it notices an interrupt or a pool slot."""


class ThreadedExecutor(Executor):
    """Runs each ready step of a run on its own thread, up to ``max_concurrent`` at once."""

    def __init__(
        self,
        retries: RetryMode,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        tag_concurrency_limits: Sequence[Mapping[str, Any]] | None = None,
    ):
        if max_concurrent < 1:
            raise ValueError(f"threaded executor: max_concurrent must be >= 1: {max_concurrent}")
        self._retries = retries
        self._max_concurrent = max_concurrent
        self._tag_concurrency_limits = [dict(limit) for limit in tag_concurrency_limits or []]

    @property
    def retries(self) -> RetryMode:
        return self._retries

    @property
    def max_concurrent(self) -> int:
        return self._max_concurrent

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        step_keys = execution_plan.step_keys_to_execute
        pid = os.getpid()
        _freeze_loaded_objects()
        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing steps on up to {self._max_concurrent} threads in process (pid: {pid})",
            event_specific_data=EngineEventData.in_process(pid, step_keys),
        )
        started = time.monotonic()
        yield from ExecuteRunWithPlanIterable(
            execution_plan=plan_context.execution_plan,
            iterator=self._execute_plan,
            execution_context_manager=PlanExecutionContextManager(
                job=plan_context.job,
                retry_mode=plan_context.retry_mode,
                execution_plan=plan_context.execution_plan,
                run_config=plan_context.run_config,
                dagster_run=plan_context.dagster_run,
                instance=plan_context.instance,
                raise_on_error=plan_context.raise_on_error,
                output_capture=plan_context.output_capture,
                step_dependency_config=self.step_dependency_config,
            ),
        )
        yield DagsterEvent.engine_event(
            plan_context,
            f"Finished steps in process (pid: {pid}) in {time.monotonic() - started:.2f} s",
            event_specific_data=EngineEventData.in_process(pid, step_keys),
        )

    def _execute_plan(
        self, job_context: PlanExecutionContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        with ExitStack() as stack:
            concurrency = stack.enter_context(
                _RunConcurrencyContext(job_context.instance, job_context.dagster_run)
            )
            active = stack.enter_context(
                ActiveExecution(
                    execution_plan,
                    retry_mode=job_context.retry_mode,
                    max_concurrent=self._max_concurrent,
                    tag_concurrency_limits=self._tag_concurrency_limits,
                    instance_concurrency_context=concurrency,
                    step_dependency_config=job_context.step_dependency_config,
                )
            )
            with ExitStack() as capture_stack:
                yield from _capture_run_logs(job_context, execution_plan, capture_stack)
                yield from _StepThreads(job_context, active, concurrency).run()
                try:
                    capture_stack.close()
                except Exception:
                    yield from _handle_compute_log_teardown_error(job_context, sys.exc_info())


_frozen_in: int | None = None


def _freeze_loaded_objects() -> None:
    """Take the objects alive when a process's first run starts out of the collector's sight.

    Why: a full collection walks every tracked object while it holds the GIL; with Dagster,
    pydantic and numpy loaded that took 126 ms, measured inside a 6-beat video's final step,
    where every step thread stood still for it. What is alive when a run starts (modules,
    definitions, the instance) lives as long as the process, so ``gc.freeze`` moves it to the
    permanent generation and the run's full collections walk only what the run made. Garbage
    cycles not yet collected at that moment are kept for good (see ``gc.freeze``), so it is
    done once per process (a fork server's children freeze in their own process).
    """
    global _frozen_in
    if _frozen_in != os.getpid():
        gc.freeze()
        _frozen_in = os.getpid()


def _capture_run_logs(
    job_context: PlanExecutionContext, execution_plan: ExecutionPlan, capture_stack: ExitStack
) -> Iterator[DagsterEvent]:
    """Capture stdout/stderr once for the whole run, as the in-process executor does."""
    manager = job_context.instance.compute_log_manager
    step_keys = [step.key for step in execution_plan.get_steps_to_execute_in_topo_order()]
    log_key = manager.build_log_key_for_run(job_context.run_id, create_compute_log_file_key())
    try:
        log_context = capture_stack.enter_context(manager.capture_logs(log_key))
        yield DagsterEvent.capture_logs(job_context, step_keys, log_key, log_context)
    except Exception:
        yield from _handle_compute_log_setup_error(job_context, sys.exc_info())


class _RunConcurrencyContext(InstanceConcurrencyContext):
    """Re-checks this run's blocked pool claims as soon as one of its steps frees a slot.

    Dagster re-checks a blocked claim after 1 s, backing off to 15 s: right between runs, but
    within one run it would leave a freed slot idle for seconds between two API calls. The
    storage still decides who gets the slot (its priority queue), so limits hold.
    """

    def free_step(self, step_key: str) -> None:
        held_slot = step_key in self._claims
        super().free_step(step_key)
        if held_slot:
            self._pending_timeouts.clear()


@dataclass(frozen=True)
class _Report:
    """What a step thread tells the orchestrating thread: one event, or that it has ended."""

    step_key: str
    event: DagsterEvent | None = None
    error: BaseException | None = None


def _run_step(
    step_context: StepExecutionContext,
    interrupt: threading.Event,
    reports: queue.SimpleQueue[_Report],
) -> None:
    """Body of a step thread: Dagster's step event sequence, then the step's hooks; its waits
    end with ``DagsterExecutionInterruptedError`` once ``interrupt`` is set."""
    key = step_context.step.key
    try:
        with waits.interrupted_by(interrupt, DagsterExecutionInterruptedError):
            events = []
            for event in dagster_event_sequence_for_step(step_context):
                events.append(event)
                reports.put(_Report(key, event))
            for event in _trigger_hook(step_context, events):
                reports.put(_Report(key, event))
    except BaseException as error:  # interrupts, raise_on_error: the orchestrator decides
        reports.put(_Report(key, error=error))
    else:
        reports.put(_Report(key))


class _StepThreads:
    """The orchestrating loop: owns ActiveExecution; step threads only report through a queue."""

    def __init__(
        self,
        job_context: PlanExecutionContext,
        active: ActiveExecution,
        concurrency: InstanceConcurrencyContext,
    ):
        self._job_context = job_context
        self._active = active
        self._concurrency = concurrency
        self._reports: queue.SimpleQueue[_Report] = queue.SimpleQueue()
        self._running: dict[str, threading.Thread] = {}
        #: Set once the run is interrupted: each step thread stops at its next wait.
        self._interrupt = threading.Event()

    def run(self) -> Iterator[DagsterEvent]:
        try:
            while self._running or not self._active.is_complete:
                if self._active.check_for_interrupts():
                    raise DagsterExecutionInterruptedError("Run interrupted: no new steps")
                for step in self._active.get_steps_to_execute():
                    self._launch(step)
                yield from self._active.concurrency_event_iterator(self._job_context)
                for report in self._next_reports(self._wait_seconds()):
                    yield from self._handle(report)
                yield from self._active.plan_events_iterator(self._job_context)
        except GeneratorExit:
            self._interrupt.set()
            raise
        except BaseException as error:
            yield from self._stop(error)
            raise

    def _launch(self, step: ExecutionStep) -> None:
        known_state = self._active.get_known_state()
        step_context = self._job_context.for_step(step, known_state)
        # Copy the run's context variables (Dagster sets some per run) into the step's thread.
        thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(_run_step, step_context, self._interrupt, self._reports),
            name=f"dagster-step:{step.key}",
            daemon=True,
        )
        self._running[step.key] = thread
        thread.start()

    def _wait_seconds(self) -> float:
        # sleep_interval: time until the next retry is due (<= 0 if none, or a claim is due)
        interval = self._active.sleep_interval()
        return interval if 0 < interval < POLL_SECONDS else POLL_SECONDS

    def _next_reports(self, timeout: float) -> Iterator[_Report]:
        """The next report (waiting up to ``timeout``), then any already queued, one at a time:
        reports not yet taken stay queued if handling one raises, for ``_stop`` to drain."""
        try:
            yield self._reports.get(timeout=timeout)
            while True:
                yield self._reports.get_nowait()
        except queue.Empty:
            return

    def _handle(self, report: _Report) -> Iterator[DagsterEvent]:
        if report.event is not None:
            yield report.event
            self._active.handle_event(report.event)
            return
        self._end(report.step_key)
        self._active.verify_complete(self._job_context, report.step_key)
        if report.error is not None:
            raise report.error

    def _end(self, step_key: str) -> None:
        self._running.pop(step_key).join()
        # A step that ended without a success/failure event still gives back its pool slot.
        self._concurrency.free_step(step_key)

    def _stop(self, error: BaseException) -> Iterator[DagsterEvent]:
        """Interrupt the running steps and pass on their last events before the run ends."""
        if not self._running:
            return
        keys = sorted(self._running)
        if isinstance(error, (DagsterExecutionInterruptedError, KeyboardInterrupt)):
            message = "received termination signal"
            data = EngineEventData.interrupted(keys)
        else:
            message = "unexpected error while steps were in progress"
            error_info = serializable_error_info_from_exc_info(sys.exc_info())
            data = EngineEventData.engine_error(error_info)
        yield DagsterEvent.engine_event(
            self._job_context, f"Threaded executor: {message} - interrupting steps {keys}", data
        )
        self._interrupt.set()
        while self._running:
            if self._active.check_for_interrupts():
                abandoned = sorted(self._running)
                for key in abandoned:
                    self._concurrency.free_step(key)
                yield DagsterEvent.engine_event(
                    self._job_context,
                    f"Threaded executor: second interrupt - abandoning steps {abandoned}",
                    EngineEventData.interrupted(abandoned),
                )
                return
            for report in self._next_reports(POLL_SECONDS):
                if report.event is not None:
                    yield report.event
                else:
                    self._end(report.step_key)


@executor(
    name="threaded",
    config_schema={
        "max_concurrent": Field(
            int,
            default_value=DEFAULT_MAX_CONCURRENT,
            description="Most steps running at once (threads in the run process).",
        ),
        "retries": get_retries_config(),
        "tag_concurrency_limits": get_tag_concurrency_limits_config(),
    },
)
def threaded_executor(init_context: InitExecutorContext) -> ThreadedExecutor:
    """Runs ready steps concurrently on threads in the run process (for I/O-bound steps).

    Run config: ``execution: {config: {max_concurrent: 32, retries: {enabled: {}},
    tag_concurrency_limits: [...]}}``; all keys optional.
    """
    config = init_context.executor_config
    retries = RetryMode.from_config(config["retries"])  # type: ignore[arg-type]
    return ThreadedExecutor(
        retries=retries or RetryMode.ENABLED,
        max_concurrent=config["max_concurrent"],  # type: ignore[arg-type]
        tag_concurrency_limits=config.get("tag_concurrency_limits"),  # type: ignore[arg-type]
    )
