"""The Dagster instance the CLI uses, configured with the settings the project ships."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

#: Run queue limit, pool limits, slot release and log capture for videogen (see the file).
INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")
DEFAULT_DAGSTER_HOME = "dagster_home"


def ensure_dagster_home() -> Path:
    """``$DAGSTER_HOME`` (``./dagster_home`` when unset), given our dagster.yaml if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(INSTANCE_CONFIG, config)
    return home


def get_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()
