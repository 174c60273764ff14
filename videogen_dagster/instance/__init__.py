"""The Dagster instance the CLI uses, configured with the settings the project ships."""

from __future__ import annotations

import json
import os
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
    if not (home / "dagster.yaml").exists():
        write_instance_config(home)
    return home


def write_instance_config(home: Path) -> None:
    """Write the shipped settings to ``home/dagster.yaml``, naming the event log's folder, so a
    process that opens this home without ``$DAGSTER_HOME`` pointing at it still finds it."""
    text = INSTANCE_CONFIG.read_text()
    anchor = "  class: PooledSqliteEventLogStorage\n"
    folder = json.dumps(str(home / "history" / "runs"))
    text = text.replace(anchor, f"{anchor}  config:\n    base_dir: {folder}\n")
    (home / "dagster.yaml").write_text(text)


def get_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()
