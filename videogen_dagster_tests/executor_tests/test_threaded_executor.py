"""The threaded executor keeps Dagster's executor semantics while steps run at the same time.

Every test runs real jobs with ``execute_job`` on a real SQLite ``DagsterInstance`` and reads what
happened from the instance's event log (or from counters the steps keep themselves). Concurrency
is asserted from recorded start/end timestamps and counters, never from wall-clock thresholds.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster import DagsterEventType, ReexecutionOptions, execute_job, reconstructable
from dagster._core.events.log import EventLogEntry
from dagster_shared.ipc import send_interrupt

from videogen_dagster import executor as executor_module
from videogen_dagster.executor import DEFAULT_MAX_CONCURRENT, ThreadedExecutor
from videogen_dagster_tests.executor_tests import jobs

pytestmark = pytest.mark.timeout(90)

_STARTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED}
_ENDS = {
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_UP_FOR_RETRY,
}


#: Far longer than an interrupted run takes to end on a loaded machine (1-8 s): a run still going
#: after this is hung.
HUNG_RUN_SECONDS = 120


@pytest.fixture(name="instance")
def instance_fixture() -> Iterator[dg.DagsterInstance]:
    jobs.GAUGE.reset()
    with dg.instance_for_test() as instance:
        yield instance
    _join_step_threads()


#: The event log videogen ships claims and frees pool slots with its own SQL.
_SHIPPED_EVENT_LOG = {
    "module": "videogen_dagster.instance.event_log",
    "class": "PooledSqliteEventLogStorage",
}


@pytest.fixture(name="pool_instance", params=["stock", "shipped"])
def pool_instance_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[dg.DagsterInstance]:
    """Pools on Dagster's own SQLite event log and on the one videogen ships."""
    jobs.GAUGE.reset()
    overrides = {}
    if request.param == "shipped":
        config = {"base_dir": str(tmp_path / "runs")}
        overrides = {"event_log_storage": {**_SHIPPED_EVENT_LOG, "config": config}}
    with dg.instance_for_test(overrides=overrides) as instance:
        shipped = type(instance.event_log_storage).__name__ == _SHIPPED_EVENT_LOG["class"]
        assert shipped == (request.param == "shipped")
        yield instance
    _join_step_threads()


def _step_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("dagster-step:")]


def _join_step_threads() -> None:
    for thread in _step_threads():
        thread.join(timeout=jobs.STUCK_LIMIT_SECONDS)


def _entries(instance: dg.DagsterInstance, run_id: str) -> list[EventLogEntry]:
    return [e for e in instance.all_logs(run_id) if e.dagster_event is not None]


def _types_by_step(entries: list[EventLogEntry]) -> dict[str, list[str]]:
    by_step: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        event = entry.dagster_event
        if event.step_key and event.event_type != DagsterEventType.ENGINE_EVENT:
            by_step[event.step_key].append(event.event_type_value)
    return dict(by_step)


def _count(entries: list[EventLogEntry], step_key: str, event_type: DagsterEventType) -> int:
    return sum(
        1
        for e in entries
        if e.dagster_event.step_key == step_key and e.dagster_event.event_type == event_type
    )


def _first(entries: list[EventLogEntry], step_key: str, event_type: DagsterEventType) -> float:
    return next(
        e.timestamp
        for e in entries
        if e.dagster_event.step_key == step_key and e.dagster_event.event_type == event_type
    )


def _attempts(entries: list[EventLogEntry], prefix: str = "") -> list[tuple[str, float, float]]:
    """(step, start, end) for every attempt of every step whose key starts with ``prefix``."""
    open_at: dict[str, float] = {}
    attempts = []
    for entry in entries:
        event = entry.dagster_event
        key = event.step_key
        if not key or not key.startswith(prefix):
            continue
        if event.event_type in _STARTS:
            open_at[key] = entry.timestamp
        elif event.event_type in _ENDS:
            attempts.append((key, open_at.pop(key), entry.timestamp))
    assert not open_at, f"attempts without an end: {sorted(open_at)}"
    return attempts


def _peak_overlap(attempts: list[tuple[str, float, float]]) -> int:
    edges = sorted([(start, 1) for _, start, _ in attempts] + [(end, -1) for _, _, end in attempts])
    now = peak = 0
    for _, delta in edges:
        now += delta
        peak = max(peak, now)
    return peak


def _started(entries: list[EventLogEntry]) -> set[str]:
    return {
        e.dagster_event.step_key
        for e in entries
        if e.dagster_event.event_type == DagsterEventType.STEP_START
    }


def _assert_pool_empty(instance: dg.DagsterInstance) -> None:
    info = instance.event_log_storage.get_concurrency_info(jobs.POOL)
    assert (info.active_slot_count, info.pending_step_count, info.assigned_step_count) == (0, 0, 0)
    assert instance.event_log_storage.get_concurrency_run_ids() == set()


def test_independent_steps_overlap(instance: dg.DagsterInstance) -> None:
    with execute_job(reconstructable(jobs.sleepers_job), instance=instance) as result:
        assert result.success
        run_id = result.run_id
    attempts = _attempts(_entries(instance, run_id), "nap_")
    assert len(attempts) == 6
    # every step started before any step ended: all six were in flight together
    assert max(start for _, start, _ in attempts) < min(end for _, _, end in attempts)
    assert jobs.GAUGE.peak("nap") == 6


def test_events_per_step_match_the_in_process_executor(instance: dg.DagsterInstance) -> None:
    sequences = {}
    for define_job in (jobs.mixed_threaded_job, jobs.mixed_in_process_job):
        with execute_job(reconstructable(define_job), instance=instance) as result:
            assert result.success
            assert result.output_for_node("sum_beats") == 60
            sequences[result.job_def.name] = _types_by_step(_entries(instance, result.run_id))
    threaded, in_process = sequences["mixed_threaded"], sequences["mixed_in_process"]
    assert threaded == in_process
    assert set(threaded) == {
        "split_beats",
        *(f"render_beat[beat_{i}]" for i in range(4)),
        "sum_beats",
        "standalone",
    }
    assert threaded["render_beat[beat_0]"].count("ASSET_MATERIALIZATION") == 1
    assert "HOOK_COMPLETED" in threaded["standalone"]
    assert jobs.GAUGE.peak("render") >= 2


def test_default_config_without_run_config(instance: dg.DagsterInstance) -> None:
    with execute_job(reconstructable(jobs.mixed_threaded_job), instance=instance) as result:
        messages = [e.message for e in result.all_events]
    assert any(f"up to {DEFAULT_MAX_CONCURRENT} threads" in m for m in messages)


def test_max_concurrent_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrent must be >= 1: 0"):
        ThreadedExecutor(retries=dg._core.execution.retries.RetryMode.ENABLED, max_concurrent=0)


def test_retry_policy_retries_and_a_waiting_retry_holds_no_slot(
    instance: dg.DagsterInstance,
) -> None:
    run_config = {"execution": {"config": {"max_concurrent": 1}}}
    with execute_job(
        reconstructable(jobs.retries_job), instance=instance, run_config=run_config
    ) as result:
        assert result.success
        assert result.output_for_node("fails_twice") == 2
        run_id = result.run_id
    entries = _entries(instance, run_id)
    assert _count(entries, "fails_twice", DagsterEventType.STEP_UP_FOR_RETRY) == 2
    assert _count(entries, "fails_twice", DagsterEventType.STEP_RESTARTED) == 2
    assert _count(entries, "fails_twice", DagsterEventType.STEP_SUCCESS) == 1
    assert _count(entries, "fails_twice", DagsterEventType.STEP_FAILURE) == 0
    # while fails_once_slow_retry waited out its delay, the only slot ran the other chain
    assert _first(entries, "quick_second", DagsterEventType.STEP_SUCCESS) < _first(
        entries, "fails_once_slow_retry", DagsterEventType.STEP_RESTARTED
    )
    assert _peak_overlap(_attempts(entries)) == 1


def test_retries_disabled_by_run_config(instance: dg.DagsterInstance) -> None:
    run_config = {"execution": {"config": {"retries": {"disabled": {}}}}}
    with execute_job(
        reconstructable(jobs.retries_job), instance=instance, run_config=run_config
    ) as result:
        assert not result.success
        run_id = result.run_id
    entries = _entries(instance, run_id)
    assert _count(entries, "fails_twice", DagsterEventType.STEP_UP_FOR_RETRY) == 0
    assert _count(entries, "fails_twice", DagsterEventType.STEP_FAILURE) == 1
    assert _count(entries, "quick_second", DagsterEventType.STEP_SUCCESS) == 1


def _branches_config(marker: Path) -> dict:
    return {"ops": {"needs_marker": {"config": {"marker": str(marker)}}}}


def test_failed_branch_does_not_stop_independent_branch(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    with execute_job(
        reconstructable(jobs.branches_job),
        instance=instance,
        run_config=_branches_config(tmp_path / "marker"),
    ) as result:
        assert not result.success
        run_id = result.run_id
    entries = _entries(instance, run_id)
    assert _count(entries, "needs_marker", DagsterEventType.STEP_FAILURE) == 1
    assert _count(entries, "sibling_second", DagsterEventType.STEP_SUCCESS) == 1
    assert "after_marker" not in _started(entries)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE


def test_reexecution_from_failure_runs_only_failed_and_downstream(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    recon = reconstructable(jobs.branches_job)
    with execute_job(recon, instance=instance, run_config=_branches_config(marker)) as first:
        assert not first.success
        parent_id = first.run_id
    marker.write_text("provider is back")
    with execute_job(
        recon,
        instance=instance,
        run_config=_branches_config(marker),
        reexecution_options=ReexecutionOptions.from_failure(parent_id, instance),
    ) as second:
        assert second.success
        assert second.output_for_node("after_marker") == 42  # (20 from the parent + 1) * 2
        run_id = second.run_id
    entries = _entries(instance, run_id)
    assert _started(entries) == {"needs_marker", "after_marker"}
    assert _count(entries, "needs_marker", DagsterEventType.LOADED_INPUT) == 1


def test_max_concurrent_is_honoured(instance: dg.DagsterInstance) -> None:
    run_config = {"execution": {"config": {"max_concurrent": 3}}}
    with execute_job(
        reconstructable(jobs.sleepers_job), instance=instance, run_config=run_config
    ) as result:
        assert result.success
        run_id = result.run_id
    assert jobs.GAUGE.peak("nap") == 3
    assert _peak_overlap(_attempts(_entries(instance, run_id), "nap_")) <= 3


def test_tag_concurrency_limits(instance: dg.DagsterInstance) -> None:
    limits = [{"key": "api", "value": "video", "limit": 1}]
    run_config = {"execution": {"config": {"tag_concurrency_limits": limits}}}
    with execute_job(
        reconstructable(jobs.tagged_sleepers_job), instance=instance, run_config=run_config
    ) as result:
        assert result.success
        run_id = result.run_id
    assert jobs.GAUGE.peak("tagged") == 1
    assert jobs.GAUGE.peak("free") == 2
    assert _peak_overlap(_attempts(_entries(instance, run_id), "tagged_")) == 1


def test_pool_limit_holds_while_unpooled_steps_run(pool_instance: dg.DagsterInstance) -> None:
    instance = pool_instance
    instance.event_log_storage.set_concurrency_slots(jobs.POOL, 2)
    with execute_job(reconstructable(jobs.pooled_job), instance=instance) as result:
        assert result.success
        run_id = result.run_id
        messages = [e.message for e in result.all_events]
    assert jobs.GAUGE.peak("pool") == 2
    assert jobs.GAUGE.peak("unpooled") == 2
    assert _peak_overlap(_attempts(_entries(instance, run_id), "clip_")) <= 2
    assert any(f"blocked by limit for pool {jobs.POOL}" in m for m in messages)
    _assert_pool_empty(instance)


def test_pool_slots_freed_after_a_failing_step(pool_instance: dg.DagsterInstance) -> None:
    instance = pool_instance
    instance.event_log_storage.set_concurrency_slots(jobs.POOL, 1)
    with execute_job(reconstructable(jobs.pooled_failure_job), instance=instance) as result:
        assert not result.success
        run_id = result.run_id
    entries = _entries(instance, run_id)
    assert _count(entries, "pooled_failure", DagsterEventType.STEP_UP_FOR_RETRY) == 1
    assert _count(entries, "pooled_failure", DagsterEventType.STEP_FAILURE) == 1
    assert all(_count(entries, f"clip_{i}", DagsterEventType.STEP_SUCCESS) == 1 for i in range(3))
    assert jobs.GAUGE.peak("pool") == 1
    _assert_pool_empty(instance)


def test_partitioned_dynamic_graph_asset(instance: dg.DagsterInstance) -> None:
    instance.add_dynamic_partitions(jobs.videos.name, ["v1", "v2"])
    with execute_job(
        reconstructable(jobs.define_video_job),
        instance=instance,
        tags={"dagster/partition": "v1"},
    ) as result:
        assert result.success
        materialized = {
            (m.asset_key.to_user_string(), m.partition)
            for m in result.asset_materializations_for_node("video_graph")
        }
    assert materialized == {("storyboard", "v1"), ("chunks", "v1")}
    assert instance.get_materialized_partitions(dg.AssetKey("chunks")) == {"v1"}
    assert jobs.GAUGE.peak("image") >= 2
    assert jobs.GAUGE.peak("chunk") >= 2


def test_many_parallel_steps_log_to_sqlite(instance: dg.DagsterInstance) -> None:
    with execute_job(reconstructable(jobs.many_job), instance=instance) as result:
        assert result.success
        run_id = result.run_id
    logs = instance.all_logs(run_id)
    entries = [e for e in logs if e.dagster_event is not None]
    counts = Counter(e.dagster_event.event_type for e in entries)
    assert counts[DagsterEventType.STEP_SUCCESS] == jobs.MANY
    assert counts[DagsterEventType.ASSET_MATERIALIZATION] == jobs.MANY
    user_messages = [e.user_message for e in logs if " message " in e.user_message]
    expected = {
        f"chatty_{i} message {n}" for i in range(jobs.MANY) for n in range(jobs.LOGS_PER_STEP)
    }
    assert sorted(user_messages) == sorted(expected)
    assert jobs.GAUGE.peak("chatty") > 1

    # stdout of every step thread lands in the run-level compute log
    (captured,) = [
        e.dagster_event
        for e in entries
        if e.dagster_event.event_type == DagsterEventType.LOGS_CAPTURED
    ]
    manager = instance.compute_log_manager
    log_key = manager.build_log_key_for_run(run_id, captured.logs_captured_data.file_key)
    stdout = manager.get_log_data(log_key).stdout.decode()
    assert all(f"stdout from chatty_{i}\n" in stdout for i in range(jobs.MANY))


def test_the_first_run_in_a_process_freezes_what_was_loaded_and_later_runs_do_not(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is alive when the first run starts leaves the collector's sight, so no full
    collection walks it mid-run; later runs leave the freeze alone (frozen garbage is kept)."""
    gc.unfreeze()
    monkeypatch.setattr(executor_module, "_frozen_in", None)
    assert gc.get_freeze_count() == 0
    with execute_job(reconstructable(jobs.sleepers_job), instance=instance) as result:
        assert result.success
    frozen = gc.get_freeze_count()
    assert frozen > 0
    with execute_job(reconstructable(jobs.sleepers_job), instance=instance) as result:
        assert result.success
    assert gc.get_freeze_count() <= frozen  # frozen objects can still be freed, none added


def _interruptible_config(tmp_path: Path) -> dict:
    return {
        "ops": {
            "busy_until_interrupted": {"config": {"started": str(tmp_path / "busy")}},
            "busy_too": {"config": {"started": str(tmp_path / "busy_too")}},
        }
    }


def _interrupt_when(paths: list[Path]) -> threading.Thread:
    """Send SIGINT to this process once every step named by ``paths`` is running."""

    def _wait_then_interrupt() -> None:
        deadline = time.monotonic() + jobs.STUCK_LIMIT_SECONDS
        while not all(p.exists() for p in paths) and time.monotonic() < deadline:
            time.sleep(0.02)
        send_interrupt()

    thread = threading.Thread(target=_wait_then_interrupt, daemon=True)
    thread.start()
    return thread


def _interrupted_failure(entries: list[EventLogEntry], step_key: str) -> bool:
    return any(
        e.dagster_event.step_key == step_key
        and e.dagster_event.event_type == DagsterEventType.STEP_FAILURE
        and e.dagster_event.step_failure_data.error.cls_name == "DagsterExecutionInterruptedError"
        for e in entries
    )


def test_interrupt_stops_running_steps_and_launches_no_more(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    sender = _interrupt_when([tmp_path / "busy", tmp_path / "busy_too"])
    with execute_job(
        reconstructable(jobs.interruptible_job),
        instance=instance,
        run_config=_interruptible_config(tmp_path),
    ) as result:
        assert not result.success
        run_id = result.run_id
    sender.join()
    entries = _entries(instance, run_id)
    assert _interrupted_failure(entries, "busy_until_interrupted")
    assert _interrupted_failure(entries, "busy_too")
    assert _started(entries) == {"busy_until_interrupted", "busy_too"}
    assert any("received termination signal" in (e.message or "") for e in entries)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert _step_threads() == []


def test_an_interrupt_never_hangs_a_run_whose_steps_are_logging(tmp_path: Path) -> None:
    """Steps that spend their time inside logging's handler locks, interrupted: the run ends
    failed. (An exception raised into the step threads from outside once landed between a
    handler lock's acquire and release, and every such run hung for ever, 5 of 5.)"""
    for attempt in range(3):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        driver = subprocess.run(
            [
                sys.executable,
                "-m",
                "videogen_dagster_tests.executor_tests.interrupt_driver",
                folder,
            ],
            capture_output=True,
            text=True,
            timeout=HUNG_RUN_SECONDS,
        )
        assert driver.stdout.split() == ["FAILURE"], driver.stderr[-3000:]


def test_error_in_orchestration_stops_steps_and_surfaces(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    run_config = {"ops": {"busy_until_interrupted": {"config": {"started": str(tmp_path / "b")}}}}
    with pytest.raises(ValueError, match="user code fails on purpose"):
        execute_job(
            reconstructable(jobs.raise_on_error_job),
            instance=instance,
            run_config=run_config,
            raise_on_error=True,
        )
    (run,) = instance.get_runs()
    entries = _entries(instance, run.run_id)
    assert _interrupted_failure(entries, "busy_until_interrupted")
    assert _count(entries, "raises_value_error", DagsterEventType.STEP_FAILURE) == 1
    messages = [e.message or "" for e in entries]
    assert any("unexpected error while steps were in progress" in m for m in messages)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert _step_threads() == []


def test_second_interrupt_abandons_a_step_stuck_in_a_blocking_call(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    started = tmp_path / "blocked"

    def _interrupt_twice() -> None:
        deadline = time.monotonic() + jobs.STUCK_LIMIT_SECONDS
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        send_interrupt()
        # the second one only once the executor is waiting for the stuck step
        while time.monotonic() < deadline:
            (run,) = instance.get_runs()
            if any(
                "interrupting steps" in (e.message or "") for e in instance.all_logs(run.run_id)
            ):
                break
            time.sleep(0.05)
        send_interrupt()

    sender = threading.Thread(target=_interrupt_twice, daemon=True)
    sender.start()
    run_config = {"ops": {"blocked_in_one_call": {"config": {"started": str(started)}}}}
    with execute_job(
        reconstructable(jobs.blocked_job), instance=instance, run_config=run_config
    ) as result:
        assert not result.success
        run_id = result.run_id
    sender.join()
    messages = [e.message or "" for e in _entries(instance, run_id)]
    assert any("second interrupt - abandoning steps ['blocked_in_one_call']" in m for m in messages)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    # the abandoned thread is still inside its call: the executor did not wait for it
    assert [t.name for t in _step_threads()] == ["dagster-step:blocked_in_one_call"]
