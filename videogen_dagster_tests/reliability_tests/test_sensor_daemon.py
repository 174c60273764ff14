"""The inbox sensor under the real ``dagster-daemon``, which (unlike ``build_sensor_context``)
never launches a run key twice and applies the sensor's partition requests itself.

A spec that goes A -> B -> A must render three times, and the store must end with A's spec
and A's video (issue 26); a bad file dropped beside it is shown as the reason of a skipped
tick, which is what the UI shows (issue 21).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from videogen_dagster.settings import SENSOR_INTERVAL_ENV
from videogen_dagster.store import layout
from videogen_dagster_tests.reliability_tests.support import home_instance, record_figure

BIN = Path(sys.executable).parent
#: One beat, few frames, no music: the cheapest render the local provider makes.
SPEC = "prompt: {}\nduration: 5\nfps: 4\nmusic: false\n"
A, B = SPEC.format("A paper boat on a puddle"), SPEC.format("A paper crane in the wind")
#: How long to wait for the daemon before the test gives up (it never waits this long).
PATIENCE = 300.0


@pytest.fixture
def daemon(tmp_path) -> Iterator[tuple[dg.DagsterInstance, Path, Path]]:
    """``dagster-daemon run`` on a home, inbox and store of the test's own."""
    home, inbox, store_root = tmp_path / "home", tmp_path / "inbox", tmp_path / "store"
    inbox.mkdir()
    instance = home_instance(home)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: videogen_dagster.definitions\n"
        "      location_name: videogen_dagster\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOGEN_", "DAGSTER_"))}
    env |= {
        "DAGSTER_HOME": str(home),
        "VIDEOGEN_INBOX": str(inbox),
        "VIDEOGEN_STORE": str(store_root),
        SENSOR_INTERVAL_ENV: "1",
    }
    log_path = tmp_path / "daemon.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield instance, inbox, store_root
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        instance.dispose()
        print(log_path.read_text()[-3000:])


def _wait(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not done():
        assert time.monotonic() < deadline, f"the daemon never got there: {what}"
        time.sleep(0.5)


def _runs(instance: dg.DagsterInstance, video_id: str) -> list[dg.DagsterRun]:
    """The video's runs, oldest first."""
    records = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": video_id}))
    return [record.dagster_run for record in sorted(records, key=lambda r: r.create_timestamp)]


def _finished(instance: dg.DagsterInstance, video_id: str, count: int) -> bool:
    runs = _runs(instance, video_id)
    assert not any(run.status == dg.DagsterRunStatus.FAILURE for run in runs), runs
    return sum(run.status == dg.DagsterRunStatus.SUCCESS for run in runs) >= count


def _skip_reasons(instance: dg.DagsterInstance) -> list[str]:
    reasons = []
    for state in instance.all_instigator_state():
        if state.instigator_name == "spec_inbox_sensor":
            for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id):
                if tick.skip_reason:
                    reasons.append(tick.skip_reason)
    return reasons


def _drop(path: Path, text: str, version: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(version * 10**9, version * 10**9))  # a new version, however fast


def test_a_spec_going_a_b_a_renders_three_times_under_the_daemon(daemon):
    instance, inbox, store_root = daemon
    spec = inbox / "boat.yaml"
    # A bad file next to the first version: shown as a skipped tick's reason, then the good
    # file goes on.
    _drop(inbox / "broken.yaml", "prompt: x\nduration: " + "9" * 5000 + "\n", 1)
    _drop(spec, A, 1)
    _wait("the refusal shown", lambda: any("broken.yaml" in r for r in _skip_reasons(instance)))
    reason = next(r for r in _skip_reasons(instance) if "broken.yaml" in r)
    assert f"{inbox / 'broken.yaml'}: duration: is a number 5000 characters long" in reason

    for count, (text, version) in enumerate(((A, 1), (B, 2), (A, 3)), start=1):
        if count > 1:
            _drop(spec, text, version)
        _wait(f"render {count}", lambda count=count: _finished(instance, "boat", count))
        assert (store_root / layout.spec_source("boat", ".yaml")).read_text() == text
        manifest = json.loads((store_root / layout.manifest("boat")).read_text())
        assert manifest["spec"]["prompt"] == text.splitlines()[0].removeprefix("prompt: ")

    runs = _runs(instance, "boat")
    keys = [run.tags.get("dagster/run_key") for run in runs]
    assert len(runs) == 3 and len(set(keys)) == 3, keys
    assert (store_root / layout.final_video("boat")).is_file()
    assert not (store_root / "broken").exists()
    record_figure("inbox sensor under dagster-daemon: renders of a spec going A -> B -> A", 3)
