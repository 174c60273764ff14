"""A render with fal clips, end to end through ``videogen render`` and the real ``fal-client``,
killed after fal accepted a clip: the next render polls the journalled request, never pays twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from videogen_dagster.instance import write_instance_config
from videogen_dagster.media import probe
from videogen_dagster.store import layout

BIN = Path(sys.executable).parent

SPEC = """\
prompt: A heron waits in the reeds
duration: 6
fps: 8
music: false
beats:
  - description: The heron stands still, then strikes at the water
"""


def _wait_for(condition, what: str, render: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120.0
    while not condition():
        ended = render.poll() is not None
        assert not ended and time.monotonic() < deadline, (
            f"gave up waiting for {what}: {log.read_text()[-3000:]}"
        )
        time.sleep(0.05)


@pytest.fixture
def render_env(tmp_path, fal_server) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    write_instance_config(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOGEN_", "DAGSTER_"))}
    return env | {
        "DAGSTER_HOME": str(home),
        "VIDEOGEN_STORE": str(tmp_path / "store"),
        "VIDEOGEN_CLIPS": "fal",
        "FAL_KEY": fal_server.api_key,
    }


def test_a_render_killed_after_submitting_is_resumed_by_the_next_without_paying_twice(
    tmp_path, fal_server, render_env
):
    store = tmp_path / "store"
    spec = tmp_path / "heron.yaml"
    spec.write_text(SPEC)
    fal_server.polls_before_done = 10**9  # fal keeps working until the test lets it finish
    log = tmp_path / "first.log"
    with open(log, "wb") as output:
        first = subprocess.Popen(
            [BIN / "videogen", "render", spec],
            env=render_env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its fork server and run processes die with it
        )
    try:
        journal = store / ".jobs"
        _wait_for(lambda: fal_server.submits() == 1, "the clip submitted", first, log)
        _wait_for(
            lambda: journal.is_dir() and any(journal.iterdir()), "the journal entry", first, log
        )
        _wait_for(
            lambda: fal_server.count("GET", "/fal-ai/veo3.1/requests/") >= 1, "polling", first, log
        )
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    [journalled] = [json.loads(p.read_text())["job_id"] for p in journal.iterdir()]
    assert [journalled] == list(fal_server.requests_by_id)
    assert not (store / layout.final_video("heron")).exists()

    fal_server.polls_before_done = 0
    second = subprocess.run(
        [BIN / "videogen", "render", spec],
        env=render_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, (second.stderr[-3000:], (tmp_path / "first.log").read_text())
    assert fal_server.submits() == 1  # the journalled request was polled, not paid again
    final = probe(store / layout.final_video("heron"))
    assert final.duration == pytest.approx(6, abs=1 / 8)
    manifest = json.loads((store / layout.manifest("heron")).read_text())
    assert [chunk["job_id"] for chunk in manifest["chunks"]] == [journalled]
    assert manifest["providers"]["clips"] == "fal/veo3.1_fast"
    assert not list(journal.iterdir())  # cleared once each clip was stored
    ledger = [
        json.loads(line)
        for line in (store / layout.cost_ledger("heron")).read_text().split("\n")
        if line
    ]
    # One 6 s clip at Veo 3.1 Fast's $0.10 a second, charged once.
    assert [(line["provider"], line["cost"]) for line in ledger] == [("fal", pytest.approx(0.6))]
