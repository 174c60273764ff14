"""Running the real render job on a real (temporary) Dagster instance, for the graph tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from videogen_dagster.commands import render_job
from videogen_dagster.defs.partitions import videos
from videogen_dagster.pipeline.specs import register_spec_file
from videogen_dagster.store.local import LocalStore

#: Small frames keep the suite fast; everything else is the default local provider.
TEST_SHORT_SIDE = 144


def run_config(store_root: Path, **generation: Any) -> dict[str, Any]:
    local = {"short_side": TEST_SHORT_SIDE, **generation.pop("local", {})}
    return {
        "resources": {
            "store": {"config": {"uri": str(store_root)}},
            "generation": {"config": {"local": local, **generation}},
        }
    }


def register(instance: dg.DagsterInstance, store_root: Path, spec_path: Path) -> str:
    video_id, _ = register_spec_file(spec_path, LocalStore(store_root))
    if not instance.has_dynamic_partition(videos.name, video_id):
        instance.add_dynamic_partitions(videos.name, [video_id])
    return video_id


def execute(
    instance: dg.DagsterInstance,
    store_root: Path,
    video_id: str,
    *,
    job: Callable[[], dg.JobDefinition] = render_job,
    reexecution_options: dg.ReexecutionOptions | None = None,
    max_concurrent: int | None = None,
    **generation: Any,
) -> dg.ExecuteJobResult:
    """Run ``render_video`` (or ``job``, a module-level function returning a job) for one
    partition; the caller inspects the instance afterwards. ``max_concurrent`` 1 runs the
    steps one at a time, in the order the executor launches them."""
    config = run_config(store_root, **generation)
    if max_concurrent is not None:
        config["execution"] = {"config": {"max_concurrent": max_concurrent}}
    with dg.execute_job(
        dg.reconstructable(job),
        instance=instance,
        run_config=config,
        tags={"dagster/partition": video_id},
        raise_on_error=False,
        reexecution_options=reexecution_options,
    ) as result:
        return result


def step_events(
    instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType
) -> dict[str, list[float]]:
    """Timestamps of ``event_type`` per step key."""
    out: dict[str, list[float]] = {}
    for record in instance.all_logs(run_id, of_type=event_type):
        out.setdefault(record.dagster_event.step_key, []).append(record.timestamp)
    return out


def write_spec(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path
