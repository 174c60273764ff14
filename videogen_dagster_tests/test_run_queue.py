"""``videogen render`` through the instance's run queue without a daemon: the queue's
``max_concurrent_runs`` and the pools' limits hold for its runs, and a run that waits says why."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from videogen_dagster.commands import render
from videogen_dagster.instance import INSTANCE_CONFIG


def _config(**local: Any) -> dict[str, Any]:
    return {"resources": {"generation": {"config": {"local": {"short_side": 64, **local}}}}}


def _specs(folder: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = folder / f"{name}.yaml"
        path.write_text(f"prompt: A {name} at dusk\nduration: 5\nfps: 8\nmusic: false\n")
        paths.append(path)
    return paths


def _overrides(**runs: Any) -> dict[str, Any]:
    overrides = yaml.safe_load(INSTANCE_CONFIG.read_text())
    overrides["concurrency"]["runs"].update(runs)
    return overrides


def test_max_concurrent_runs_holds_for_the_command_and_a_queued_run_says_so(tmp_path: Path):
    out, home = io.StringIO(), tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=_overrides(max_concurrent_runs=1)) as (
        instance
    ):
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        outcomes, errors = render(
            _specs(tmp_path, "fox", "owl"),
            str(tmp_path / "store"),
            instance,
            run_config=_config(),
            out=out,
            poll_seconds=0.1,
        )
        records = instance.get_run_records(dg.RunsFilter(run_ids=[o.run_id for o in outcomes]))
    assert not errors and all(outcome.success for outcome in outcomes), outcomes

    first, second = sorted(records, key=lambda record: record.start_time or 0)
    assert first.end_time is not None and second.start_time is not None
    assert first.end_time <= second.start_time  # never both in progress
    waited = {o.run_id: o.video_id for o in outcomes}[second.dagster_run.run_id]
    assert f"[{waited}] queued: 1 run(s) in progress, max_concurrent_runs 1" in out.getvalue()


def test_a_run_waiting_for_a_pool_slot_says_so(tmp_path: Path):
    out, home = io.StringIO(), tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=_overrides()) as instance:
        instance.event_log_storage.set_concurrency_slots("image_api", 1)
        outcomes, _ = render(
            _specs(tmp_path, "fox", "owl"),
            str(tmp_path / "store"),
            instance,
            run_config=_config(image_latency=1.5),
            out=out,
            poll_seconds=0.1,
        )
        assert instance.event_log_storage.get_concurrency_info("image_api").slot_count == 1
    assert all(outcome.success for outcome in outcomes), outcomes
    waiting = [line for line in out.getvalue().splitlines() if "waiting for a slot" in line]
    assert waiting, out.getvalue()
    assert all(
        line.endswith("waiting for a slot of pool image_api (limit 1, held by 1 other run(s))")
        for line in waiting
    ), waiting


def test_the_launcher_tells_dagsters_run_monitoring_whether_a_run_process_lives(tmp_path: Path):
    """What the daemon's run monitoring asks a launcher configured in dagster.yaml."""
    import subprocess
    import sys

    from dagster._core.launcher import WorkerStatus

    from videogen_dagster.run_launcher import WORKER_TAG, ForkServerRunLauncher, process_identity

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    gone = process_identity(ended.pid)
    ended.wait()
    launcher = ForkServerRunLauncher()
    cases = {
        process_identity(): WorkerStatus.RUNNING,
        gone: WorkerStatus.FAILED,
        "elsewhere.example:1:1": WorkerStatus.UNKNOWN,  # another host's: not ours to judge
    }
    for identity, status in cases.items():
        run = dg.DagsterRun(job_name="render_video", tags={WORKER_TAG: identity})
        assert launcher.check_run_worker_health(run).status == status, identity
