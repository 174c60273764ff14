"""Run ``jobs.chatty_job`` on a fresh instance and interrupt it (SIGINT, as run termination
does) once all its steps are logging; print the run's status. In a process of its own, so
that a run hung by the interrupt shows as a process that does not end.

``python -m videogen_dagster_tests.executor_tests.interrupt_driver FOLDER``
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import dagster as dg
from dagster_shared.ipc import send_interrupt

from videogen_dagster_tests.executor_tests import jobs


def main(folder: Path) -> None:
    started = folder / "started"
    markers = [Path(f"{started}-{index}") for index in range(jobs.CHATTY_STEPS)]

    def interrupt_when_all_run() -> None:
        deadline = time.monotonic() + jobs.STUCK_LIMIT_SECONDS
        while not all(m.exists() for m in markers) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # well inside their logging
        send_interrupt()

    threading.Thread(target=interrupt_when_all_run, daemon=True).start()
    config = {
        "ops": {
            "chatty_until_interrupted": {"config": {"started": str(started)}},
        }
    }
    (folder / "home").mkdir()
    with (
        dg.instance_for_test(temp_dir=str(folder / "home")) as instance,
        dg.execute_job(
            dg.reconstructable(jobs.chatty_job), instance=instance, run_config=config
        ) as result,
    ):
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        print(run.status.value, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
