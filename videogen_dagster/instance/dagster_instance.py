"""The Dagster instance class videogen ships: Dagster's own, made safe for several runs at once
in one process.

Why: at the start of every run Dagster calls ``logging.config.dictConfig`` to build the
``python_logs`` handlers of ``dagster.yaml``, even when none are configured. ``dictConfig``
closes every logging handler of the process, taking each handler's lock while it holds
logging's module lock; another run's step, meanwhile, holds a handler's lock while it writes
an event and waits for the event log. Runs started on threads of one process (a script, a
test, the benchmark) then deadlock (stacks in ``bench/evidence/deadlock-*``), and every run
closes the handlers its host process had set up. With no ``python_logs`` handlers
configured there is nothing to build, so this class skips the call; with some, it builds them
one run at a time.

Use in ``dagster.yaml`` (the shipped file does)::

    instance_class:
      module: videogen_dagster.instance.dagster_instance
      class: VideogenInstance
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.instance.ref import InstanceRef

_DICT_CONFIG = threading.Lock()


class VideogenInstance(dg.DagsterInstance):
    """``DagsterInstance`` whose runs do not reconfigure Python logging for nothing."""

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def config_defaults(cls, base_dir: str) -> Mapping[str, Any]:
        return InstanceRef.config_defaults(base_dir)

    def get_yaml_python_handlers(self) -> Sequence[logging.Handler]:
        if not self.get_python_log_dagster_handler_config():
            return []
        with _DICT_CONFIG:
            return super().get_yaml_python_handlers()
