"""The fork server that ``videogen render`` forks its run processes from (``run_launcher``).

It lives apart from ``render``, and imports nothing of Dagster, so that the command can start
it first: the server's imports (about 2 s of CPU on a slow core) then run on another core while
the command imports Dagster itself and registers the specs, instead of after them.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
from multiprocessing import forkserver

#: What the fork server imports: the code of the definitions, not ``videogen_dagster.definitions``
#: itself, whose resources come from the environment (each child builds them from the caller's),
#: and the instance's storage. ``dagster._utils.test.definitions`` is the module Dagster imports
#: to load a job by reference (with it and the storage, 4 videos took 10.9 CPU-s instead of
#: 13.4); the last three are what ``DagsterInstance.from_ref`` imports in every child (70 ms of
#: a slow core, most of it ``upath``). The fork server skips a name that no longer imports.
PRELOAD = (
    "videogen_dagster.run_launcher",
    "videogen_dagster.commands",
    "videogen_dagster.defs.assets",
    "videogen_dagster.defs.checks",
    "videogen_dagster.defs.jobs",
    "videogen_dagster.defs.sensors",
    "videogen_dagster.defs.storyboard_chunks",
    "videogen_dagster.executor",
    "videogen_dagster.instance.dagster_instance",
    "videogen_dagster.instance.event_log",
    "dagster._utils.test.definitions",
    "upath",
    "dagster._core.storage.defs_state.blob_storage_state_storage",
    "dagster._core.secrets.env_file",
)


def processes() -> multiprocessing.context.BaseContext:
    """Fork children from a server that has the project imported where the platform can;
    else start each one afresh."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


def start() -> None:
    """Start the fork server now (once per process; a no-op where there is none), so that its
    imports overlap whatever the caller does before its first render process."""
    if processes().get_start_method() == "forkserver":
        forkserver.ensure_running()
