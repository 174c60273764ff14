"""Three videos rendered at once never have more clip calls in flight than the provider's pool
allows: the ``video_api`` concurrency pool is set to 2 on the instance they share.

Each run has a process of its own, as runs launched by the daemon do.
"""

from __future__ import annotations

from videogen_dagster.defs.storyboard_chunks import VIDEO_POOL
from videogen_dagster_tests.graph_tests.support import register, write_spec
from videogen_dagster_tests.reliability_tests.faulty import FaultBook
from videogen_dagster_tests.reliability_tests.support import (
    home_instance,
    record_figure,
    runner_log,
    start_runner,
)

POOL_LIMIT = 2
SPEC = (
    "prompt: {0}\nduration: 10\nfps: 8\nmusic: false\nbeats:\n"
    "  - description: {0} at dawn\n  - description: {0} at dusk\n"
)


def test_three_videos_at_once_respect_the_video_pool(tmp_path):
    home = tmp_path / "dagster_home"
    instance = home_instance(home)
    instance.event_log_storage.set_concurrency_slots(VIDEO_POOL, POOL_LIMIT)
    store_root = tmp_path / "store"
    book = FaultBook.create(tmp_path / "faults.json")
    video_ids = [
        register(instance, store_root, write_spec(tmp_path, f"{name}.yaml", SPEC.format(name)))
        for name in ("harbour", "meadow", "glacier")
    ]

    runners = [
        start_runner(home, store_root, book, video_id, clip_latency=0.5) for video_id in video_ids
    ]
    codes = [runner.wait(timeout=120) for runner in runners]
    assert codes == [0, 0, 0], [runner_log(book, v) for v in video_ids]

    clips = [c for c in book.calls if c["role"] == "clip"]
    assert len(clips) == 6
    assert book.peak("clip") <= POOL_LIMIT
    record_figure(
        f"peak clip calls in flight, 3 videos at once, pool limit {POOL_LIMIT}", book.peak("clip")
    )
