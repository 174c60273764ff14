"""``videogen render`` with the local provider's settings, in a process of its own, to kill.

``python -m videogen_dagster_tests.reliability_tests.render_driver STORE LOCAL_JSON SPEC...``
does what the ``videogen render`` command does (it starts the fork server first, then calls the
same ``render`` on the instance in ``$DAGSTER_HOME``), with the local provider's latency and
size from ``LOCAL_JSON``, which the command takes from its defaults. Exit 0 when every video
rendered.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from videogen_dagster import fork_server

    fork_server.start()
    from videogen_dagster.commands import render
    from videogen_dagster.instance import get_instance

    store, local, *specs = argv
    config = {"resources": {"generation": {"config": {"local": json.loads(local)}}}}
    outcomes, errors = render(specs, store, get_instance(), run_config=config, poll_seconds=0.1)
    for outcome in outcomes:
        print(outcome.final_uri if outcome.success else f"{outcome.video_id}: {outcome.errors}")
    return 0 if outcomes and not errors and all(o.success for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
