"""The deployment of ``deploy/README.md``, end to end on this machine, with nothing shared on disk.

Postgres (runs and events), Redis (the Celery broker), moto's S3 server (the store), the Dagster
daemon (sensor and run queue) and two dagster-celery workers, each worker in its own working
folder and home and in a mount namespace where the launcher's folder (its ``DAGSTER_HOME`` with
the instance's local storage, and the inbox) is an empty tmpfs. Any step that assumed a shared
disk fails here. The workers' own environment names another store (a local folder): what they
render must still land in S3, where the launcher registered the video.

Needs the OS packages and the ``deploy`` extra (``.ci/run`` installs both); marked ``deploy``
so the default ``pytest -q`` leaves it out: ``pytest -m deploy`` runs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from videogen_dagster.store import layout
from videogen_dagster_tests.deploy_tests.services import (
    BIN,
    BUCKET,
    REPO,
    celery_hosts,
    deployment,
    missing_services,
)

pytestmark = [
    pytest.mark.deploy,
    pytest.mark.skipif(bool(missing_services()), reason=f"needs {missing_services()}"),
    pytest.mark.timeout(1500),
]

#: Six beats of 5 s, planned by the local planner; 12 fps keeps the local renders light.
SPEC = "prompt: {prompt}\nduration: 30\nfps: 12\nmusic: false\n"
#: Local provider prices, so that paying twice would show in the ledger (it records paid calls).
PRICED = {
    "resources": {
        "generation": {
            "config": {
                "local": {
                    "short_side": 360,
                    "price_per_image": 0.04,
                    "price_per_video_second": 0.05,
                }
            }
        }
    }
}


def _wait(condition, what: str, timeout: float = 600, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _ledger(s3, video_id: str) -> list[dict]:
    try:
        body = s3.get_object(Bucket=BUCKET, Key=f"videos/{layout.cost_ledger(video_id)}")["Body"]
    except s3.exceptions.NoSuchKey:
        return []
    return [json.loads(line) for line in body.read().decode().splitlines() if line]


@pytest.fixture(name="deployment")
def deployment_fixture(tmp_path: Path):
    # Steps of a killed worker go back to the broker after this long (deploy/celery.yaml
    # says 300 s; a test waits less).
    with deployment(tmp_path, visibility_timeout=30) as running:
        yield {
            "instance": running.instance,
            "env": running.env,
            "inbox": running.inbox,
            "s3": running.s3,
            "processes": running.processes,
            "tmp": tmp_path,
        }


def _finished_run(instance: dg.DagsterInstance, video_id: str, after: int) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": video_id}))
    runs = [run for run in runs if run.status in (dg.DagsterRunStatus.SUCCESS,
                                                   dg.DagsterRunStatus.FAILURE)]  # fmt: skip
    return runs[0] if len(runs) > after else None


def _job_execute(env: dict[str, str], video_id: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "dagster"), "job", "execute", "-m", "videogen_dagster.definitions",
         "-j", "render_video", "--tags", json.dumps({"dagster/partition": video_id}), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def test_six_beats_render_on_two_workers_with_nothing_shared_on_disk(deployment):
    instance, s3, env = deployment["instance"], deployment["s3"], deployment["env"]

    # 1. Through the inbox sensor, the run queue and the daemon.
    (deployment["inbox"] / "fox.yaml").write_text(SPEC.format(prompt="A fox crosses a river"))
    run = _wait(lambda: _finished_run(instance, "fox", 0), "the sensor's run of fox")
    assert run.status == dg.DagsterRunStatus.SUCCESS, _failure(instance, run)
    hosts = celery_hosts(instance, run.run_id)
    assert set(hosts) == {"w1", "w2"}, f"steps ran on {dict(hosts)}"
    manifest = _manifest(s3, "fox")
    assert manifest["status"] == "complete"
    assert len(manifest["chunks"]) == 6
    assert s3.head_object(Bucket=BUCKET, Key="videos/fox/final.mp4")["ContentLength"] > 10_000
    for worker in ("w1", "w2"):
        assert not (deployment["tmp"] / worker / "not-the-store").exists()

    # 2. Through `dagster job execute`, priced, with worker w1 killed (kill -9) mid-run.
    spec_file = deployment["tmp"] / "owl.yaml"
    spec_file.write_text(SPEC.format(prompt="An owl watches the snow fall"))
    registered = subprocess.run(
        [str(BIN / "videogen"), "register", str(spec_file)], env=env, capture_output=True
    )
    assert registered.returncode == 0, registered.stderr.decode()
    assert "owl" in instance.get_dynamic_partitions("videos")
    config = deployment["tmp"] / "priced.yaml"
    config.write_text(json.dumps(PRICED))
    command = _job_execute(env, "owl", "-c", str(config))
    _wait(lambda: celery_hosts(instance, _latest_run_id(instance, "owl")).get("w1"),
          "a step of owl on w1", every=0.2)  # fmt: skip
    os.killpg(deployment["processes"]["w1"].pid, signal.SIGKILL)
    output, _ = command.communicate(timeout=900)
    run = instance.get_run_by_id(_latest_run_id(instance, "owl"))
    assert run.status == dg.DagsterRunStatus.SUCCESS, output.decode()[-3000:]
    assert _manifest(s3, "owl")["status"] == "complete"
    paid = Counter(line["fingerprint"] for line in _ledger(s3, "owl"))
    assert paid and max(paid.values()) == 1, f"paid twice: {paid}"

    # 3. Re-rendering a finished video pays nothing: every generation is in the cache.
    ledger_before = _ledger(s3, "owl")
    command = _job_execute(env, "owl", "-c", str(config))
    output, _ = command.communicate(timeout=900)
    assert command.returncode == 0, output.decode()[-3000:]
    assert _ledger(s3, "owl") == ledger_before
    assert _manifest(s3, "owl")["total_cost"] == 0


def _latest_run_id(instance: dg.DagsterInstance, video_id: str) -> str:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": video_id}), limit=1)
    return runs[0].run_id if runs else ""


def _manifest(s3, video_id: str) -> dict:
    body = s3.get_object(Bucket=BUCKET, Key=f"videos/{video_id}/manifest.json")["Body"]
    return json.loads(body.read())


def _failure(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return "\n".join(str(record.dagster_event.event_specific_data)[:800] for record in failures)
