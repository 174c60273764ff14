"""Work for the reliability tests to kill: a render, or one Runway clip, in a process of its own.

``python -m videogen_dagster_tests.reliability_tests.runner render STORE BOOK VIDEO_ID LOCAL_JSON``
renders a registered video with the fault-injecting job on the instance in ``$DAGSTER_HOME``
(exit 0 when the run succeeded, 1 when it failed).

``python -m videogen_dagster_tests.reliability_tests.runner clip STORE RUNWAY_URL API_KEY``
generates ``resume_clip_request()`` through Runway (the fake) with the store's job journal.

Tests start these as subprocesses to SIGKILL them mid-run, and to run several videos at once the
way the daemon does (a process per run): runs started on threads of one process can deadlock
inside Dagster (see the reliability report).
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import dagster as dg
from PIL import Image

from videogen_dagster.generation import Generator
from videogen_dagster.providers.base import ClipRequest, Size
from videogen_dagster.providers.registry import build_provider
from videogen_dagster.providers.retry import RetrySettings
from videogen_dagster.providers.runway_provider import RunwaySettings
from videogen_dagster.store.local import LocalStore
from videogen_dagster_tests.reliability_tests.faulty import FaultBook, faulty_render_job
from videogen_dagster_tests.reliability_tests.support import run_config


def resume_clip_request() -> ClipRequest:
    """A 5 s Runway clip (1280x720) from a plain start image."""
    buffer = io.BytesIO()
    Image.new("RGB", (1280, 720), (40, 90, 160)).save(buffer, format="PNG")
    return ClipRequest(
        start_image=buffer.getvalue(),
        prompt="A fox crosses the ice",
        size=Size(1280, 720),
        fps=24,
        duration=5.0,
        seed=7,
    )


def runway_generator(store_root: Path, url: str, api_key: str) -> Generator:
    settings = RunwaySettings(
        api_key=api_key,
        base_url=url,
        poll_interval=0.05,
        poll_timeout=600.0,
        retry=RetrySettings(attempts=4, base_delay=0.01, max_delay=0.1),
    )
    return Generator(build_provider(clips="runway", runway=settings), LocalStore(store_root), "fox")


def _render(store_root: str, book: str, video_id: str, local: str) -> int:
    with dg.execute_job(
        dg.reconstructable(faulty_render_job),
        instance=dg.DagsterInstance.get(),
        run_config=run_config(Path(store_root), FaultBook(book), local=json.loads(local)),
        tags={"dagster/partition": video_id},
        raise_on_error=False,
    ) as result:
        return 0 if result.success else 1


def _clip(store_root: str, url: str, api_key: str) -> int:
    runway_generator(Path(store_root), url, api_key).clip(resume_clip_request(), label="fox clip")
    return 0


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    sys.exit({"render": _render, "clip": _clip}[command](*args))
