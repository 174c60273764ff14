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
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr


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
        path = self._root / self._relative(context)
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
        with open(self._root / self._relative(upstream, context), "rb") as file:
            return pickle.load(file)

    @staticmethod
    def _relative(output: dg.OutputContext, reader: dg.InputContext | None = None) -> Path:
        if not output.has_asset_key:
            return Path(*output.get_identifier())
        # Every asset here is partitioned by video and read by the same video's runs, so the
        # run's partition is the asset's (and cheaper to get than the asset partition range).
        partition = (reader or output).partition_key
        return Path(*output.asset_key.path, partition)
