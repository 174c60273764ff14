"""Two ``videogen render`` commands of the same spec into one store at once pay for each
generation once: the second waits for the first's claim on each fingerprint and takes the
result from the cache. Real processes, the installed command, OpenAI images from our fake server
(through OpenAI's client; they cost money, so the ledger shows what was paid), in a folder and
in S3 (moto's server, the endpoint given only through the environment).

The fake holds the first render's images until the second render has said it is waiting for
them, so the two really want the same generations at the same time, however slow the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from videogen_dagster.store import layout
from videogen_dagster.store.base import Store
from videogen_dagster.store.factory import open_store
from videogen_dagster_tests.fakes.openai_server import FakeOpenAIServer
from videogen_dagster_tests.graph_tests.support import write_spec
from videogen_dagster_tests.reliability_tests.support import record_figure

SPEC = """\
prompt: A lantern festival by the river
duration: 10
fps: 8
music: false
beats:
  - description: Lanterns rise over the water
  - description: The last lantern drifts away
"""
VIDEO_ID = "lanterns"
IMAGES = "/v1/images/generations"
WAITING = "which is generating it already"


class GatedImages:
    """Holds the answers to image requests until ``open`` (at most ``limit`` seconds)."""

    def __init__(self, server: FakeOpenAIServer, limit: float = 240.0) -> None:
        self.gate = threading.Event()
        route = server.route

        def gated(request, fault):
            if request.path == IMAGES:
                self.gate.wait(limit)
            return route(request, fault)

        server.route = gated  # type: ignore[method-assign]

    def open(self) -> None:
        self.gate.set()


@pytest.fixture
def gated(openai_server: FakeOpenAIServer) -> Iterator[GatedImages]:
    gate = GatedImages(openai_server)
    yield gate
    gate.open()  # let the server's threads end, whatever the test did


def _start(
    tmp_path: Path, name: str, spec: Path, store: str, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"{name}.log"
    script = Path(sys.executable).parent / "videogen"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(script), "render", "--store", store, str(spec)],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a kill reaches its run and fork-server processes too
        )
    return process, log


def _wait_for(condition: Callable[[], object], every: float = 0.2, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def _paid(store: Store, key: str = "logs/costs.jsonl") -> Counter[str]:
    """Ledger lines per fingerprint."""
    if not store.exists(key):
        return Counter()
    lines = [json.loads(line) for line in store.read_text(key).splitlines() if line]
    return Counter(line["fingerprint"] for line in lines)


def _waits(home: Path) -> list[str]:
    """What the runs on the instance in ``home`` said about waiting for another's claim."""
    from dagster._core.instance.ref import InstanceRef

    if not (home / "dagster.yaml").exists():
        return []
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        return [
            record.user_message
            for run in instance.get_runs()
            for record in instance.all_logs(run.run_id)
            if WAITING in record.user_message
        ]


def _env(tmp_path: Path, openai_server: FakeOpenAIServer) -> dict[str, str]:
    return {
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "VIDEOGEN_IMAGES": "openai",
        "OPENAI_API_KEY": openai_server.api_key,
        "OPENAI_BASE_URL": f"{openai_server.url}/v1",
    }


def _two_renders_at_once(
    tmp_path: Path,
    openai_server: FakeOpenAIServer,
    gated: GatedImages,
    store_uri: str,
    env: dict[str, str],
) -> list[str]:
    """Both renders to the end; the second's notices of waiting for the first."""
    spec = write_spec(tmp_path / "specs", f"{VIDEO_ID}.yaml", SPEC)
    home = Path(env["DAGSTER_HOME"])
    first, first_log = _start(tmp_path, "first", spec, store_uri, env)
    _wait_for(lambda: openai_server.count("POST", IMAGES) == 2)  # the first is paying
    second, second_log = _start(tmp_path, "second", spec, store_uri, env)
    # The second waits for both images. (Reading the event log is not free: not too often, or
    # this process's GIL starves moto's server, which runs on its threads.)
    _wait_for(lambda: len(_waits(home)) == 2, every=2.0)
    assert openai_server.count("POST", IMAGES) == 2  # and has not asked for its own
    waits = _waits(home)
    gated.open()
    codes = [first.wait(timeout=300), second.wait(timeout=300)]
    assert codes == [0, 0], first_log.read_text()[-3000:] + second_log.read_text()[-3000:]
    for log in (first_log, second_log):
        assert f"{VIDEO_ID}/final.mp4" in log.read_text()
    return waits


def _assert_paid_once(store: Store, openai_server: FakeOpenAIServer, label: str) -> None:
    assert openai_server.count("POST", IMAGES) == 2  # one per beat, not one per render
    for key in ("logs/costs.jsonl", layout.cost_ledger(VIDEO_ID)):
        paid = _paid(store, key)
        assert len(paid) == 2 and set(paid.values()) == {1}, (key, paid)
    assert list(store.list_keys(".claims/")) == []  # every claim released
    paid = _paid(store)
    record_figure(
        f"ledger lines for {len(paid)} fingerprints, two renders of one spec at once ({label})",
        sum(paid.values()),
    )


def test_two_renders_of_one_spec_into_a_folder_pay_once(tmp_path, openai_server, gated):
    store_root = tmp_path / "store"
    env = _env(tmp_path, openai_server)
    waits = _two_renders_at_once(tmp_path, openai_server, gated, str(store_root), env)
    assert all(message.startswith("beat ") for message in waits), waits
    _assert_paid_once(open_store(str(store_root)), openai_server, "folder")


def test_two_renders_of_one_spec_into_s3_pay_once(
    tmp_path, openai_server, gated, s3_endpoint, s3_bucket
):
    env = _env(tmp_path, openai_server) | {
        "VIDEOGEN_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ENDPOINT_URL": s3_endpoint,  # a safety net: nothing may reach AWS's endpoint
    }
    store_uri = f"s3://{s3_bucket}/videos"
    _two_renders_at_once(tmp_path, openai_server, gated, store_uri, env)
    store = open_store(store_uri, s3_endpoint_url=s3_endpoint)
    _assert_paid_once(store, openai_server, "S3")


def test_a_killed_renders_claims_are_taken_over(tmp_path, openai_server, gated):
    """The first render is killed while it holds the claims: the next one does not wait a
    minute for heartbeats to stop, it sees their process is gone and pays itself."""
    store_root = tmp_path / "store"
    env = _env(tmp_path, openai_server)
    spec = write_spec(tmp_path / "specs", f"{VIDEO_ID}.yaml", SPEC)
    killed, _ = _start(tmp_path, "killed", spec, str(store_root), env)
    _wait_for(lambda: openai_server.count("POST", IMAGES) == 2)  # claims held, calls in flight
    claims = store_root / ".claims"
    assert len(list(claims.glob("*.json"))) == 2
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    gated.open()

    second, log = _start(tmp_path, "second", spec, str(store_root), env)
    assert second.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert openai_server.count("POST", IMAGES) == 4  # the killed render's two, and ours
    paid = _paid(open_store(str(store_root)))
    assert len(paid) == 2 and set(paid.values()) == {1}  # the killed calls were never settled
    assert not list(claims.glob("*.json"))
    # Taken over at once: a claim still thought alive would have been waited for, and said so.
    assert _waits(tmp_path / "dagster_home") == []


def test_generators_racing_for_one_image_pay_once(tmp_path):
    """The same in miniature, fast: eight generators (eight videos) want one image at once."""
    from videogen_dagster.generation import Generator
    from videogen_dagster.providers.base import ImageRequest, Size
    from videogen_dagster.providers.local import LocalSettings
    from videogen_dagster.providers.registry import build_provider

    store = open_store(str(tmp_path / "store"))
    settings = LocalSettings(short_side=64, image_latency=0.5, price_per_image=0.04)
    request = ImageRequest(prompt="A lantern", size=Size(112, 64), seed=1)
    barrier = threading.Barrier(8)
    results = []

    def video(n: int) -> None:
        generator = Generator(build_provider(local=settings), store, f"video-{n}")
        barrier.wait()
        results.append(generator.image(request, label="beat 0 image", beat_index=0))

    threads = [threading.Thread(target=video, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.cache_hit for result in results) == [False] + [True] * 7
    assert sum(result.cost for result in results) == 0.04
    assert list(_paid(store).values()) == [1]
