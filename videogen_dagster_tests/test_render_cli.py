"""The installed ``videogen render`` command end to end: an S3 store whose endpoint comes only
from the environment, a bad spec reported before the good one starts rendering, and its runs
started by a running daemon through the instance's run queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg

from videogen_dagster.media import probe
from videogen_dagster.store import layout

#: A port nothing listens on: a client that ignored our endpoint would go here, never to AWS.
CLOSED_ENDPOINT = "http://127.0.0.1:9"


def test_render_into_s3_with_the_endpoint_from_the_environment(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin_client: Any
):
    (tmp_path / "fox.yaml").write_text("prompt: A fox at dusk\nduration: 5\nfps: 4\nmusic: false\n")
    (tmp_path / "bad.yaml").write_text("prompt: A fox\nduration: -1\n")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "VIDEOGEN_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": CLOSED_ENDPOINT,  # botocore's default, were ours dropped
    }
    env.pop("VIDEOGEN_STORE", None)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "videogen"),
            "render",
            "--store",
            f"s3://{s3_bucket}/videos",
            "fox.yaml",
            "bad.yaml",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr  # a spec was invalid; the other rendered
    assert done.stdout.splitlines() == [f"s3://{s3_bucket}/videos/fox/final.mp4"], done.stderr

    # The bad spec's error comes before the good one's first progress line.
    lines = done.stderr.splitlines()
    bad = next(i for i, line in enumerate(lines) if line.startswith("bad.yaml: duration: "))
    first_progress = next(i for i, line in enumerate(lines) if line.startswith("[fox] "))
    assert bad < first_progress, done.stderr
    assert "Traceback" not in done.stderr

    keys = {item["Key"] for item in s3_admin_client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert {f"videos/{layout.final_video('fox')}", f"videos/{layout.manifest('fox')}"} <= keys
    video = tmp_path / "final.mp4"
    video.write_bytes(
        s3_admin_client.get_object(Bucket=s3_bucket, Key=f"videos/{layout.final_video('fox')}")[
            "Body"
        ].read()
    )
    assert probe(video).duration > 4.5
    manifest = json.loads(
        s3_admin_client.get_object(Bucket=s3_bucket, Key=f"videos/{layout.manifest('fox')}")[
            "Body"
        ].read()
    )
    assert manifest["video_id"] == "fox"

    # What the run was given: the endpoint and region the registration used, in full.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "fox"}))
    assert run.run_config["resources"]["store"]["config"] == {
        "uri": f"s3://{s3_bucket}/videos",
        "s3_endpoint_url": s3_endpoint,
        "s3_region": "us-east-1",
    }
    assert run.status == dg.DagsterRunStatus.SUCCESS


def test_no_client_reaches_a_public_aws_endpoint_in_tests():
    """The guard ``conftest`` sets: a boto3 client given no endpoint goes to a closed local port."""
    from videogen_dagster.store.s3 import s3_client

    assert os.environ.get("AWS_ENDPOINT_URL") == CLOSED_ENDPOINT
    assert s3_client().meta.endpoint_url == CLOSED_ENDPOINT


def test_with_a_daemon_running_the_daemon_starts_the_commands_runs(tmp_path: Path):
    """Submitted to the queue, the command's run is dequeued and launched by ``dagster-daemon``
    (through its code server), as a sensor's run would be; the command follows it to the end."""
    from videogen_dagster.instance import write_instance_config
    from videogen_dagster.run_launcher import LAUNCHER_TAG
    from videogen_dagster.run_queue import daemon_alive

    home = tmp_path / "home"
    home.mkdir()
    write_instance_config(home)
    dg.DagsterInstance.from_config(str(home)).dispose()  # made before the daemon opens it too
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: videogen_dagster.definitions\n"
        "      location_name: videogen_dagster\n"
    )
    (tmp_path / "fox.yaml").write_text("prompt: A fox at dusk\nduration: 5\nfps: 4\nmusic: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("VIDEOGEN_STORE", None)
    with open(tmp_path / "daemon.log", "wb") as log:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline = time.monotonic() + 180
            while not daemon_alive(instance):
                assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-3000:]
                time.sleep(0.5)
        done = subprocess.run(
            [str(Path(sys.executable).parent / "videogen"), "render", "fox.yaml", "--store", "out"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[fox] queued: the daemon starts it" in done.stderr.splitlines()
    assert probe(tmp_path / "out" / layout.final_video("fox")).duration > 4.5
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "fox"}))
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert LAUNCHER_TAG not in run.tags  # the daemon's launcher started it, not the command
    assert run.run_config["resources"]["store"]["config"]["uri"] == str(tmp_path / "out")


def test_ctrl_c_ends_the_command_and_its_run_without_a_traceback(tmp_path: Path):
    from videogen_dagster.instance import write_instance_config
    from videogen_dagster.run_launcher import WORKER_TAG, is_alive

    home = tmp_path / "home"
    (tmp_path / "fox.yaml").write_text(
        "prompt: A fox at dusk\nduration: 20\nfps: 8\nmusic: false\n"
    )
    # The home's databases exist before the command starts: this test opens the instance while
    # the command runs, and two processes creating a new home's SQLite databases at the same
    # moment can both stamp their migrations (Dagster's race, not this test's subject).
    home.mkdir()
    write_instance_config(home)
    dg.DagsterInstance.from_config(str(home)).dispose()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("VIDEOGEN_STORE", None)
    command = subprocess.Popen(
        [str(Path(sys.executable).parent / "videogen"), "render", "fox.yaml", "--store", "out"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    run = None
    while run is None or WORKER_TAG not in run.tags:
        assert time.monotonic() < deadline and command.poll() is None, "the run never started"
        time.sleep(0.1)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "fox"}))
        run = runs[0] if runs else None
    command.send_signal(signal.SIGINT)  # the command alone, as `kill -INT` would
    _, err = command.communicate(timeout=120)

    assert command.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert (
        err.splitlines()[-1] == "videogen: interrupted; its runs stop, its queued runs are canceled"
    )
    deadline = time.monotonic() + 60
    while is_alive(run.tags[WORKER_TAG]):
        assert time.monotonic() < deadline, "the run process outlived its command"
        time.sleep(0.1)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ended = instance.get_run_by_id(run.run_id)
    assert ended is not None and ended.status == dg.DagsterRunStatus.FAILURE
