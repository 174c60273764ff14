"""The Postgres + Celery deployment against its critical-path bound (issue 22).

Starts the deployment of ``deploy/README.md`` on this machine the way its end-to-end test does
(``videogen_dagster_tests/deploy_tests/services.deployment``: Postgres from the OS package,
Redis, moto's S3 server, the daemon, two dagster-celery workers in mount namespaces of their
own), then renders one video and eight videos at once, each scenario ``--repeat`` times in
rounds, all on that one deployment. Videos are those of ``bench_pipeline``'s ``6beats-api1x``
(six beats of 5/10 s, music, local provider at API-like latency: image 10 s, clip 30 s, music
20 s, unscaled; 144p at 8 fps), so the bounds are comparable.

Runs are submitted as ``videogen render`` submits them: its own function (``commands.render``)
registers the specs in the S3 store and submits a run per video to the instance's run queue;
the daemon (alive here) dequeues and launches them (Dagster's default run launcher: a process
per run), and their steps go to the workers.

Figures, as ``bench_pipeline`` computes them (its ``_figures`` and ``summarise``, on copies of
the manifests and cache records fetched from S3):
- ``wall``: from the call of ``render`` (the submission) to the end time of the last run's record.
- ``bound``: the critical path of the latencies actually drawn, plus the media steps' own time.
- ``load 1 min``: the machine's load average at the start and end of each run (shared cores).
- ``CPU``: the CPU of this process's whole tree (services, daemon, run processes, workers),
  from ``/proc``, end minus start, reaped children included.
- ``peak RSS``: the same tree, sampled every 250 ms.

Instance settings: ``deploy/dagster.yaml`` with the single-machine instance's run and pool
limits (``max_concurrent_runs: 8``, pools ``default_limit: 64``), so eight videos run at once
and no pool slot is waited for, as in the single-machine figures; the shipped deploy file's
4 runs and 16 slots would queue eight videos by design. Before the first timed run, as many
videos as the largest scenario renders at fast latency (1/2/2 s), so the worker processes have
imported the project and the instance has its rows, as after a deployment's first videos
(like ``bench_pipeline``'s seasoned home).

Not a test. Needs what the deployment test needs (``.ci/deploy-test`` installs it):

    .venv/bin/python bench/bench_deploy.py --repeat 2    # bench/out/issue22/*.deploy.*.json
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the test package's services, as when run from the repo

from bench.bench_pipeline import (  # noqa: E402
    API1X,
    FAST,
    SHORT_SIDE,
    SIX,
    Latency,
    Scenario,
    TreeMemory,
    _figures,
    _merged,
    _spec_text,
    machine,
    process_tree,
    summarise,
    table,
)
from videogen_dagster_tests.deploy_tests.services import (  # noqa: E402
    BUCKET,
    REPO,
    celery_hosts,
    deployment,
    missing_services,
)

VARIANT = "deploy"
PREFIX = "videos"
#: The single-machine instance's limits (videogen_dagster/instance/dagster.yaml).
LIMITS = {"concurrency": {"runs": {"max_concurrent_runs": 8}, "pools": {"default_limit": 64}}}


def _instance_yaml() -> str:
    deploy = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    return yaml.safe_dump(_merged(deploy, LIMITS))


def _run_config(latency: Latency) -> dict[str, Any]:
    local = {
        "short_side": SHORT_SIDE,
        "image_latency": latency.image,
        "clip_latency": latency.clip,
        "music_latency": latency.music,
        "latency_seed": 7,
    }
    return {"resources": {"generation": {"config": {"local": local}}}}


def _tree_cpu_seconds(root: int) -> float:
    """CPU of ``root`` and its descendants, with the reaped children each has waited for."""
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _fetch(s3: Any, folder: Path, video_id: str) -> None:
    """The manifest and the cache records it names, from S3 into ``folder`` laid out as the
    store (what ``bench_pipeline._figures`` reads)."""

    def get(key: str) -> bytes:
        return s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")["Body"].read()

    manifest = json.loads(get(f"{video_id}/manifest.json"))
    (folder / video_id).mkdir(parents=True, exist_ok=True)
    (folder / video_id / "manifest.json").write_text(json.dumps(manifest))
    fingerprints = [beat["image"]["fingerprint"] for beat in manifest["beats"]]
    fingerprints += [chunk["fingerprint"] for chunk in manifest["chunks"]]
    if manifest["music"]:
        fingerprints.append(manifest["music"]["fingerprint"])
    for fingerprint in fingerprints:
        key = f".cache/{fingerprint[:2]}/{fingerprint}.json"
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(get(key))


#: The run's way from the queue to its first step, each as seconds from the submission.
PHASES = ("RUN_ENQUEUED", "RUN_DEQUEUED", "RUN_STARTING", "RUN_START", "RUN_SUCCESS")


def _phases(instance: Any, run_id: str, started: float) -> dict[str, float]:
    """When the run was queued, taken from the queue by the daemon, launched, started in its
    own process and done: where a run's start-up goes."""
    out = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and event.event_type.name in PHASES:
            out.setdefault(event.event_type.name, round(record.timestamp - started, 3))
    return out


def _render(
    running: Any, specs: Path, scenario: Scenario, index: int
) -> tuple[dict[str, Any], list[Any], float, float]:
    """Submit the scenario's videos through ``videogen render``'s function; wait for them."""
    import dagster as dg

    from videogen_dagster.commands import render

    paths = []
    for number in range(scenario.videos):
        path = specs / f"{scenario.name}-r{index}-{number}.yaml"
        # Each scenario's and round's prompts are its own (a beat's image and music prompts
        # name neither), so no generation is a cache hit of an earlier run's.
        run = f"{scenario.name}, round {index}"
        text = _spec_text(scenario, number).replace("Scene ", f"{run}, scene ")
        path.write_text(text.replace("calm synth pads", f"calm synth pads, {run}"))
        paths.append(path)
    store = f"s3://{BUCKET}/{PREFIX}"
    started = time.time()
    outcomes, errors = render(
        paths, store, running.instance, run_config=_run_config(scenario.latency), out=io.StringIO()
    )
    if errors:
        raise SystemExit(f"bad bench spec: {errors}")
    ends = {}
    for outcome in outcomes:
        record = running.instance.get_run_record_by_id(outcome.run_id)
        if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
            raise SystemExit(f"{scenario.name}: run {outcome.run_id} of {outcome.video_id} failed")
        ends[outcome.video_id] = record.end_time
    return ends, outcomes, started, time.time()


def run_scenario(running: Any, scenario: Scenario, index: int, work: Path) -> dict[str, Any]:
    specs = work / "specs"
    specs.mkdir(exist_ok=True)
    me = os.getpid()
    load_start, cpu_start = os.getloadavg()[0], _tree_cpu_seconds(me)
    with TreeMemory(me) as memory:
        ends, outcomes, started, returned = _render(running, specs, scenario, index)
    load_end, cpu = os.getloadavg()[0], _tree_cpu_seconds(me) - cpu_start
    copies = work / f"store-{scenario.name}-{index}"
    videos, hosts, phases = [], {}, {}
    for outcome in outcomes:
        _fetch(running.s3, copies, outcome.video_id)
        figures = _figures(
            running.instance,
            copies,
            outcome.video_id,
            outcome.run_id,
            True,
            started,
            ends[outcome.video_id],
        )
        videos.append(figures.__dict__)
        hosts[outcome.video_id] = dict(celery_hosts(running.instance, outcome.run_id))
        phases[outcome.video_id] = _phases(running.instance, outcome.run_id, started)
    return {
        "variant": VARIANT,
        "scenario": scenario.__dict__ | {"latency": scenario.latency.__dict__},
        "description": f"{scenario.describe()}, Postgres + Celery (2 workers)",
        "wall": returned - started,
        "cpu_s": cpu,
        "cores": os.cpu_count(),
        "io_wait_pct": None,
        "load_1min": [round(load_start, 2), round(load_end, 2)],
        "peak_rss_mb": memory.peak_bytes / 2**20,
        "cache_records": sum(v["calls"] for v in videos),
        "steps_per_worker": hosts,
        "run_phases_s": phases,
        "videos": videos,
    }


def _season(running: Any, work: Path, videos: int) -> None:
    """Render ``videos`` at once at fast latency, so that about as many worker processes as
    the timed runs use have run a step (each imports the project at its first)."""
    _render(running, work / "specs", Scenario("seasoning", SIX, FAST, videos=videos), 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each scenario, in rounds")
    parser.add_argument("--videos", default="1,8", help="videos at once, per scenario")
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=32,
        help="Celery processes per worker (2 workers): enough that no step waits for one",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "issue22")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server: no request lines
    if missing_services():
        raise SystemExit(f"needs {missing_services()} (.ci/deploy-test installs them)")
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    chosen = [
        Scenario(f"6beats-api1x-deploy{n}", SIX, API1X, videos=int(n), processes=True)
        for n in args.videos.split(",")
    ]
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as folder:
        work = Path(folder)
        (work / "specs").mkdir()
        with deployment(
            work / "deployment",
            instance_yaml=_instance_yaml(),
            worker_concurrency=args.worker_concurrency,
        ) as running:
            print("seasoning the workers ...", file=sys.stderr, flush=True)
            _season(running, work, max(s.videos for s in chosen))
            for index in range(args.repeat):
                for scenario in chosen:
                    print(
                        f"running {scenario.name} ({index + 1}/{args.repeat}): "
                        f"{scenario.describe()}",
                        file=sys.stderr,
                        flush=True,
                    )
                    result = run_scenario(running, scenario, index + 1, work)
                    target = args.out / f"{scenario.name}.{VARIANT}.{index}.json"
                    target.write_text(json.dumps(result, indent=2))
                    row = summarise(result)
                    rows.setdefault(scenario.name, []).append(row)
                    print(
                        f"  wall {row['wall_s']:.2f} s, bound {row['bound_s']:.2f} s, "
                        f"ratio {row['wall_over_bound']:.3f}, load {row['load_1min']}",
                        file=sys.stderr,
                        flush=True,
                    )
    text = report(info, rows)
    (args.out / "deploy.md").write_text(text + "\n")
    print(text)
    return 0


def report(info: dict[str, Any], rows: dict[str, list[dict[str, Any]]]) -> str:
    every = [row for runs in rows.values() for row in runs]
    lines = [
        f"Machine: {info['nproc']} CPUs, {info['ram_gb']} GB RAM, Python {info['python']}, "
        f"dagster {info['dagster']}, {info['date']}; every run, in order:",
        "",
        table(
            [
                row | {"runs": 1, "loads_1min": [row["load_1min"]], "io_wait_max": 0.0}
                for row in every
            ]
        ),
    ]
    names = list(rows)
    if len(names) == 2:
        one, many = (statistics.median(r["wall_s"] for r in rows[n]) for n in names)
        lines += ["", f"{names[1]} / {names[0]}, median walls: {many:.2f} / {one:.2f} s "
                  f"= **{many / one:.2f}×**"]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
