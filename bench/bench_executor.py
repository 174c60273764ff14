"""Dagster's own overhead per step, per executor, on a fan-out shaped like one video.

Six beats: each makes a storyboard image (1 s), then a chain of 1-3 chunks (2 s each), and a
final stitch step waits for every chain. Steps only sleep, so everything above the critical path
(image + longest chain) is orchestration. Each executor runs the job at full latency and at zero
latency (pure overhead). Not a test: timings depend on the machine.

    .venv/bin/python bench/bench_executor.py [--executors threaded,in_process,multiprocess]
"""

import argparse
import os
import sys
import time

import dagster as dg

from videogen_dagster.executor import threaded_executor

IMAGE_SECONDS = 1.0
CHUNK_SECONDS = 2.0
CHUNKS_PER_BEAT = (1, 2, 3, 1, 2, 3)
SCALE_ENV = "BENCH_EXECUTOR_LATENCY_SCALE"  # read in the step, so child processes see it too

STEPS = len(CHUNKS_PER_BEAT) + sum(CHUNKS_PER_BEAT) + 1
CRITICAL_PATH_SECONDS = IMAGE_SECONDS + max(CHUNKS_PER_BEAT) * CHUNK_SECONDS
SERIAL_SUM_SECONDS = len(CHUNKS_PER_BEAT) * IMAGE_SECONDS + sum(CHUNKS_PER_BEAT) * CHUNK_SECONDS


def _wait(seconds: float) -> None:
    time.sleep(seconds * float(os.environ.get(SCALE_ENV, "1")))


def _image_op(beat: int) -> dg.OpDefinition:
    @dg.op(name=f"image_{beat}")
    def _op() -> int:
        _wait(IMAGE_SECONDS)
        return beat

    return _op


def _chunk_op(beat: int, index: int) -> dg.OpDefinition:
    @dg.op(name=f"chunk_{beat}_{index}")
    def _op(previous: int) -> int:
        _wait(CHUNK_SECONDS)
        return previous

    return _op


@dg.op(ins={f"beat_{b}": dg.In(int) for b in range(len(CHUNKS_PER_BEAT))})
def stitch(**beats: int) -> int:
    return len(beats)


@dg.graph
def video_fan_out() -> None:
    last_chunks = {}
    for beat, chunks in enumerate(CHUNKS_PER_BEAT):
        value = _image_op(beat)()
        for index in range(chunks):
            value = _chunk_op(beat, index)(value)
        last_chunks[f"beat_{beat}"] = value
    stitch(**last_chunks)


def threaded_job() -> dg.JobDefinition:
    return video_fan_out.to_job(name="bench_threaded", executor_def=threaded_executor)


def in_process_job() -> dg.JobDefinition:
    return video_fan_out.to_job(name="bench_in_process", executor_def=dg.in_process_executor)


def multiprocess_job() -> dg.JobDefinition:
    return video_fan_out.to_job(name="bench_multiprocess", executor_def=dg.multiprocess_executor)


EXECUTORS = {
    "threaded": (threaded_job, {}),
    "in_process": (in_process_job, {}),
    "multiprocess": (
        multiprocess_job,
        {"execution": {"config": {"max_concurrent": 16, "start_method": {"forkserver": {}}}}},
    ),
}


def _run(name: str, scale: float) -> float:
    define_job, run_config = EXECUTORS[name]
    os.environ[SCALE_ENV] = str(scale)
    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        with dg.execute_job(
            dg.reconstructable(define_job), instance=instance, run_config=run_config
        ) as result:
            wall = time.perf_counter() - started
            if not result.success:
                sys.exit(f"{name}: run failed at scale {scale}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", default="threaded,in_process,multiprocess")
    names = parser.parse_args().executors.split(",")
    print(
        f"{STEPS} steps, critical path {CRITICAL_PATH_SECONDS:.1f} s, "
        f"serial sum {SERIAL_SUM_SECONDS:.1f} s, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        "| executor | wall | wall / critical path | overhead per step | zero-latency wall |"
        " zero-latency per step |"
    )
    print("|---|---|---|---|---|---|")
    for name in names:
        wall = _run(name, 1.0)
        bare = _run(name, 0.0)
        print(
            f"| {name} | {wall:.2f} s | {wall / CRITICAL_PATH_SECONDS:.2f} |"
            f" {(wall - CRITICAL_PATH_SECONDS) / STEPS * 1000:.0f} ms |"
            f" {bare:.2f} s | {bare / STEPS * 1000:.0f} ms |",
            flush=True,
        )


if __name__ == "__main__":
    main()
