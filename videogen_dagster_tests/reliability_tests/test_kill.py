"""A render killed with SIGKILL mid-run leaves no corrupt file under a final name, and the next
run completes, paying only for what had not finished; a Runway job that was submitted but not
downloaded when its process died is polled again, not submitted again."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests.support import register, write_spec
from videogen_dagster_tests.reliability_tests.faulty import FaultBook
from videogen_dagster_tests.reliability_tests.runner import resume_clip_request, runway_generator
from videogen_dagster_tests.reliability_tests.support import (
    LIGHTHOUSE_SPEC as SPEC,
)
from videogen_dagster_tests.reliability_tests.support import (
    charged_twice,
    corrupt_media,
    execute,
    home_instance,
    manifest,
    media_count,
    record_figure,
    start_process,
    start_runner,
)

GENERATIONS = 3 + 4 + 1


def _wait_for(condition, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_kill_9_mid_render_leaves_no_corrupt_file_and_the_rerun_reuses_work(tmp_path):
    home, store_root = tmp_path / "dagster_home", tmp_path / "store"
    instance = home_instance(home)
    book = FaultBook.create(tmp_path / "faults.json")
    video_id = register(instance, store_root, write_spec(tmp_path, "night.yaml", SPEC))

    runner = start_runner(home, store_root, book, video_id, clip_latency=1.0)

    # A generation is finished once its cache record is written (after its media): wait for
    # two clips, so the kill lands while later calls are in flight. A kill in the milliseconds
    # between a synchronous provider's answer and its cache record loses that answer (it is
    # paid again); a job-based provider's journal survives that window.
    def finished_clips() -> int:
        records = [json.loads(p.read_text()) for p in (store_root / ".cache").glob("??/*.json")]
        return sum(1 for r in records if r["key"].endswith(".mp4"))

    _wait_for(lambda: finished_clips() >= 2, "two finished clips")
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)
    # Killed mid-run: some generation had not finished (every call may have been made by then:
    # the last clip starts as soon as its beat's first one is done, a second before it ends).
    finished = {p.stem for p in (store_root / ".cache").glob("??/*.json")}
    assert len(finished) < GENERATIONS

    corrupt = corrupt_media(store_root)
    assert corrupt == []
    assert not (store_root / layout.final_video(video_id)).exists()
    leftovers = [p for p in store_root.rglob("*.part")]
    assert all(p.name.startswith(".") for p in leftovers)  # hidden temporaries, no final names
    record_figure("corrupt files under a final name after kill -9", len(corrupt))
    record_figure("media files present after kill -9", media_count(store_root))
    record_figure("temporary .part files left by kill -9 (hidden, never read)", len(leftovers))

    # Finished generations are those whose cache record was written (it is written last).
    before = len(book.calls)
    again = execute(instance, store_root, video_id, book)
    assert again.success
    rerun_calls = len(book.calls) - before
    assert rerun_calls == GENERATIONS - len(finished) < GENERATIONS
    done = manifest(store_root, video_id)
    entries = [b["image"] for b in done["beats"]] + done["chunks"] + [done["music"]]
    assert {e["fingerprint"] for e in entries if e["cache_hit"]} == finished
    assert charged_twice(store_root) == 0.0
    assert corrupt_media(store_root) == []
    record_figure(f"provider calls on the run after kill -9 (of {GENERATIONS})", rerun_calls)


def test_a_submitted_runway_job_is_polled_again_after_kill_9(tmp_path, runway_server):
    store_root = tmp_path / "store"
    runway_server.polls_before_done = 10**9  # the task runs until the test lets it finish
    worker = start_process(
        ["clip", str(store_root), runway_server.url, runway_server.api_key], tmp_path / "clip.log"
    )
    journal = store_root / ".jobs"
    _wait_for(lambda: journal.is_dir() and any(journal.iterdir()), "the job id in the journal")
    _wait_for(lambda: runway_server.count("GET", "/v1/tasks/") >= 2, "polling")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    [record] = [json.loads(p.read_text()) for p in journal.iterdir()]
    assert runway_server.count("POST", "/v1/image_to_video") == 1

    runway_server.polls_before_done = 0
    result = runway_generator(store_root, runway_server.url, runway_server.api_key).clip(
        resume_clip_request(), label="fox clip"
    )
    assert runway_server.count("POST", "/v1/image_to_video") == 1  # not submitted again
    assert result.job_id == record["job_id"] and not result.cache_hit
    assert not any(journal.iterdir())  # the journal entry is cleared once the clip is stored
    assert Path(store_root / result.key).stat().st_size > 0
    record_figure(
        "Runway submits for a clip whose process was killed after submitting",
        runway_server.count("POST", "/v1/image_to_video"),
    )
