"""Where step outputs live between steps: pickles on the instance's disk, quietly.

Why not Dagster's default ``fs_io_manager``: it logs two debug messages for every load and
one for every store (each an event-log write: a quarter of a video's events) and computes
partition ranges on every call. Our outputs are small records (keys and URIs into the store,
never media), so the work worth doing is an atomic write and a read.

The files are where the default manager puts them, so outputs written by either are found by
the other: an asset's under ``<base>/<asset key>/<video id>``, so a later run reading it (a
re-execution, a check, one asset materialised alone) finds the latest; an op's inside the graph
asset under ``<base>/<run id>/<step key>/<output>[/<mapping key>]``, where the run id is the
parent run's for a step a re-execution skipped.

When steps run on several machines (the Celery deployment in ``deploy/``), no local folder is
shared, so outputs go where every worker already reaches: the store itself, when it is S3.
``step_outputs_io_manager`` chooses from the run's ``store`` resource, so the choice follows the
store the run was launched with (its run config), not each worker's environment.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from videogen_dagster.store import layout
from videogen_dagster.store.base import Store


class OutputFilesIOManager(dg.ConfigurableIOManager):
    """Pickled outputs under ``base_dir`` (default: the instance's ``storage`` folder)."""

    base_dir: str | None = None
    _root: Path = PrivateAttr()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.base_dir:
            self._root = Path(self.base_dir)
        elif context.instance is not None:
            self._root = Path(context.instance.storage_directory())
        else:
            raise dg.DagsterInvariantViolationError(
                "OutputFilesIOManager needs base_dir when it runs without a Dagster instance"
            )

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        path = self._root.joinpath(*output_parts(context))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file:
                pickle.dump(obj, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        if upstream is None:
            raise dg.DagsterInvariantViolationError(
                f"input {context.name!r} has no upstream output to load"
            )
        with open(self._root.joinpath(*output_parts(upstream, context)), "rb") as file:
            return pickle.load(file)


class StoreOutputsIOManager(dg.IOManager):
    """Pickled outputs in the store under ``.steps/``, for steps that run on other machines."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self._store.write_bytes(layout.step_output(output_parts(context)), data)

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        if upstream is None:
            raise dg.DagsterInvariantViolationError(
                f"input {context.name!r} has no upstream output to load"
            )
        return pickle.loads(
            self._store.read_bytes(layout.step_output(output_parts(upstream, context)))
        )


@dg.io_manager(
    required_resource_keys={"store"},
    description="Step outputs in the instance's storage folder, or in the store when it is S3.",
)
def step_outputs_io_manager(context: dg.InitResourceContext) -> dg.IOManager:
    """The step-output manager for the run's store: an S3 store keeps them, a folder does not.

    The ``store`` resource comes with the run's config, so every worker of a run makes the same
    choice; a folder store means one machine, where the instance's folder is the fast place.
    """
    store = context.resources.store
    if store.is_shared():
        return StoreOutputsIOManager(store.open())
    files = OutputFilesIOManager()
    files.setup_for_execution(context)
    return files


def output_parts(
    output: dg.OutputContext, reader: dg.InputContext | None = None
) -> tuple[str, ...]:
    """Where an output lives, as the default manager names it (see the module docstring)."""
    if not output.has_asset_key:
        return tuple(output.get_identifier())
    # Every asset here is partitioned by video and read by the same video's runs, so the
    # run's partition is the asset's (and cheaper to get than the asset partition range).
    partition = (reader or output).partition_key
    return (*output.asset_key.path, partition)
