"""The Dagster instance the CLI uses, configured with the settings the project ships."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from videogen_dagster.instance.event_log import PooledSqliteEventLogStorage

#: Run queue limit, pool limits, slot release and log capture for videogen (see the file).
INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")
DEFAULT_DAGSTER_HOME = "dagster_home"


def ensure_dagster_home() -> Path:
    """``$DAGSTER_HOME`` (``./dagster_home`` when unset), given our dagster.yaml if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    if not (home / "dagster.yaml").exists():
        write_instance_config(home)
    return home


#: Where each storage the shipped settings name keeps its files under a home (Dagster's places).
_STORAGE_FOLDERS = {
    "PooledSqliteEventLogStorage": ("history", "runs"),
    "StampedSqliteRunStorage": ("history",),
    "StampedSqliteScheduleStorage": ("schedules",),
}


def write_instance_config(home: Path) -> None:
    """Write the shipped settings to ``home/dagster.yaml``, naming each storage's folder, so a
    process that opens this home without ``$DAGSTER_HOME`` pointing at it still finds them."""
    text = INSTANCE_CONFIG.read_text()
    for storage, parts in _STORAGE_FOLDERS.items():
        anchor = f"  class: {storage}\n"
        folder = json.dumps(str(home.joinpath(*parts)))
        text = text.replace(anchor, f"{anchor}  config:\n    base_dir: {folder}\n")
    (home / "dagster.yaml").write_text(text)


def get_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()


def prepare_instance(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    pool_limits: Mapping[str, int] | None = None,
) -> None:
    """Do before the first run what it would otherwise do inside itself, on the critical path
    of its first steps (0.3 s measured): give each pool the job's steps claim its default
    slots, and make the event log's empty run shard. Quick when already done.

    ``pool_limits`` replaces the default for a pool met for the first time (a paid provider's
    tier: Runway runs 2 tasks at once); a limit set by hand is never changed."""
    storage = instance.event_log_storage
    if isinstance(storage, PooledSqliteEventLogStorage):
        storage.prepare()
    if instance.global_op_concurrency_default_limit is None:
        return
    known = {pool.name for pool in storage.get_pool_limits()}
    for pool in sorted(_pools(job) - known):
        if pool in (pool_limits or {}):
            storage.set_concurrency_slots(pool, (pool_limits or {})[pool])
        else:
            storage.initialize_concurrency_limit_to_default(pool)


def _pools(job: dg.JobDefinition) -> set[str]:
    return {d.pool for d in job.all_node_defs if isinstance(d, dg.OpDefinition) and d.pool}
