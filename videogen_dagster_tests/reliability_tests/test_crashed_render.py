"""A ``videogen render`` killed with ``kill -9`` never blocks the next one, with a pool limit of
one and no daemon: its run process and fork server end with it, a run whose processes all died
is marked failed and its pool slot freed by the next command, and its work folder is removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from videogen_dagster.run_launcher import WORK_PREFIX, WORKER_TAG, is_alive, process_identity
from videogen_dagster_tests.reliability_tests.support import home_instance, record_figure

#: Two beats, so the run is mid-way (a clip being made, holding the one clip slot) when killed.
SPEC = """\
prompt: A {name} at dusk
duration: 10
fps: 8
music: false
beats:
  - description: The {name} wakes
  - description: The {name} runs
"""
#: Clips that take long enough for the kill to land while one is being made.
SLOW = {"short_side": 64, "clip_latency": 120.0}
FAST = {"short_side": 64}


def _wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)
    return value


def _setup(tmp_path: Path) -> tuple[dg.DagsterInstance, Path, Path]:
    home, store = tmp_path / "dagster_home", tmp_path / "store"
    instance = home_instance(home)
    for pool in ("image_api", "video_api"):
        instance.event_log_storage.set_concurrency_slots(pool, 1)
    return instance, home, store


def _start(home: Path, store: Path, name: str, local: dict[str, Any]) -> subprocess.Popen[bytes]:
    """The render of one spec in a session of its own (so ``killpg`` reaches all it started),
    with a temporary folder of the test's (no other render on the machine removes its folders)."""
    spec = home.parent / f"{name}.yaml"
    (home.parent / "tmp").mkdir(exist_ok=True)
    spec.write_text(SPEC.format(name=name))
    with open(home.parent / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "videogen_dagster_tests.reliability_tests.render_driver",
                str(store),
                json.dumps(local),
                str(spec),
            ],
            env={**os.environ, "DAGSTER_HOME": str(home), "TMPDIR": str(home.parent / "tmp")},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _log(home: Path, name: str) -> str:
    return (home.parent / f"{name}.log").read_text(errors="replace")[-3000:]


def _run_making_a_clip(instance: dg.DagsterInstance, video_id: str) -> dg.DagsterRun | None:
    """The video's run once its process is tagged and it holds the clip pool's slot."""
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": video_id}), limit=1)
    if not runs or WORKER_TAG not in runs[0].tags:
        return None
    holding = instance.event_log_storage.get_concurrency_info("video_api").active_run_ids
    return runs[0] if runs[0].run_id in holding else None


def _fork_servers(parent: int) -> list[str]:
    """Identities of the fork servers ``parent`` started."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"forkserver" in cmdline:
            found.append(process_identity(int(pid)))
    return found


def _work_folders(home: Path, pid: int) -> list[Path]:
    return list((home.parent / "tmp").glob(f"{WORK_PREFIX}{pid}-*"))


def _next_render_starts(
    instance: dg.DagsterInstance, home: Path, store: Path, what: str
) -> dg.DagsterRun:
    """Render another video after the kill; it must finish. Records when its run started."""
    started = time.time()
    after = _start(home, store, "owl", FAST)
    assert after.wait(timeout=300) == 0, _log(home, "owl")
    [record] = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": "owl"}))
    assert record.start_time is not None
    record_figure(
        f"seconds until the next render's run started, {what}",
        round(record.start_time - started, 1),
    )
    return record.dagster_run


def test_a_killed_render_takes_its_run_process_and_fork_server_along(tmp_path: Path):
    instance, home, store = _setup(tmp_path)
    victim = _start(home, store, "fox", SLOW)
    run = _wait_for(lambda: _run_making_a_clip(instance, "fox"), "a clip in the making")
    processes = [run.tags[WORKER_TAG], *_fork_servers(victim.pid)]
    assert len(processes) == 2, processes
    [folder] = _work_folders(home, victim.pid)

    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    killed = time.monotonic()
    _wait_for(lambda: not any(is_alive(p) for p in processes), "its processes to end", timeout=90)
    record_figure(
        "seconds until a killed render's run process and fork server ended",
        round(time.monotonic() - killed, 1),
    )
    ended = instance.get_run_by_id(run.run_id)
    assert ended is not None and ended.status == dg.DagsterRunStatus.FAILURE
    assert folder.exists()  # nobody removed it yet: the next command does

    assert _next_render_starts(instance, home, store, "render killed alone").is_success
    assert not folder.exists()


def test_a_run_whose_processes_all_died_is_failed_and_its_slot_freed_by_the_next_render(
    tmp_path: Path,
):
    instance, home, store = _setup(tmp_path)
    victim = _start(home, store, "fox", SLOW)
    run = _wait_for(lambda: _run_making_a_clip(instance, "fox"), "a clip in the making")
    worker = run.tags[WORKER_TAG]
    [folder] = _work_folders(home, victim.pid)

    os.killpg(victim.pid, signal.SIGKILL)  # the command, its fork server and the run process
    victim.wait(timeout=30)
    _wait_for(lambda: is_alive(worker) is False, "the run process to end", timeout=30)
    stuck = instance.get_run_by_id(run.run_id)
    assert stuck is not None and stuck.status == dg.DagsterRunStatus.STARTED
    assert run.run_id in instance.event_log_storage.get_concurrency_run_ids()

    assert _next_render_starts(instance, home, store, "render killed with its runs").is_success
    reaped = instance.get_run_by_id(run.run_id)
    assert reaped is not None and reaped.status == dg.DagsterRunStatus.FAILURE
    [failure] = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "ended without finishing it" in failure.message
    assert run.run_id not in instance.event_log_storage.get_concurrency_run_ids()
    assert not folder.exists()
