"""Running the render job with injected faults, and reading back what a user would find."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from videogen_dagster.instance import write_instance_config
from videogen_dagster.media import MediaError, probe
from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests import support as graph_support
from videogen_dagster_tests.reliability_tests.faulty import FaultBook, faulty_render_job

#: Set to a file path to collect the figures the README's reliability table shows.
FIGURES_ENV = "VIDEOGEN_RELIABILITY_FIGURES"
#: Three beats, the middle one a chain of two clips: 3 images, 4 clips and music.
LIGHTHOUSE_SPEC = """\
prompt: A lighthouse keeper's long night
duration: 20
fps: 8
beats:
  - description: The lamp is lit at dusk
  - description: A storm rolls over the sea
    duration: 10
  - description: Morning calm over the rocks
"""
#: Prices that make every call cost money, so "paid twice" can be measured.
PRICES = {"price_per_image": 0.04, "price_per_video_second": 0.05, "price_per_music_second": 0.01}
#: Two 5 s beats, silent and small: the video the budget and user-error tests stop part-way.
TWO_BOATS_SPEC = """\
prompt: Two paper boats
duration: 10
fps: 8
music: false
beats:
  - description: A red boat sets off
  - description: A blue boat follows
"""


def record_figure(name: str, value: Any) -> None:
    """Print a figure and, when ``$VIDEOGEN_RELIABILITY_FIGURES`` is set, append it there."""
    print(f"FIGURE {name} = {value}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        with open(target, "a") as out:
            out.write(json.dumps({"figure": name, "value": value}) + "\n")


def run_config(store_root: Path, book: FaultBook, **generation: Any) -> dict[str, Any]:
    local = {**PRICES, **generation.pop("local", {})}
    return graph_support.run_config(
        store_root, local=local, fault_book=str(book.path), **generation
    )


def execute(
    instance: dg.DagsterInstance,
    store_root: Path,
    video_id: str,
    book: FaultBook,
    *,
    reexecution_options: dg.ReexecutionOptions | None = None,
    **generation: Any,
) -> dg.ExecuteJobResult:
    """The render job with faults from ``book`` and the local provider's prices."""
    local = {**PRICES, **generation.pop("local", {})}
    return graph_support.execute(
        instance,
        store_root,
        video_id,
        job=faulty_render_job,
        reexecution_options=reexecution_options,
        local=local,
        fault_book=str(book.path),
        **generation,
    )


def step_keys(instance: dg.DagsterInstance, run_id: str, event: dg.DagsterEventType) -> list[str]:
    """The step key of every ``event`` of the run, once per event."""
    return [r.dagster_event.step_key for r in instance.all_logs(run_id, of_type=event)]


def failures(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    """Each failed step's user-facing error: its message and metadata."""
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        data = record.dagster_event.step_failure_data
        metadata = (
            {key: value.value for key, value in (data.user_failure_data.metadata or {}).items()}
            if data.user_failure_data
            else {}
        )
        description = data.user_failure_data.description if data.user_failure_data else None
        out[record.dagster_event.step_key] = {
            "message": description or data.error.message,
            "metadata": metadata,
        }
    return out


def manifest(store_root: Path, video_id: str) -> dict[str, Any]:
    return json.loads((store_root / layout.manifest(video_id)).read_text())


def charged_twice(store_root: Path) -> float:
    """USD charged more than once for the same generation (the same fingerprint).

    Read from the store-wide ledger, which every paid call must have added to: a missing or
    empty ledger is a failure here, not "nothing charged twice".
    """
    ledger = store_root / "logs" / "costs.jsonl"
    assert ledger.is_file(), f"no store-wide cost ledger at {ledger}"
    records = [json.loads(line) for line in ledger.read_text().splitlines() if line]
    assert records, f"{ledger} records no paid call"
    first: set[str] = set()
    twice = 0.0
    for record in records:
        if record["fingerprint"] in first:
            twice += record["cost"]
        first.add(record["fingerprint"])
    return round(twice, 6)


MEDIA_SUFFIXES = (".mp4", ".png", ".m4a")


def corrupt_media(store_root: Path) -> list[str]:
    """Every media file under a final name that does not probe (or is empty)."""
    bad = []
    for path in sorted(store_root.rglob("*")):
        if not path.is_file() or path.suffix not in MEDIA_SUFFIXES:
            continue
        try:
            info = probe(path)
        except MediaError as exc:
            bad.append(f"{path}: {exc}")
            continue
        if path.suffix == ".png":
            usable = info.width > 0 and info.height > 0
        elif path.suffix == ".mp4":
            usable = info.has_video and info.frame_count >= info.duration * info.fps - 1
        else:
            usable = info.has_audio
        if not usable:
            bad.append(f"{path}: {info}")
    return bad


def media_count(store_root: Path) -> int:
    return sum(1 for p in store_root.rglob("*") if p.is_file() and p.suffix in MEDIA_SUFFIXES)


def home_instance(home: Path) -> dg.DagsterInstance:
    """An instance in ``home`` with the shipped settings, shareable with subprocesses."""
    from dagster._core.instance.ref import InstanceRef

    home.mkdir(parents=True, exist_ok=True)
    # As `videogen` writes it: each storage names its folder, as $DAGSTER_HOME is not ``home``.
    write_instance_config(home)
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def start_runner(
    home: Path, store_root: Path, book: FaultBook, video_id: str, **local: Any
) -> subprocess.Popen[bytes]:
    """``runner`` in a process of its own on the instance in ``home``."""
    args = ["render", str(store_root), str(book.path), video_id, json.dumps(local)]
    return start_process(args, book.path.with_name(f"runner-{video_id}.log"), DAGSTER_HOME=home)


def start_process(args: list[str], log_path: Path, **env: Any) -> subprocess.Popen[bytes]:
    """``python -m ...reliability_tests.runner ARGS`` with its output in ``log_path``."""
    # Dagster logs to stderr at length: a file, not a pipe nobody drains while the run goes on.
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "videogen_dagster_tests.reliability_tests.runner", *args],
            env={**os.environ, **{k: str(v) for k, v in env.items()}},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def runner_log(book: FaultBook, video_id: str) -> str:
    """The end of a runner's log, for an assertion message."""
    return book.path.with_name(f"runner-{video_id}.log").read_text()[-3000:]
